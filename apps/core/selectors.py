"""Reads about the platform itself: whether its database and broker answer."""

import logging

from django.db import connections

log = logging.getLogger(__name__)


def database_is_reachable(alias: str = "default") -> bool:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        log.warning("readiness: database %s unreachable", alias, exc_info=True)
        return False


def broker_is_reachable(timeout: float = 2.0) -> bool:
    from cxplatform.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        return True
    except Exception:
        log.warning("readiness: broker unreachable", exc_info=True)
        return False

"""Core app: shared building blocks (errors, tenancy context, health, logging)."""

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Every PostgreSQL connection (new, or handed out by the pool) follows the tenancy state."""
    if connection.vendor != "postgresql":
        return
    from . import tenancy

    if tenancy.deferred_apply_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(tenancy.deferred_apply_wrapper)
    tenancy.connection_checked_out(connection)


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from . import rls

        # Row-level security after every migrate (PostgreSQL only; see apps/core/rls.py).
        post_migrate.connect(rls.post_migrate, sender=self, dispatch_uid="core.rls")
        connection_created.connect(_connection_created, dispatch_uid="core.tenancy")

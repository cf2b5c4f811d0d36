"""Load-balancer probes: /healthz is liveness only, /readyz needs the database and the broker."""

import pytest
from django.db import OperationalError
from django.test import override_settings

from cxplatform.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": True, "broker": True}}


def test_readyz_503_when_broker_unreachable(client, monkeypatch):
    # Port 1 on loopback refuses connections: a broker that is down.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


def test_readyz_503_when_database_unreachable(client, monkeypatch):
    from django.db import connections

    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False


def test_probes_reject_writes(client):
    assert client.post("/healthz").status_code == 405


@override_settings(SECURE_SSL_REDIRECT=True, SECURE_REDIRECT_EXEMPT=[r"^healthz$", r"^readyz$"])
def test_probes_not_redirected_to_https(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301

"""Every response carries a request id, and every log line written during the request has it."""

import json
import logging

import pytest

from apps.core.logging import JsonFormatter, RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_response_gets_a_fresh_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_safe_incoming_request_id_is_kept(client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-abc123.def_456"})
    assert response["X-Request-ID"] == "lb-abc123.def_456"


@pytest.mark.parametrize("bad", ["short", "has space inside it", "x" * 65, "new\nline-injected"])
def test_unsafe_incoming_request_id_is_replaced(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


def test_log_lines_during_a_request_carry_its_id(client, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page/")
    assert response.status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "Django logs a warning for a 404"
    assert {r.request_id for r in records} == {response["X-Request-ID"]}


def test_json_formatter_writes_one_object_per_line_with_request_id_and_extras():
    token = request_id_var.set("req-1234567890")
    try:
        record = logging.makeLogRecord(
            {
                "name": "cx.test",
                "levelname": "INFO",
                "levelno": 20,
                "msg": "stored %s",
                "args": ("response",),
                "response_id": 42,
            }
        )
        RequestIdFilter().filter(record)
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "stored response"
    assert entry["request_id"] == "req-1234567890"
    assert entry["response_id"] == 42
    assert entry["level"] == "INFO" and entry["logger"] == "cx.test"


def test_responses_are_queued_without_the_respondents_request_id(monkeypatch):
    """A task log line under the submission's request id would tie an employee's anonymous
    response to the web server's record of that request."""
    from types import SimpleNamespace

    from django.core.cache import cache

    from apps.responses import services, tasks

    cache.clear()  # the debounce key of organisation 1 may survive from another test
    seen = []
    monkeypatch.setattr(
        tasks.process_response,
        "apply_async",
        lambda *args, **kwargs: seen.append(request_id_var.get()),
    )
    token = request_id_var.set("req-respondent-123")
    try:
        services._queue(SimpleNamespace(organization_id=1, pk=2))
    finally:
        request_id_var.reset(token)
    assert seen == ["-"]

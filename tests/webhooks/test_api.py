"""The webhook API under /api/v1/o/<slug>/webhooks/ and the pages under
/o/<slug>/settings/webhooks/: admins only, secrets shown once, bad input names the field and
changes nothing, every change audited, lists paginated."""

import pytest
from django.test import Client

from apps.audit.models import AuditEntry
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.webhooks.recipe import verify

pytestmark = pytest.mark.django_db

API = "/api/v1/o/acme/webhooks/"
WEB = "/o/acme/settings/webhooks/"
NEW = {"url": "http://127.0.0.1:9/hook", "events": ["response.submitted"], "description": "CRM"}


def _endpoints(org):
    return WebhookEndpoint.objects.for_organization(org)


def _actions(org):
    return list(
        AuditEntry.objects.for_organization(org).order_by("id").values_list("action", flat=True)
    )


def test_create_shows_the_secret_once(org, admin_api):
    response = admin_api.post(API, NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["response.submitted"] and body["is_active"] is True
    assert response["Cache-Control"] == "no-store"
    endpoint = _endpoints(org).get()
    assert endpoint.secret == body["secret"]
    again = admin_api.get(f"{API}{endpoint.pk}/").json()
    assert "secret" not in again and again["url"] == NEW["url"]
    assert "secret" not in admin_api.get(API).json()["results"][0]
    assert _actions(org) == ["webhook.created"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({**NEW, "url": "not a url"}, "url", "spaces"),
        ({**NEW, "url": "ftp://127.0.0.1/x"}, "url", "http:// or https://"),
        ({**NEW, "url": ""}, "url", ""),
        ({**NEW, "events": ["response.deleted"]}, "events", "Unknown event: response.deleted"),
        ({**NEW, "events": []}, "events", "at least one event"),
        ({**NEW, "events": "alert.created"}, "events", ""),
        ({**NEW, "description": "x" * 201}, "description", ""),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(org, admin_api, data, field, message):
    response = admin_api.post(API, data, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert message in " ".join(error["fields"][field])
    assert not _endpoints(org).exists()
    assert _actions(org) == []


def test_update_rejects_bad_input_and_keeps_the_endpoint(org, admin_api):
    endpoint_id = admin_api.post(API, NEW, format="json").json()["id"]
    response = admin_api.patch(
        f"{API}{endpoint_id}/", {"url": "http://127.0.0.1:9/new", "events": []}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["events"]
    endpoint = _endpoints(org).get()
    assert endpoint.url == NEW["url"] and endpoint.events == NEW["events"]


def test_update_rotate_disable_enable_delete_are_audited(org, admin_api):
    endpoint_id = admin_api.post(API, NEW, format="json").json()["id"]
    url = f"{API}{endpoint_id}/"
    changed = admin_api.patch(
        url, {"events": ["alert.created", "report.delivered"], "description": "BI"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["alert.created", "report.delivered"]
    old_secret = _endpoints(org).get().secret
    rotated = admin_api.post(f"{url}rotate-secret/")
    assert rotated.status_code == 200 and rotated.json()["secret"] != old_secret
    assert _endpoints(org).get().secret == rotated.json()["secret"]
    assert admin_api.patch(url, {"is_active": False}, format="json").json()["is_active"] is False
    assert admin_api.patch(url, {"is_active": True}, format="json").json()["is_active"] is True
    assert admin_api.delete(url).status_code == 204
    assert not _endpoints(org).exists()
    assert _actions(org) == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.deleted",
    ]
    updated = AuditEntry.objects.for_organization(org).get(action="webhook.updated")
    assert updated.data["changes"]["description"] == ["CRM", "BI"]
    assert "secret" not in str(AuditEntry.objects.for_organization(org).values_list("data"))


def test_the_list_and_the_delivery_log_are_paginated(org, admin_api, make_endpoint):
    for n in range(3):
        make_endpoint(url=f"http://127.0.0.1:9/{n}")
    endpoint, _ = make_endpoint(url="http://127.0.0.1:9/last")
    for _ in range(3):
        admin_api.post(f"{API}{endpoint.pk}/test/")
    page = admin_api.get(f"{API}?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    second = admin_api.get(page["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    assert {e["id"] for e in page["results"] + second["results"]} == set(
        _endpoints(org).values_list("pk", flat=True)
    )
    log = admin_api.get(f"{API}{endpoint.pk}/deliveries/?page_size=2").json()
    assert log["count"] == 3 and len(log["results"]) == 2 and log["next"]
    assert {d["event_type"] for d in log["results"]} == {"webhook.test"}


def test_send_test_event_posts_it_and_logs_it(
    org, admin_api, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(f"{API}{endpoint.pk}/test/")
    assert response.status_code == 202
    (request,) = receiver.requests
    assert verify(secret, request.headers, request.body)
    log = admin_api.get(f"{API}{endpoint.pk}/deliveries/").json()["results"]
    assert log[0]["status"] == "delivered"
    assert log[0]["attempt_log"][0]["status_code"] == 200


@pytest.mark.parametrize("role_api", ["analyst_api", "viewer_api"])
def test_analysts_and_viewers_are_refused(org, role_api, request, make_endpoint):
    client = request.getfixturevalue(role_api)
    endpoint, _ = make_endpoint()
    assert client.get(API).status_code == 403
    assert client.post(API, NEW, format="json").status_code == 403
    assert client.get(f"{API}{endpoint.pk}/").status_code == 403
    assert (
        client.patch(f"{API}{endpoint.pk}/", {"url": "http://x"}, format="json").status_code == 403
    )
    assert client.delete(f"{API}{endpoint.pk}/").status_code == 403
    assert client.post(f"{API}{endpoint.pk}/test/").status_code == 403
    assert (
        _endpoints(org).count() == 1 and not WebhookDelivery.objects.for_organization(org).exists()
    )


def test_another_organisation_gets_404(org, stranger_api, make_endpoint):
    endpoint, _ = make_endpoint()
    assert stranger_api.get(API).status_code == 404
    assert stranger_api.get(f"/api/v1/o/rival/webhooks/{endpoint.pk}/").status_code == 404
    assert stranger_api.delete(f"/api/v1/o/rival/webhooks/{endpoint.pk}/").status_code == 404
    assert _endpoints(org).count() == 1


# --- pages ------------------------------------------------------------------------------------


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_page_creates_an_endpoint_and_shows_its_secret_once(org, admin):
    client = _client(admin)
    page = client.get(WEB)
    assert page.status_code == 200 and "Add an endpoint" in page.text
    response = client.post(WEB, {**NEW, "events": ["response.submitted", "alert.created"]})
    assert response.status_code == 200
    endpoint = _endpoints(org).get()
    assert endpoint.secret in response.text
    assert response["Cache-Control"] == "no-store"
    assert endpoint.secret not in client.get(WEB).text
    detail = client.get(f"{WEB}{endpoint.pk}/")
    assert detail.status_code == 200 and endpoint.secret not in detail.text
    assert "Send test event" in detail.text


def test_the_page_names_the_bad_field(org, admin, settings):
    settings.WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = True
    client = _client(admin)
    response = client.post(WEB, {**NEW, "url": "http://169.254.169.254/latest/"})
    assert response.status_code == 400
    assert 'id="id_url_error"' in response.text and "private or internal" in response.text
    response = client.post(WEB, {**NEW, "events": []})
    assert response.status_code == 400 and "Choose at least one event." in response.text
    assert not _endpoints(org).exists()


def test_the_endpoint_page_buttons(
    org, admin, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(url=receiver.url)
    client = _client(admin)
    base = f"{WEB}{endpoint.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}test/").status_code == 302
    assert len(receiver.requests) == 1
    page = client.get(base)
    assert "webhook.test" in page.text and "HTTP 200" in page.text
    rotated = client.post(f"{base}rotate-secret/")
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.secret in rotated.text
    assert client.post(f"{base}disable/").status_code == 302
    assert "Enable again" in client.get(base).text
    saved = client.post(base, {"url": receiver.url, "events": ["alert.created"], "description": ""})
    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.events == ["alert.created"] and not endpoint.is_active
    assert client.post(f"{base}delete/").status_code == 302
    assert not _endpoints(org).exists()
    assert not WebhookAttempt.objects.for_organization(org).exists()


def test_pages_are_for_admins_and_owners(org, owner, analyst, viewer, make_endpoint):
    endpoint, _ = make_endpoint()
    assert _client(owner).get(WEB).status_code == 200
    for user in (analyst, viewer):
        client = _client(user)
        assert client.get(WEB).status_code == 403
        assert client.post(WEB, NEW).status_code == 403
        assert client.post(f"{WEB}{endpoint.pk}/delete/").status_code == 403
        assert "settings/webhooks" not in client.get("/o/acme/").text  # no link in the nav
    assert "settings/webhooks" in _client(owner).get("/o/acme/").text
    assert _endpoints(org).count() == 1


def test_pages_of_another_organisation_answer_404(org, stranger, make_endpoint):
    endpoint, _ = make_endpoint()
    client = _client(stranger)
    assert client.get(WEB).status_code == 404
    assert client.get(f"/o/rival/settings/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/o/rival/settings/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert _endpoints(org).count() == 1


def test_the_delivery_log_reads_in_a_constant_number_of_queries(
    org, admin, receiver, make_endpoint, django_assert_num_queries,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from apps.webhooks import selectors, services

    receiver.answer(500, 200)
    endpoint, _ = make_endpoint(url=receiver.url)
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            services.webhooks_emit(organization_id=org.pk, event="alert.created", payload={})
    with django_assert_num_queries(2):  # deliveries with their events, then all attempts
        rows = list(selectors.deliveries(organization=org, endpoint=endpoint))
        assert sum(len(r.attempt_log.all()) for r in rows) == 5
        assert {r.event.type for r in rows} == {"alert.created"}

"""The workflow: new -> in progress -> resolved (with an outcome and a note), reassignment to
members only, audit entries; and the same through the API with its roles: a touchpoint owner
works their alerts even as a viewer, a plain viewer cannot resolve (403), another organisation
gets 404."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.alerts.models import AlertEvent, AlertStatus
from apps.alerts.services import alert_assign, alert_resolve, alert_start
from apps.audit.models import AuditEntry
from apps.core.errors import Conflict, ValidationFailed
from tests.factories import UserFactory
from tests.journeys.helpers import principal

from .conftest import alerts_of, member, process, unhappy

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(org, journey, response_store):
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    return alerts_of(org)[0]


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(alert=None, slug="acme", **query):
    if alert is None:
        return reverse("api:alert-list", kwargs={"org_slug": slug})
    return reverse("api:alert-detail", kwargs={"org_slug": slug, "pk": alert.pk})


def test_start_then_resolve_with_audit_entries(org, analyst, alert):
    actor = principal(org, analyst)
    alert_start(organization=org, actor=actor, alert=alert)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.IN_PROGRESS and alert.first_action_at is not None
    first_action = alert.first_action_at
    alert_resolve(
        organization=org,
        actor=actor,
        alert=alert,
        outcome="recovered",
        note="Called her, sent a new part.",
    )
    alert.refresh_from_db()
    assert (alert.status, alert.outcome) == (AlertStatus.RESOLVED, "recovered")
    assert alert.first_action_at == first_action and alert.resolved_at is not None
    entries = AuditEntry.objects.for_organization(org).filter(action="alert.status_changed")
    assert [e.data["to"] for e in entries.order_by("id")] == ["in_progress", "resolved"]
    assert AlertEvent.objects.for_organization(org).filter(alert=alert).count() == 2
    with pytest.raises(Conflict):
        alert_start(organization=org, actor=actor, alert=alert)


@pytest.mark.parametrize(
    ("outcome", "note", "field"),
    [("recovered", "", "note"), ("recovered", "   ", "note"), ("fixed", "Called.", "outcome")],
)
def test_resolving_needs_a_note_and_an_outcome_and_changes_nothing_otherwise(
    org, analyst, alert, outcome, note, field
):
    with pytest.raises(ValidationFailed) as caught:
        alert_resolve(
            organization=org, actor=principal(org, analyst), alert=alert, outcome=outcome, note=note
        )
    assert field in caught.value.fields
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW and alert.first_action_at is None
    assert not AuditEntry.objects.for_organization(org).filter(action__startswith="alert.").exists()


def test_reassigning_to_a_non_member_is_refused_and_changes_nothing(org, other_org, analyst, alert):
    outsider = UserFactory()
    stranger = member(other_org)
    before = alert.assignee_id
    for candidate in (outsider.pk, stranger.pk, 2_147_483_647, "abc"):
        with pytest.raises(ValidationFailed) as caught:
            alert_assign(
                organization=org, actor=principal(org, analyst), alert=alert, assignee_id=candidate
            )
        assert list(caught.value.fields) == ["assignee"]
    alert.refresh_from_db()
    assert alert.assignee_id == before
    assert not AuditEntry.objects.for_organization(org).filter(action="alert.reassigned").exists()


def test_reassigning_to_a_member_is_audited(org, analyst, alert):
    colleague = member(org)
    alert_assign(
        organization=org, actor=principal(org, analyst), alert=alert, assignee_id=colleague.pk
    )
    alert.refresh_from_db()
    assert alert.assignee_id == colleague.pk
    entry = AuditEntry.objects.for_organization(org).get(action="alert.reassigned")
    assert entry.data == {"from": None, "to": colleague.pk}


# --- the API ------------------------------------------------------------------------------------


def test_list_filters_and_pagination(org, analyst, journey, response_store):
    web, support, _invoice = journey.touchpoints_in_order
    anna = member(org)
    web.owner = anna
    web.save(update_fields=["owner"])
    for _ in range(3):
        response_store.add("customer", unhappy(journey, 0))
    response_store.add("customer", unhappy(journey, 1))
    process(org)
    client = _api(analyst)
    data = client.get(_url()).json()
    assert data["count"] == 4 and len(data["results"]) == 4
    assert client.get(_url(), {"touchpoint": support.pk}).json()["count"] == 1
    assert client.get(_url(), {"assignee": anna.pk}).json()["count"] == 3
    assert client.get(_url(), {"assignee": "none"}).json()["count"] == 1
    assert client.get(_url(), {"journey": journey.pk, "status": "new"}).json()["count"] == 4
    assert client.get(_url(), {"status": "resolved"}).json()["count"] == 0
    assert client.get(_url(), {"overdue": "true"}).json()["count"] == 0
    assert client.get(_url(), {"overdue": "false"}).json()["count"] == 4
    bad = client.get(_url(), {"status": "done", "journey": "x"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"status", "journey"}
    assert client.get(_url(), {"page": 2}).status_code == 404  # one page of 50


def test_overdue_filter(org, analyst, alert):
    from datetime import timedelta

    from apps.alerts.models import Alert

    Alert.objects.for_organization(org).filter(pk=alert.pk).update(
        due_at=alert.created_at - timedelta(hours=1)
    )
    data = _api(analyst).get(_url(), {"overdue": "true"}).json()
    assert [row["id"] for row in data["results"]] == [alert.pk]
    assert data["results"][0]["overdue"] is True


def test_a_touchpoint_owner_with_the_viewer_role_works_their_alert(org, journey, alert):
    owner_viewer = member(org, "viewer")
    web = journey.touchpoints_in_order[0]
    web.owner = owner_viewer
    web.save(update_fields=["owner"])
    client = _api(owner_viewer)
    assert client.get(_url(alert)).status_code == 200
    started = client.patch(_url(alert), {"status": "in_progress"}, format="json")
    assert started.status_code == 200, started.json()
    assert started.json()["status"] == "in_progress"
    resolved = client.patch(
        _url(alert),
        {"status": "resolved", "outcome": "could_not_reach", "note": "No answer twice."},
        format="json",
    )
    assert resolved.status_code == 200
    assert resolved.json()["outcome"] == "could_not_reach"


def test_a_plain_viewer_sees_but_cannot_resolve(org, viewer, alert):
    client = _api(viewer)
    assert client.get(_url(alert)).status_code == 200
    refused = client.patch(
        _url(alert), {"status": "resolved", "outcome": "recovered", "note": "x"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


def test_the_assignee_works_their_alert_even_as_a_viewer(org, analyst, alert):
    assignee = member(org, "viewer")
    alert_assign(
        organization=org, actor=principal(org, analyst), alert=alert, assignee_id=assignee.pk
    )
    response = _api(assignee).patch(_url(alert), {"status": "in_progress"}, format="json")
    assert response.status_code == 200


def test_another_organisation_gets_404(org, stranger, alert):
    client = _api(stranger)
    assert client.get(_url(alert)).status_code == 404
    assert client.get(_url(alert, slug="rival")).status_code == 404
    assert (
        client.patch(
            _url(alert, slug="rival"), {"status": "in_progress"}, format="json"
        ).status_code
        == 404
    )
    assert client.get(_url()).status_code == 404


def test_api_bad_input_names_the_field_and_changes_nothing(org, analyst, alert):
    client = _api(analyst)
    outsider = UserFactory()
    cases = [
        ({"status": "resolved", "outcome": "recovered", "note": ""}, "note"),
        ({"status": "resolved", "note": "Called."}, "outcome"),
        ({"assignee": outsider.pk}, "assignee"),
        ({"status": "new"}, "status"),
        # A refused resolution does not keep the reassignment sent with it.
        ({"assignee": member(org).pk, "status": "resolved", "note": ""}, "note"),
    ]
    for body, field in cases:
        response = client.patch(_url(alert), body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], response.json()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW and alert.assignee_id is None


def test_rules_api_refuses_a_threshold_outside_the_scale(org, analyst, viewer, journey):
    url = reverse("api:alert-rules", kwargs={"org_slug": "acme", "journey_id": journey.pk})
    client = _api(analyst)
    assert client.get(url).json()["sla_hours"] == 24
    bad = client.patch(url, {"rating_threshold": 7, "sla_hours": 12}, format="json")
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["rating_threshold"]
    assert client.get(url).json()["sla_hours"] == 24
    good = client.patch(url, {"rating_threshold": 2, "keywords": ["huono"]}, format="json")
    assert good.status_code == 200 and good.json()["keywords"] == ["huono"]
    assert _api(viewer).patch(url, {"sla_hours": 2}, format="json").status_code == 403


def test_the_alert_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/o/{org_slug}/alerts/" in paths
    assert set(paths["/api/v1/o/{org_slug}/alerts/{id}/"]) >= {"get", "patch"}
    assert "patch" in paths["/api/v1/o/{org_slug}/alerts/rules/{journey_id}/"]

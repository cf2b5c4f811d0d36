"""The actions API: list with filters and pages, retrieve with progress, create, update; errors
name the field and change nothing; another organisation gets 404, a too-low role 403."""

from datetime import timedelta
from unittest import mock

import pytest

from apps.actions.models import ActionEvent, ImprovementAction

from .conftest import START, TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def at_today():
    with (
        mock.patch("apps.actions.api.organization_today", return_value=TODAY),
        mock.patch("apps.actions.selectors.organization_today", return_value=TODAY),
        mock.patch("apps.actions.services.organization_today", return_value=TODAY),
    ):
        yield


def url(org, pk=None):
    base = f"/api/v1/o/{org.slug}/actions/"
    return base if pk is None else f"{base}{pk}/"


def payload(planted, owner, **overrides):
    data = {
        "journey": planted.journey.pk,
        "touchpoint": planted.web.pk,
        "dimension": "ease",
        "title": "Simpler checkout",
        "owner": owner.pk,
        "due_date": (TODAY + timedelta(days=20)).isoformat(),
        "source": "blind_spot",
    }
    data.update(overrides)
    return data


def test_create_captures_the_baseline(analyst_api, org, analyst, planted):
    response = analyst_api.post(url(org), payload(planted, analyst), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "planned" and body["started_on"] == TODAY.isoformat()
    assert body["baseline"]["customer_n"] == 40
    assert body["baseline"]["classification"] == "blind_spot"
    assert body["baseline"]["date_to"] == (TODAY - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"due_date": (TODAY - timedelta(days=1)).isoformat()}, "due_date"),
        ({"dimension": "speed"}, "dimension"),
        ({"journey": 2_147_483_647}, "journey"),
        ({"touchpoint": 2_147_483_647}, "touchpoint"),
        ({"due_date": "tomorrow"}, "due_date"),
    ],
)
def test_create_bad_input(analyst_api, org, analyst, planted, overrides, field):
    response = analyst_api.post(url(org), payload(planted, analyst, **overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not ImprovementAction.objects.for_organization(org).exists()


def test_create_with_an_owner_who_is_not_a_member(analyst_api, org, planted, stranger):
    response = analyst_api.post(url(org), payload(planted, stranger), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {"owner": ["The owner must be a member of this organisation."]}
    assert not ImprovementAction.objects.for_organization(org).exists()


def test_list_filters_and_pages(viewer_api, org, viewer, make_action):
    mine = make_action(owner_id=viewer.pk)
    late = make_action(due_date=START + timedelta(days=1))
    body = viewer_api.get(url(org)).json()
    assert body["count"] == 2 and {"next", "previous", "results"} <= set(body)
    assert [r["id"] for r in viewer_api.get(url(org), {"owner": viewer.pk}).json()["results"]] == [
        mine.pk
    ]
    overdue = viewer_api.get(url(org), {"overdue": "true"}).json()["results"]
    assert [r["id"] for r in overdue] == [late.pk] and overdue[0]["overdue"] is True
    assert viewer_api.get(url(org), {"status": "done"}).json()["count"] == 0
    bad = viewer_api.get(url(org), {"status": "finished", "overdue": "maybe"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


def test_list_reads_a_fixed_number_of_queries(
    viewer_api, org, make_action, django_assert_max_num_queries
):
    for _ in range(5):
        make_action()
    with django_assert_max_num_queries(6):  # session, user, membership, count, page
        assert viewer_api.get(url(org)).json()["count"] == 5


def test_retrieve_has_the_progress(viewer_api, org, planted, make_action):
    action = make_action()
    body = viewer_api.get(url(org, action.pk)).json()
    assert body["progress"]["change"]["status"] == "improved"
    assert body["progress"]["since_start"]["customer_n"] == 20
    assert body["progress"]["baseline"]["customer_n"] == 20
    assert body["progress"]["change"]["gap_change"] < 0


def test_update_fields_and_status(analyst_api, org, viewer, make_action):
    action = make_action()
    response = analyst_api.patch(
        url(org, action.pk),
        {"title": "Two-step checkout", "owner": viewer.pk, "status": "in_progress", "note": "Go"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["title"], body["owner"], body["status"]) == (
        "Two-step checkout", viewer.pk, "in_progress"
    )  # fmt: skip
    kinds = list(
        ActionEvent.objects.for_organization(org).filter(action=action).values_list("kind", "note")
    )
    assert kinds == [("created", ""), ("updated", ""), ("status", "Go")]


def test_update_refuses_a_transition_and_changes_nothing(analyst_api, org, make_action):
    action = make_action()
    response = analyst_api.patch(
        url(org, action.pk), {"status": "done", "title": "New"}, format="json"
    )
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]
    action.refresh_from_db()
    assert (action.status, action.title) == ("planned", "Simpler checkout")


def test_roles(viewer_api, analyst_api, org, viewer, planted, make_action):
    action = make_action()
    assert viewer_api.post(url(org), payload(planted, viewer), format="json").status_code == 403
    assert viewer_api.patch(url(org, action.pk), {"status": "in_progress"}).status_code == 403
    mine = make_action(owner_id=viewer.pk)
    response = viewer_api.patch(url(org, mine.pk), {"status": "in_progress"}, format="json")
    assert response.status_code == 200
    assert viewer_api.patch(url(org, mine.pk), {"title": "x"}, format="json").status_code == 403


def test_another_organisation_gets_404(stranger_api, org, make_action):
    action = make_action()
    assert stranger_api.get(url(org)).status_code == 404
    assert stranger_api.get(url(org, action.pk)).status_code == 404
    assert stranger_api.patch(url(org, action.pk), {"status": "in_progress"}).status_code == 404


def test_api_keys_read_only_reads_and_read_write_creates(org, admin, analyst, planted):
    from rest_framework.test import APIClient

    from apps.organizations.api_keys import api_key_create
    from tests.journeys.helpers import principal

    def client(access):
        _key, plaintext = api_key_create(
            organization=org, actor=principal(org, admin), name=access, access=access
        )
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        return api

    read_only, read_write = client("read_only"), client("read_write")
    assert read_only.get(url(org)).status_code == 200
    assert read_only.post(url(org), payload(planted, analyst), format="json").status_code == 403
    response = read_write.post(url(org), payload(planted, analyst), format="json")
    assert response.status_code == 201
    event = ActionEvent.objects.for_organization(org).get()
    assert event.author is None and event.author_label.startswith("API key read_write")

"""Journey API: roles, the journey owner's object role, the tenant wall and bad input."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.journeys.models import Journey, Stage, Touchpoint
from tests.factories import MembershipFactory
from tests.journeys.helpers import b2b_journey

pytestmark = pytest.mark.django_db

BASE = "/api/v1/o/acme"


@pytest.fixture
def journey(org, analyst):
    return b2b_journey(org, analyst)


def _client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_list_create_and_read_the_journey_map(analyst_api, viewer_api, org):
    response = analyst_api.post(
        f"{BASE}/journeys/", {"template": "b2b-sales-service", "language": "fi"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "B2B-myynti ja palvelu"
    assert [s["name"] for s in body["stages"]] == ["Tietoisuus", "Osto", "Toimitus", "Palvelu"]
    assert body["stages"][0]["touchpoints"][0]["translations"]["en"]["name"] == "Brand impression"
    listing = viewer_api.get(f"{BASE}/journeys/").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == body["id"]
    detail = viewer_api.get(f"{BASE}/journeys/{body['id']}/").json()
    assert sum(len(s["touchpoints"]) for s in detail["stages"]) == 7


def test_journey_map_query_count_does_not_grow_with_touchpoints(
    analyst_api, journey, django_assert_max_num_queries
):
    with django_assert_max_num_queries(10):
        response = analyst_api.get(f"{BASE}/journeys/{journey.pk}/")
    assert response.status_code == 200


def test_viewer_reads_but_cannot_write(viewer_api, journey, org):
    assert viewer_api.get(f"{BASE}/journeys/{journey.pk}/").status_code == 200
    stage = Stage.objects.for_organization(org).filter(journey=journey).first()
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    writes = [
        viewer_api.post(f"{BASE}/journeys/", {"name": "Mine"}, format="json"),
        viewer_api.patch(f"{BASE}/journeys/{journey.pk}/", {"name": "X"}, format="json"),
        viewer_api.post(f"{BASE}/stages/", {"journey": journey.pk, "name": "S"}, format="json"),
        viewer_api.post(f"{BASE}/stages/{stage.pk}/move/", {"position": 2}, format="json"),
        viewer_api.patch(f"{BASE}/touchpoints/{touchpoint.pk}/", {"importance": 5}, format="json"),
        viewer_api.delete(f"{BASE}/touchpoints/{touchpoint.pk}/"),
        viewer_api.post(f"{BASE}/journeys/{journey.pk}/owner/", {"owner": None}, format="json"),
    ]
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert writes[1].json()["error"]["code"] == "permission_denied"
    journey.refresh_from_db()
    assert journey.name == "B2B sales and service"
    assert Journey.objects.for_organization(org).count() == 1
    assert Touchpoint.objects.for_organization(org).filter(journey=journey).count() == 7


def test_stranger_gets_404_for_everything(stranger_api, journey, org):
    stage = Stage.objects.for_organization(org).filter(journey=journey).first()
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    urls = [
        f"{BASE}/journeys/", f"{BASE}/journeys/{journey.pk}/", f"{BASE}/stages/{stage.pk}/",
        f"{BASE}/touchpoints/{touchpoint.pk}/", f"{BASE}/journey-templates/",
    ]  # fmt: skip
    assert [stranger_api.get(url).status_code for url in urls] == [404] * len(urls)
    response = stranger_api.patch(f"{BASE}/journeys/{journey.pk}/", {"name": "X"}, format="json")
    assert response.status_code == 404


def test_ids_of_another_organisation_are_404_in_ones_own(stranger_api, journey, org, other_org):
    """The cross-tenant probe: the stranger uses their own organisation with acme's ids."""
    stage = Stage.objects.for_organization(org).filter(journey=journey).first()
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    own = "/api/v1/o/rival"
    assert stranger_api.get(f"{own}/journeys/{journey.pk}/").status_code == 404
    assert stranger_api.get(f"{own}/stages/{stage.pk}/").status_code == 404
    assert stranger_api.get(f"{own}/touchpoints/{touchpoint.pk}/").status_code == 404
    assert stranger_api.get(f"{own}/stages/?journey={journey.pk}").json()["count"] == 0
    assert stranger_api.get(f"{own}/touchpoints/?journey={journey.pk}").json()["count"] == 0
    writes = [
        stranger_api.patch(f"{own}/journeys/{journey.pk}/", {"name": "X"}, format="json"),
        stranger_api.post(f"{own}/stages/", {"journey": journey.pk, "name": "S"}, format="json"),
        stranger_api.post(f"{own}/touchpoints/", {"stage": stage.pk, "name": "T"}, format="json"),
        stranger_api.delete(f"{own}/touchpoints/{touchpoint.pk}/"),
        stranger_api.post(f"{own}/journeys/{journey.pk}/owner/", {"owner": None}, format="json"),
    ]
    assert [r.status_code for r in writes] == [404] * len(writes)
    assert Touchpoint.objects.for_organization(org).filter(pk=touchpoint.pk).exists()


def test_analyst_edits_stages_and_touchpoints(analyst_api, journey, org):
    stage = analyst_api.post(
        f"{BASE}/stages/", {"journey": journey.pk, "name": "Loyalty", "position": 0}, format="json"
    )
    assert stage.status_code == 201 and stage.json()["position"] == 0
    touchpoint = analyst_api.post(
        f"{BASE}/touchpoints/",
        {"stage": stage.json()["id"], "name": "Newsletter", "channel": "email", "importance": 2},
        format="json",
    )
    assert touchpoint.status_code == 201
    assert touchpoint.json()["importance"] == 2 and touchpoint.json()["channel"] == "email"
    moved = analyst_api.post(
        f"{BASE}/stages/{stage.json()['id']}/move/", {"position": 4}, format="json"
    )
    assert moved.json()["position"] == 4
    listing = analyst_api.get(f"{BASE}/stages/?journey={journey.pk}").json()["results"]
    assert [s["position"] for s in listing] == [0, 1, 2, 3, 4]
    assert listing[-1]["name"] == "Loyalty"


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("journeys/", {"name": ""}, "name"),
        ("touchpoints/{tp}/", {"name": ""}, "name"),
        ("touchpoints/{tp}/", {"importance": 9}, "importance"),
        ("touchpoints/{tp}/", {"channel": "pigeon"}, "channel"),
        ("touchpoints/{tp}/", {"owner": 999999}, "owner"),
        ("stages/{stage}/", {"name": "  "}, "name"),
        ("journeys/{journey}/", {"status": "deleted"}, "status"),
    ],
)
def test_bad_input_is_400_naming_the_field(analyst_api, journey, org, url, payload, field):
    stage = Stage.objects.for_organization(org).filter(journey=journey).first()
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    before = (touchpoint.name, touchpoint.importance, touchpoint.channel, touchpoint.owner_id)
    path = url.format(tp=touchpoint.pk, stage=stage.pk, journey=journey.pk)
    method = analyst_api.post if url == "journeys/" else analyst_api.patch
    response = method(f"{BASE}/{path}", payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    touchpoint.refresh_from_db()
    stage.refresh_from_db()
    journey.refresh_from_db()
    assert (
        touchpoint.name,
        touchpoint.importance,
        touchpoint.channel,
        touchpoint.owner_id,
    ) == before
    assert stage.name == "Awareness" and journey.status == "draft"
    assert Journey.objects.for_organization(org).count() == 1


def test_owner_assignment_by_admin_emails_and_audits(
    admin_api, journey, analyst, org, django_capture_on_commit_callbacks
):
    from apps.audit.models import AuditEntry

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            f"{BASE}/journeys/{journey.pk}/owner/", {"owner": analyst.pk}, format="json"
        )
    assert response.status_code == 200
    assert AuditEntry.objects.for_organization(org).filter(action="journey.owner_assigned").exists()
    assert response.json()["owner"] == analyst.pk
    assert response.json()["owner_email"] == analyst.email
    assert [m.to for m in mail.outbox] == [[analyst.email]]


def test_analyst_cannot_assign_owner(
    analyst_api, journey, analyst, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_api.post(
            f"{BASE}/journeys/{journey.pk}/owner/", {"owner": analyst.pk}, format="json"
        )
    assert response.status_code == 403
    journey.refresh_from_db()
    assert journey.owner_id is None and mail.outbox == []


def test_journey_owner_with_viewer_role_may_edit_their_journey(owner_api, journey, org):
    member = MembershipFactory(organization=org, role="viewer")
    owner_api.post(f"{BASE}/journeys/{journey.pk}/owner/", {"owner": member.user_id}, format="json")
    client = _client_for(member.user)
    response = client.patch(
        f"{BASE}/journeys/{journey.pk}/", {"description": "Ours"}, format="json"
    )
    assert response.status_code == 200 and response.json()["description"] == "Ours"
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    assert (
        client.patch(
            f"{BASE}/touchpoints/{touchpoint.pk}/", {"importance": 5}, format="json"
        ).status_code
        == 200
    )
    # ...but they are no admin: assigning owners stays with admins and owners.
    response = client.post(f"{BASE}/journeys/{journey.pk}/owner/", {"owner": None}, format="json")
    assert response.status_code == 403


def test_touchpoint_owner_reads_the_journey_but_does_not_edit(analyst_api, journey, org):
    member = MembershipFactory(organization=org, role="viewer")
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    analyst_api.patch(
        f"{BASE}/touchpoints/{touchpoint.pk}/", {"owner": member.user_id}, format="json"
    )
    client = _client_for(member.user)
    assert client.get(f"{BASE}/journeys/{journey.pk}/").status_code == 200
    response = client.patch(f"{BASE}/journeys/{journey.pk}/", {"name": "X"}, format="json")
    assert response.status_code == 403


def test_delete_touchpoint_reports_what_happened(analyst_api, journey, org):
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    response = analyst_api.delete(f"{BASE}/touchpoints/{touchpoint.pk}/")
    assert response.status_code == 200 and response.json() == {"result": "deleted"}


def test_templates_are_listed(viewer_api):
    rows = viewer_api.get(f"{BASE}/journey-templates/").json()["results"]
    assert {r["slug"] for r in rows} == {
        "b2b-sales-service", "retail-web-shop", "subscription-service"
    }  # fmt: skip
    assert all(set(r["names"]) == {"en", "fi"} for r in rows)


def test_schema_documents_the_journey_endpoints(client):
    schema = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    paths = schema.json()["paths"]
    for path in ("/api/v1/o/{org_slug}/journeys/", "/api/v1/o/{org_slug}/journeys/{id}/owner/",
                 "/api/v1/o/{org_slug}/stages/{id}/move/", "/api/v1/o/{org_slug}/touchpoints/",
                 "/api/v1/o/{org_slug}/questionnaires/{id}/publish/",
                 "/api/v1/o/{org_slug}/questionnaires/{id}/items/",
                 "/api/v1/o/{org_slug}/items/{id}/"):  # fmt: skip
        assert path in paths, path


@pytest.mark.parametrize(("access", "write_status"), [("read_only", 403), ("read_write", 201)])
def test_api_keys_read_and_write_as_their_access_allows(org, owner, journey, access, write_status):
    from apps.organizations.api_keys import api_key_create
    from tests.journeys.helpers import principal

    _key, plaintext = api_key_create(
        organization=org, actor=principal(org, owner), name="CRM sync", access=access
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get(f"{BASE}/journeys/{journey.pk}/").status_code == 200
    response = client.post(
        f"{BASE}/stages/", {"journey": journey.pk, "name": "Renewal"}, format="json"
    )
    assert response.status_code == write_status
    assert client.get(f"/api/v1/o/rival/journeys/{journey.pk}/").status_code == 404

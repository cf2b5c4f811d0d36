"""GET /api/v1/o/<org_slug>/audit/: paginated, filtered, documented, and walled per tenant."""

import datetime

import pytest

from apps.organizations.api_keys import api_key_create
from apps.organizations.permissions import Principal
from tests.audit.helpers import make_entry
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/o/acme/audit/"


def _day(day):
    return datetime.datetime(2026, 3, day, 12, 0, tzinfo=datetime.UTC)


def test_admin_lists_entries_newest_first_with_a_summary(admin_api, org):
    make_entry(org, action="api_key.created", at=_day(1))
    make_entry(org, action="organization.settings_changed", target_label="Acme Oy",
               data={"changes": {"alpha": [0.05, 0.01]}}, at=_day(2))  # fmt: skip
    response = admin_api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first = body["results"][0]
    assert first["action"] == "organization.settings_changed"
    assert first["target"] == "Acme Oy" and first["actor"] == "owner@acme.example"
    assert first["data"] == {"changes": {"alpha": [0.05, 0.01]}}  # exact in the API
    assert first["summary"] == "alpha: 0.05 → 0.01"
    assert first["ip_address"] == "203.0.113.5"
    assert first["created_at"].startswith("2026-03-02T12:00:00")


def test_filters_and_pagination(owner_api, org):
    org.time_zone = "UTC"
    org.save()
    for i in range(55):
        make_entry(org, action="member.invited", at=_day(1) + datetime.timedelta(minutes=i))
    make_entry(org, action="api_key.revoked", actor_label="bob@acme.example", at=_day(5))
    page_one = owner_api.get(URL).json()
    assert page_one["count"] == 56 and len(page_one["results"]) == 50 and page_one["next"]
    assert len(owner_api.get(URL, {"page": 2}).json()["results"]) == 6
    assert owner_api.get(URL, {"action": "api_key"}).json()["count"] == 1
    assert owner_api.get(URL, {"q": "BOB@"}).json()["count"] == 1
    assert owner_api.get(URL, {"since": "2026-03-02"}).json()["count"] == 1
    assert owner_api.get(URL, {"until": "2026-03-01"}).json()["count"] == 55


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "until"),
    ],
)
def test_bad_dates_get_a_400_naming_the_parameter(admin_api, org, params, field):
    response = admin_api.get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert field in error["message"]


def test_entries_of_another_organisation_are_never_listed(admin_api, org, other_org):
    make_entry(org, target_label="ours")
    make_entry(other_org, target_label="theirs")
    assert [e["target"] for e in admin_api.get(URL).json()["results"]] == ["ours"]


def test_viewer_and_analyst_get_403_stranger_404_anonymous_401_or_403(
    client, viewer_api, analyst_api, stranger_api, org
):
    make_entry(org)
    assert viewer_api.get(URL).status_code == 403
    assert analyst_api.get(URL).status_code == 403
    assert stranger_api.get(URL).status_code == 404
    assert client.get(URL).status_code in (401, 403)


def test_an_api_key_reads_its_own_organisation_only(client, org, other_org, owner):
    make_entry(org)
    principal = Principal.for_membership(MembershipFactory.build(organization=org, user=owner,
                                                                 role="owner"))  # fmt: skip
    _key, secret = api_key_create(organization=org, actor=principal, name="SIEM export")
    headers = {"Authorization": f"Bearer {secret}"}
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert {e["action"] for e in response.json()["results"]} == {
        "member.invited",
        "api_key.created",
    }
    assert client.get("/api/v1/o/rival/audit/", headers=headers).status_code == 404


def test_the_endpoint_and_its_filters_are_in_the_schema(client):
    schema = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    operation = schema.json()["paths"]["/api/v1/o/{org_slug}/audit/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"org_slug", "action", "q", "since", "until", "page"} <= names
    content = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert content["$ref"].endswith("PaginatedAuditEntryList")


def test_dates_are_whole_days_in_the_organisations_time_zone(admin_api, org):
    org.time_zone = "Europe/Helsinki"  # UTC+2 in March
    org.save()
    make_entry(org, at=datetime.datetime(2026, 3, 1, 22, 30, tzinfo=datetime.UTC))  # 00:30 on 2nd
    assert admin_api.get(URL, {"since": "2026-03-02"}).json()["count"] == 1
    assert admin_api.get(URL, {"until": "2026-03-01"}).json()["count"] == 0
    assert admin_api.get(URL, {"since": "2026-03-02", "until": "2026-03-02"}).json()["count"] == 1

"""Questionnaire API: generation, items, publishing, versions, roles, tenant wall, bad input."""

import pytest
from rest_framework.test import APIClient

from apps.journeys.models import Touchpoint
from apps.surveys.models import Item, Questionnaire, QuestionnaireVersion
from tests.factories import MembershipFactory
from tests.journeys.helpers import b2b_journey

pytestmark = pytest.mark.django_db

BASE = "/api/v1/o/acme"


@pytest.fixture
def journey(org, analyst):
    return b2b_journey(org, analyst)


@pytest.fixture
def questionnaire_id(analyst_api, journey):
    response = analyst_api.post(f"{BASE}/questionnaires/", {"journey": journey.pk}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_generate_returns_both_sides(analyst_api, journey):
    response = analyst_api.post(
        f"{BASE}/questionnaires/", {"journey": journey.pk, "scale_lo": 0, "scale_hi": 6},
        format="json",
    )  # fmt: skip
    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "draft" and body["version"]["number"] == 1
    assert len(body["items"]["customer"]) == len(body["items"]["employee"]) == 7 * 5 + 3
    assert body["unpaired"] == []
    ratings = [i for i in body["items"]["employee"] if i["kind"] == "rating"]
    assert {(i["scale_lo"], i["scale_hi"]) for i in ratings} == {(0, 6)}


def test_scale_top_not_above_bottom_is_400_naming_the_field(analyst_api, journey, org):
    response = analyst_api.post(
        f"{BASE}/questionnaires/", {"journey": journey.pk, "scale_lo": 5, "scale_hi": 5},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "scale_hi" in response.json()["error"]["fields"]
    assert Questionnaire.objects.for_organization(org).count() == 0


def test_publish_edit_creates_version_2_and_keeps_version_1(analyst_api, questionnaire_id, org):
    published = analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/")
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    assert published.json()["published_version"] == 1
    item = published.json()["items"]["customer"][1]
    response = analyst_api.patch(
        f"{BASE}/items/{item['id']}/", {"texts": {"en": "Reworded?"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["id"] != item["id"]
    assert response.json()["key"] == item["key"]
    assert response.json()["touchpoint"] == item["touchpoint"]
    v1 = analyst_api.get(f"{BASE}/questionnaires/{questionnaire_id}/?version=1").json()
    assert v1["items"]["customer"][1]["texts"]["en"] == item["texts"]["en"]
    current = analyst_api.get(f"{BASE}/questionnaires/{questionnaire_id}/").json()
    assert current["version"]["number"] == 2 and current["published_version"] == 1
    assert [v["number"] for v in current["versions"]] == [1, 2]


def test_add_custom_item_with_twin_and_flag_unpaired(analyst_api, questionnaire_id, org, journey):
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    response = analyst_api.post(
        f"{BASE}/questionnaires/{questionnaire_id}/items/",
        {"audience": "employee", "kind": "rating", "touchpoint": website.pk, "dimension": "ease",
         "texts": {"en": "How quickly do customers find prices?", "fi": "Kuinka nopeasti?"},
         "scale_lo": 1, "scale_hi": 7},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["twin"]["audience"] == "customer" and body["twin"]["key"] == body["key"]
    lonely = analyst_api.post(
        f"{BASE}/questionnaires/{questionnaire_id}/items/",
        {"audience": "customer", "kind": "text", "touchpoint": website.pk,
         "texts": {"en": "What were you looking for?"}, "create_twin": False},
        format="json",
    )  # fmt: skip
    assert lonely.status_code == 201 and lonely.json()["twin"] is None
    detail = analyst_api.get(f"{BASE}/questionnaires/{questionnaire_id}/").json()
    assert len(detail["unpaired"]) == 1 and lonely.json()["key"] in detail["unpaired"][0]
    refused = analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/")
    assert refused.status_code == 400
    assert lonely.json()["key"] in refused.json()["error"]["fields"]["items"][0]
    assert QuestionnaireVersion.objects.for_organization(org).get().published_at is None
    twin = analyst_api.post(f"{BASE}/items/{lonely.json()['id']}/twin/")
    assert twin.status_code == 201
    # Still refused: the new question has no Finnish wording on either side.
    missing = analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/")
    assert missing.status_code == 400 and len(missing.json()["error"]["fields"]["texts"]) == 2
    for item_id in (lonely.json()["id"], twin.json()["id"]):
        analyst_api.patch(
            f"{BASE}/items/{item_id}/", {"texts": {"fi": "Mitä etsit?"}}, format="json"
        )
    assert analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/").status_code == 200


def test_mapped_item_of_another_journey_or_organisation_is_400(
    analyst_api, questionnaire_id, org, other_org, stranger, analyst
):
    other_journey = b2b_journey(org, analyst, name="Second journey")
    own_other = Touchpoint.objects.for_organization(org).filter(journey=other_journey).first()
    foreign = (
        Touchpoint.objects.for_organization(other_org)
        .filter(journey=b2b_journey(other_org, stranger))
        .first()
    )
    before = Item.objects.for_organization(org).count()
    for touchpoint in (own_other, foreign):
        response = analyst_api.post(
            f"{BASE}/questionnaires/{questionnaire_id}/items/",
            {"audience": "customer", "kind": "rating", "touchpoint": touchpoint.pk,
             "dimension": "ease", "texts": {"en": "Q?"}},
            format="json",
        )  # fmt: skip
        assert response.status_code == 400
        assert "touchpoint" in response.json()["error"]["fields"]
    assert Item.objects.for_organization(org).count() == before


def test_editing_a_closed_questionnaire_is_400_naming_status(analyst_api, questionnaire_id, org):
    analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/")
    closed = analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/close/")
    assert closed.json()["status"] == "closed"
    item = closed.json()["items"]["customer"][0]
    responses = [
        analyst_api.patch(f"{BASE}/items/{item['id']}/", {"texts": {"en": "X"}}, format="json"),
        analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/items/",
                         {"audience": "customer", "kind": "text", "texts": {"en": "X"}},
                         format="json"),
        analyst_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/"),
        analyst_api.post(f"{BASE}/items/{item['id']}/move/", {"position": 3}, format="json"),
    ]  # fmt: skip
    for response in responses:
        assert response.status_code == 400
        assert "status" in response.json()["error"]["fields"]
    assert QuestionnaireVersion.objects.for_organization(org).count() == 1
    assert Item.objects.for_organization(org).get(pk=item["id"]).texts["en"] == item["texts"]["en"]


def test_viewer_reads_but_cannot_write(viewer_api, questionnaire_id, org):
    detail = viewer_api.get(f"{BASE}/questionnaires/{questionnaire_id}/")
    assert detail.status_code == 200
    item_id = detail.json()["items"]["customer"][0]["id"]
    writes = [
        viewer_api.post(f"{BASE}/questionnaires/{questionnaire_id}/publish/"),
        viewer_api.post(f"{BASE}/questionnaires/{questionnaire_id}/close/"),
        viewer_api.patch(f"{BASE}/items/{item_id}/", {"required": True}, format="json"),
        viewer_api.post(f"{BASE}/questionnaires/{questionnaire_id}/languages/",
                        {"language": "sv"}, format="json"),
    ]  # fmt: skip
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert Questionnaire.objects.for_organization(org).get().status == "draft"


def test_journey_owner_with_viewer_role_publishes(owner_api, analyst_api, journey, org):
    member = MembershipFactory(organization=org, role="viewer")
    owner_api.post(f"{BASE}/journeys/{journey.pk}/owner/", {"owner": member.user_id}, format="json")
    client = APIClient()
    client.force_authenticate(member.user)
    created = client.post(f"{BASE}/questionnaires/", {"journey": journey.pk}, format="json")
    assert created.status_code == 201
    published = client.post(f"{BASE}/questionnaires/{created.json()['id']}/publish/")
    assert published.status_code == 200


def test_stranger_gets_404(stranger_api, questionnaire_id, org):
    item = Item.objects.for_organization(org).first()
    for path in (f"questionnaires/{questionnaire_id}/", f"items/{item.pk}/"):
        assert stranger_api.get(f"{BASE}/{path}").status_code == 404
        assert stranger_api.get(f"/api/v1/o/rival/{path}").status_code == 404
    assert stranger_api.post(f"/api/v1/o/rival/questionnaires/{questionnaire_id}/publish/"
                             ).status_code == 404  # fmt: skip
    assert stranger_api.patch(f"/api/v1/o/rival/items/{item.pk}/", {"required": True},
                              format="json").status_code == 404  # fmt: skip
    generated = stranger_api.post(
        "/api/v1/o/rival/questionnaires/", {"journey": item.version.questionnaire.journey_id},
        format="json",
    )  # fmt: skip
    assert generated.status_code == 404
    assert Questionnaire.unscoped.count() == 1  # spelled out: nothing was created anywhere


def test_add_language_and_bad_language(analyst_api, questionnaire_id):
    response = analyst_api.post(
        f"{BASE}/questionnaires/{questionnaire_id}/languages/", {"language": "sv"}, format="json"
    )
    assert response.status_code == 200 and response.json()["version"]["languages"] == [
        "en", "fi", "sv"
    ]  # fmt: skip
    bad = analyst_api.post(
        f"{BASE}/questionnaires/{questionnaire_id}/languages/", {"language": "Klingon!"},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400 and "language" in bad.json()["error"]["fields"]


def test_questionnaire_detail_query_count_is_flat(
    analyst_api, questionnaire_id, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = analyst_api.get(f"{BASE}/questionnaires/{questionnaire_id}/")
    assert len(response.json()["items"]["customer"]) == 38

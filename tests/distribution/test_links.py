"""Survey links: the public token lookup, the services, the staff pages and the API, QR codes."""

import datetime

import pytest
from django.utils import timezone

from apps.core.errors import PermissionDenied, ValidationFailed
from apps.distribution import services
from apps.distribution.demo import demo_links_load
from apps.distribution.models import SurveyLink
from apps.distribution.selectors import link_resolve
from tests.journeys.helpers import principal

pytestmark = pytest.mark.django_db


def _links(org):
    return SurveyLink.objects.for_organization(org)


# --- resolution -----------------------------------------------------------------------------


def test_link_resolve_finds_the_link_with_its_organisation_and_version(
    customer_link, django_assert_num_queries
):
    with django_assert_num_queries(2):  # the token function, then the link as its organisation's
        link = link_resolve(customer_link.token)
        assert link is not None
        assert link.organization.slug == "acme"
        assert link.questionnaire.published_version.number == 1


@pytest.mark.parametrize("token", ["", "nope", "x" * 65])
def test_link_resolve_unknown_token_is_none(customer_link, token):
    assert link_resolve(token) is None


def test_tokens_are_long_random_and_distinct(make_link):
    tokens = {make_link(name=f"L{n}").token for n in range(5)}
    assert len(tokens) == 5
    assert all(len(token) >= 32 for token in tokens)  # 24 random bytes = 192 bits


# --- services -------------------------------------------------------------------------------


def test_create_needs_a_published_questionnaire_and_edit_rights(org, analyst, viewer, journey):
    from apps.surveys.services import questionnaire_generate

    draft = questionnaire_generate(organization=org, actor=principal(org, analyst), journey=journey)
    with pytest.raises(ValidationFailed) as exc:
        services.link_create(organization=org, actor=principal(org, analyst),
                             questionnaire=draft, audience="customer")  # fmt: skip
    assert "questionnaire" in exc.value.fields
    with pytest.raises(PermissionDenied):
        services.link_create(organization=org, actor=principal(org, viewer),
                             questionnaire=draft, audience="customer")  # fmt: skip
    assert not _links(org).exists()


def test_context_must_be_whitelisted(org, analyst, questionnaire, make_link):
    with pytest.raises(ValidationFailed) as exc:
        make_link(context={"store": "Helsinki"})
    assert "context" in exc.value.fields
    services.context_attribute_set(organization=org, actor=principal(org, analyst),
                                   questionnaire=questionnaire, name="store",
                                   allowed_values=["Helsinki"])  # fmt: skip
    with pytest.raises(ValidationFailed):
        make_link(context={"store": "Oulu"})
    assert make_link(context={"store": "Helsinki"}).context == {"store": "Helsinki"}


def test_kiosk_cannot_be_one_response_per_device(make_link):
    with pytest.raises(ValidationFailed) as exc:
        make_link(kiosk=True, one_response_per_device=True)
    assert "one_response_per_device" in exc.value.fields


def test_pause_resume_close_and_closed_stays_closed(org, analyst, customer_link):
    actor = principal(org, analyst)
    link = services.link_update(organization=org, actor=actor, link=customer_link, status="paused")
    assert not link.is_open()
    link = services.link_update(organization=org, actor=actor, link=link, status="active")
    assert link.is_open()
    link = services.link_update(organization=org, actor=actor, link=link, status="closed")
    with pytest.raises(ValidationFailed) as exc:
        services.link_update(organization=org, actor=actor, link=link, status="active")
    assert "status" in exc.value.fields
    link.refresh_from_db()
    assert link.status == "closed"


def test_end_date_closes_the_link(org, analyst, customer_link):
    ends = timezone.now() + datetime.timedelta(hours=1)
    link = services.link_update(organization=org, actor=principal(org, analyst),
                                link=customer_link, ends_at=ends)  # fmt: skip
    assert link.is_open()
    assert not link.is_open(ends + datetime.timedelta(seconds=1))


def test_demo_links_are_idempotent(org, owner):
    from apps.journeys.demo import demo_journey_load

    demo_journey_load(org, owner)
    first = demo_links_load(org)
    second = demo_links_load(org)
    assert [link.pk for link in first] == [link.pk for link in second]
    assert {(link.audience, link.kiosk) for link in first} == {
        ("customer", False),
        ("employee", False),
        ("customer", True),
    }
    assert next(link for link in first if link.kiosk).context == {"store": "Helsinki"}


# --- staff pages ----------------------------------------------------------------------------


@pytest.fixture
def analyst_client(analyst):
    from django.test import Client

    client = Client()
    client.force_login(analyst)
    return client


def test_staff_create_link_and_see_its_address_and_qr(analyst_client, questionnaire):
    url = f"/o/acme/links/new/{questionnaire.pk}/"
    assert analyst_client.get(url).status_code == 200
    response = analyst_client.post(url, {"audience": "customer", "name": "Counter", "kiosk": "on"})
    assert response.status_code == 302
    link = _links(questionnaire.organization).get()
    assert (link.name, link.kiosk) == ("Counter", True)
    detail = analyst_client.get(response["Location"]).content.decode()
    assert f"/s/{link.token}/" in detail
    assert f"/o/acme/links/{link.pk}/qr.svg" in detail
    listing = analyst_client.get(f"/o/acme/links/?questionnaire={questionnaire.pk}")
    assert link.name in listing.content.decode()


def test_staff_create_with_bad_context_shows_the_error_and_stores_nothing(
    analyst_client, questionnaire
):
    response = analyst_client.post(f"/o/acme/links/new/{questionnaire.pk}/",
                                   {"audience": "customer", "context": "region=North"})  # fmt: skip
    assert response.status_code == 400
    assert "not a context attribute" in response.content.decode()
    assert not _links(questionnaire.organization).exists()


def test_staff_pause_and_close(analyst_client, customer_link):
    base = f"/o/acme/links/{customer_link.pk}"
    assert analyst_client.post(f"{base}/pause/").status_code == 302
    customer_link.refresh_from_db()
    assert customer_link.status == "paused"
    analyst_client.post(f"{base}/close/")
    analyst_client.post(f"{base}/resume/")
    customer_link.refresh_from_db()
    assert customer_link.status == "closed"


def test_viewer_reads_but_cannot_create_or_pause(viewer_client, questionnaire, customer_link):
    assert viewer_client.get(f"/o/acme/links/{customer_link.pk}/").status_code == 200
    assert viewer_client.get(f"/o/acme/links/new/{questionnaire.pk}/").status_code == 403
    response = viewer_client.post(f"/o/acme/links/new/{questionnaire.pk}/",
                                  {"audience": "customer"})  # fmt: skip
    assert response.status_code == 403
    assert viewer_client.post(f"/o/acme/links/{customer_link.pk}/pause/").status_code == 403
    customer_link.refresh_from_db()
    assert customer_link.status == "active"
    assert _links(questionnaire.organization).count() == 1


def test_stranger_gets_404(stranger_client, questionnaire, customer_link):
    assert stranger_client.get("/o/acme/links/").status_code == 404
    assert stranger_client.get(f"/o/acme/links/{customer_link.pk}/").status_code == 404
    assert stranger_client.get(f"/o/acme/links/{customer_link.pk}/qr.png").status_code == 404
    assert stranger_client.post(f"/o/acme/links/{customer_link.pk}/close/").status_code == 404
    customer_link.refresh_from_db()
    assert customer_link.status == "active"


def test_qr_codes_are_valid_svg_and_png(viewer_client, customer_link):
    svg = viewer_client.get(f"/o/acme/links/{customer_link.pk}/qr.svg")
    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    png = viewer_client.get(f"/o/acme/links/{customer_link.pk}/qr.png?download=1")
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "attachment" in png["Content-Disposition"]


def test_qr_bakes_in_whitelisted_context_only(org, analyst, viewer_client, questionnaire,
                                              customer_link):  # fmt: skip
    services.context_attribute_set(organization=org, actor=principal(org, analyst),
                                   questionnaire=questionnaire, name="store")  # fmt: skip
    ok = viewer_client.get(f"/o/acme/links/{customer_link.pk}/qr.svg?store=Espoo")
    assert ok.status_code == 200
    bad = viewer_client.get(f"/o/acme/links/{customer_link.pk}/qr.svg?secret=1")
    assert bad.status_code == 400
    assert b"secret" in bad.content


# --- API ------------------------------------------------------------------------------------


def test_api_create_list_update(analyst_api, questionnaire):
    created = analyst_api.post("/api/v1/o/acme/links/", {
        "questionnaire": questionnaire.pk, "audience": "employee", "name": "Staff",
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"].endswith(f"/s/{_links(questionnaire.organization).get().token}/")
    listing = analyst_api.get("/api/v1/o/acme/links/").json()
    assert listing["results"][0]["id"] == body["id"]
    paused = analyst_api.patch(f"/api/v1/o/acme/links/{body['id']}/", {"status": "paused"},
                               format="json")  # fmt: skip
    assert paused.json()["status"] == "paused"


def test_api_bad_input_names_the_field(analyst_api, questionnaire):
    response = analyst_api.post("/api/v1/o/acme/links/", {
        "questionnaire": questionnaire.pk, "audience": "customer", "kiosk": True,
        "one_response_per_device": True,
    }, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "one_response_per_device" in response.json()["error"]["fields"]
    assert not _links(questionnaire.organization).exists()


def test_api_viewer_403_and_stranger_404(viewer_api, stranger_api, questionnaire, customer_link):
    assert viewer_api.get("/api/v1/o/acme/links/").status_code == 200
    response = viewer_api.post("/api/v1/o/acme/links/", {
        "questionnaire": questionnaire.pk, "audience": "customer"}, format="json")  # fmt: skip
    assert response.status_code == 403
    response = viewer_api.patch(f"/api/v1/o/acme/links/{customer_link.pk}/",
                                {"status": "closed"}, format="json")  # fmt: skip
    assert response.status_code == 403
    assert stranger_api.get(f"/api/v1/o/acme/links/{customer_link.pk}/").status_code == 404
    customer_link.refresh_from_db()
    assert customer_link.status == "active"


def test_viewer_cannot_change_settings(viewer_client, customer_link):
    response = viewer_client.post(f"/o/acme/links/{customer_link.pk}/", {"name": "Mine"})
    assert response.status_code == 403
    customer_link.refresh_from_db()
    assert customer_link.name == "Web"


def test_questionnaire_page_links_to_its_links(viewer_client, questionnaire):
    page = viewer_client.get(f"/o/acme/questionnaires/{questionnaire.pk}/").content.decode()
    assert f"/o/acme/links/?questionnaire={questionnaire.pk}" in page


def test_api_list_filters_by_questionnaire(analyst_api, customer_link):
    mine = analyst_api.get(f"/api/v1/o/acme/links/?questionnaire={customer_link.questionnaire_id}")
    assert [row["id"] for row in mine.json()["results"]] == [customer_link.pk]
    none = analyst_api.get(
        f"/api/v1/o/acme/links/?questionnaire={customer_link.questionnaire_id + 1000}"
    )
    assert none.json()["results"] == []
    assert analyst_api.get("/api/v1/o/acme/links/?questionnaire=x").status_code == 404


# --- the context whitelist ------------------------------------------------------------------


def test_staff_add_and_remove_a_context_attribute(analyst_client, questionnaire):
    from apps.distribution.models import ContextAttribute

    url = f"/o/acme/links/attributes/new/{questionnaire.pk}/"
    response = analyst_client.post(
        url, {"name": "store", "label": "Store", "allowed_values": "Helsinki, Espoo"}
    )
    assert response.status_code == 302
    attribute = ContextAttribute.objects.for_organization(questionnaire.organization).get()
    assert attribute.allowed_values == ["Helsinki", "Espoo"]
    page = analyst_client.get(response["Location"]).content.decode()
    assert "Helsinki, Espoo" in page
    bad = analyst_client.post(url, {"name": "Not a name!"})
    assert bad.status_code == 400
    assert "lowercase" in bad.content.decode()
    analyst_client.post(f"/o/acme/links/attributes/{attribute.pk}/delete/")
    assert not ContextAttribute.objects.for_organization(questionnaire.organization).exists()


def test_viewer_cannot_change_the_whitelist(viewer_client, org, analyst, questionnaire):
    from apps.distribution.models import ContextAttribute

    attribute = services.context_attribute_set(
        organization=org, actor=principal(org, analyst), questionnaire=questionnaire, name="store"
    )
    url = f"/o/acme/links/attributes/new/{questionnaire.pk}/"
    assert viewer_client.post(url, {"name": "region"}).status_code == 403
    delete = f"/o/acme/links/attributes/{attribute.pk}/delete/"
    assert viewer_client.post(delete).status_code == 403
    assert ContextAttribute.objects.for_organization(org).count() == 1


def test_a_link_keeps_its_context_when_the_attribute_is_dropped(
    org, analyst, analyst_client, questionnaire, make_link
):
    actor = principal(org, analyst)
    attribute = services.context_attribute_set(
        organization=org, actor=actor, questionnaire=questionnaire, name="store"
    )
    link = make_link(context={"store": "Helsinki"})
    services.context_attribute_delete(organization=org, actor=actor, attribute=attribute)
    link = services.link_update(organization=org, actor=actor, link=link, status="paused")
    assert link.context == {"store": "Helsinki"}
    response = analyst_client.post(
        f"/o/acme/links/{link.pk}/", {"name": "Renamed", "context": "store=Helsinki"}
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.name, link.context) == ("Renamed", {"store": "Helsinki"})


def test_api_context_attributes(analyst_api, viewer_api, stranger_api, questionnaire):
    created = analyst_api.post("/api/v1/o/acme/context-attributes/", {
        "questionnaire": questionnaire.pk, "name": "region", "allowed_values": ["North"],
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    listing = viewer_api.get(f"/api/v1/o/acme/context-attributes/?questionnaire={questionnaire.pk}")
    assert [row["name"] for row in listing.json()["results"]] == ["region"]
    bad = analyst_api.post("/api/v1/o/acme/context-attributes/", {
        "questionnaire": questionnaire.pk, "name": "lang"}, format="json")  # fmt: skip
    assert bad.status_code == 400
    assert "name" in bad.json()["error"]["fields"]
    assert viewer_api.delete(f"/api/v1/o/acme/context-attributes/{pk}/").status_code == 403
    assert stranger_api.delete(f"/api/v1/o/acme/context-attributes/{pk}/").status_code == 404
    assert analyst_api.delete(f"/api/v1/o/acme/context-attributes/{pk}/").status_code == 204

"""A touchpoint in focus: a link names one touchpoint of its journey, which the form asks first."""

import pytest

from apps.core.errors import ValidationFailed
from apps.distribution import services
from apps.distribution.models import SurveyLink
from apps.journeys.models import Touchpoint
from tests.journeys.helpers import b2b_journey, principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst_client(analyst, client):
    client.force_login(analyst)
    return client


def _touchpoints(journey):
    return list(
        Touchpoint.objects.for_organization(journey.organization_id).filter(journey=journey)
    )


def test_focus_is_stored_under_the_reserved_context_key(make_link, journey):
    focus = _touchpoints(journey)[2]
    link = make_link(touchpoint=focus.pk)
    assert link.context == {"touchpoint": str(focus.pk)}
    assert services.link_attributes(link.context) == {}


def test_focus_outside_the_journey_is_a_field_error_naming_it(org, analyst, make_link):
    elsewhere = _touchpoints(b2b_journey(org, analyst, name="Other journey"))[0]
    for value in (elsewhere.pk, 10**9, "lobby"):
        with pytest.raises(ValidationFailed) as exc:
            make_link(touchpoint=value)
        assert f"'{value}' is not a touchpoint" in exc.value.fields["touchpoint"][0]
    assert not SurveyLink.objects.for_organization(org).exists()


def test_an_archived_touchpoint_cannot_be_put_in_focus(make_link, journey):
    archived = _touchpoints(journey)[0]
    Touchpoint.objects.for_organization(journey.organization_id).filter(pk=archived.pk).update(
        archived_at="2026-01-01T00:00:00Z"
    )
    with pytest.raises(ValidationFailed):
        make_link(touchpoint=archived.pk)


def test_update_sets_keeps_and_clears_the_focus_beside_the_context(
    org, analyst, questionnaire, journey, make_link
):
    actor = principal(org, analyst)
    services.context_attribute_set(organization=org, actor=actor, questionnaire=questionnaire,
                                   name="store")  # fmt: skip
    first, second = _touchpoints(journey)[:2]
    link = make_link(context={"store": "Espoo"}, touchpoint=first.pk)
    assert link.context == {"store": "Espoo", "touchpoint": str(first.pk)}
    # A new context keeps the focus; a new focus keeps the context.
    link = services.link_update(organization=org, actor=actor, link=link,
                                context={"store": "Turku"})  # fmt: skip
    assert link.context == {"store": "Turku", "touchpoint": str(first.pk)}
    link = services.link_update(organization=org, actor=actor, link=link, touchpoint=second.pk)
    assert link.context == {"store": "Turku", "touchpoint": str(second.pk)}
    link = services.link_update(organization=org, actor=actor, link=link, touchpoint=None)
    assert link.context == {"store": "Turku"}
    with pytest.raises(ValidationFailed) as exc:
        services.link_update(organization=org, actor=actor, link=link, touchpoint=10**9)
    assert "touchpoint" in exc.value.fields


def test_touchpoint_is_not_a_context_attribute_name(org, analyst, questionnaire, make_link):
    with pytest.raises(ValidationFailed):
        services.context_attribute_set(organization=org, actor=principal(org, analyst),
                                       questionnaire=questionnaire, name="touchpoint")  # fmt: skip
    with pytest.raises(ValidationFailed) as exc:
        make_link(context={"touchpoint": "1"})  # only through the focus, which is checked
    assert "context" in exc.value.fields


def test_staff_form_offers_the_journeys_touchpoints_and_saves_the_focus(
    analyst_client, questionnaire, journey
):
    focus = _touchpoints(journey)[1]
    url = f"/o/acme/links/new/{questionnaire.pk}/"
    page = analyst_client.get(url).content.decode()
    assert 'name="touchpoint"' in page and f'value="{focus.pk}"' in page
    response = analyst_client.post(url, {"audience": "customer", "touchpoint": str(focus.pk)})
    assert response.status_code == 302
    link = SurveyLink.objects.for_organization(questionnaire.organization).get()
    assert link.context == {"touchpoint": str(focus.pk)}
    detail = analyst_client.get(response["Location"]).content.decode()
    assert f'<option value="{focus.pk}" selected>' in detail
    assert "touchpoint=" not in detail.split('name="context"')[1].split("</textarea>")[0]
    # Saving the settings with the focus untouched keeps it; choosing none clears it.
    saved = analyst_client.post(f"/o/acme/links/{link.pk}/",
                                {"name": "Desk", "touchpoint": str(focus.pk)})  # fmt: skip
    assert saved.status_code == 302
    link.refresh_from_db()
    assert link.context == {"touchpoint": str(focus.pk)}
    analyst_client.post(f"/o/acme/links/{link.pk}/", {"name": "Desk", "touchpoint": ""})
    link.refresh_from_db()
    assert link.context == {}


def test_staff_form_refuses_a_touchpoint_of_another_journey(
    org, analyst, analyst_client, questionnaire
):
    elsewhere = _touchpoints(b2b_journey(org, analyst, name="Other journey"))[0]
    response = analyst_client.post(
        f"/o/acme/links/new/{questionnaire.pk}/",
        {"audience": "customer", "touchpoint": str(elsewhere.pk)},
    )
    assert response.status_code == 400
    assert not SurveyLink.objects.for_organization(org).exists()


def test_api_sets_and_shows_the_focus_apart_from_the_context(analyst_api, questionnaire, journey):
    focus = _touchpoints(journey)[0]
    created = analyst_api.post("/api/v1/o/acme/links/", {
        "questionnaire": questionnaire.pk, "audience": "customer", "touchpoint": focus.pk,
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["touchpoint"], body["context"]) == (focus.pk, {})
    cleared = analyst_api.patch(f"/api/v1/o/acme/links/{body['id']}/", {"touchpoint": None},
                                format="json")  # fmt: skip
    assert cleared.json()["touchpoint"] is None
    bad = analyst_api.patch(f"/api/v1/o/acme/links/{body['id']}/", {"touchpoint": 10**9},
                            format="json")  # fmt: skip
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert f"'{10**9}' is not a touchpoint" in fields["touchpoint"][0]

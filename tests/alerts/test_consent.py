"""Contact consent: the questions are added to a questionnaire; details are stored only with a
"yes" (the server drops them otherwise, whatever the form sent) and shown to the alert handler
only then, for invitation responses too."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.alerts.consent import CONSENT_KEY
from apps.alerts.services import contact_questions_add
from apps.core.errors import ValidationFailed
from apps.distribution.models import Campaign, ContactList, SurveyInvitation
from apps.distribution.services import link_create
from apps.responses.models import Answer
from apps.responses.selectors import respondent_items
from apps.responses.services import Respondent, field_name, response_submit
from apps.surveys.models import ItemKind
from apps.surveys.services import questionnaire_publish
from tests.journeys.helpers import principal

from .conftest import alerts_of, process, rating_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(org, analyst, journey, scoring_questionnaire):
    actor = principal(org, analyst)
    assert (
        contact_questions_add(organization=org, actor=actor, questionnaire=scoring_questionnaire)
        == 4
    )
    # Asking twice adds nothing.
    assert (
        contact_questions_add(organization=org, actor=actor, questionnaire=scoring_questionnaire)
        == 0
    )
    questionnaire_publish(organization=org, actor=actor, questionnaire=scoring_questionnaire)
    scoring_questionnaire.refresh_from_db()
    return link_create(
        organization=org,
        actor=actor,
        questionnaire=scoring_questionnaire,
        audience="customer",
        name="web",
    )


def submit(link, journey, extra: dict[str, str], on_stored=None):
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    web = journey.touchpoints_in_order[0]
    answers = {rating_key(web, "ease"): "1", "nps": "3", "overall": "4", **extra}
    data = {}
    for item in items:
        if item.kind == ItemKind.SCREENING:
            data[field_name(item)] = ["yes" if item.touchpoint_id == web.pk else "no"]
        elif item.key in answers:
            data[field_name(item)] = [answers[item.key]]
    respondent = Respondent(
        idempotency_key=uuid.uuid4(),
        language="en",
        started_at=timezone.now() - timedelta(seconds=60),
        segment={},
    )
    return response_submit(
        link=link, items=items, data=data, respondent=respondent, on_stored=on_stored
    )


DETAILS = {
    "contact:name": "Maija Meikäläinen",
    "contact:email": "maija@example.fi",
    "contact:phone": "+358 40 123 4567",
}


def _stored_keys(org, response):
    return set(
        Answer.objects.for_organization(org)
        .filter(response=response)
        .values_list("item__key", flat=True)
    )


def _contact_via_api(org, analyst):
    (alert,) = alerts_of(org)
    client = APIClient()
    client.force_authenticate(analyst)
    url = reverse("api:alert-detail", kwargs={"org_slug": org.slug, "pk": alert.pk})
    return client.get(url).json()["contact"], alert


def test_with_consent_the_details_are_stored_and_shown(org, analyst, journey, link, client):
    response = submit(link, journey, {CONSENT_KEY: "yes", **DETAILS})
    assert {CONSENT_KEY, *DETAILS} <= _stored_keys(org, response)
    process(org)
    contact, alert = _contact_via_api(org, analyst)
    assert contact == {
        "name": "Maija Meikäläinen",
        "email": "maija@example.fi",
        "phone": "+358 40 123 4567",
    }
    client.force_login(analyst)
    page = client.get(reverse("alerts:detail", args=[org.slug, alert.pk])).content.decode()
    assert "maija@example.fi" in page


@pytest.mark.parametrize("consent", ["no", None])
def test_without_consent_no_details_are_stored_or_shown(
    org, analyst, journey, link, consent, client
):
    extra = dict(DETAILS)
    if consent:
        extra[CONSENT_KEY] = consent
    response = submit(link, journey, extra)
    assert not set(DETAILS) & _stored_keys(org, response)
    assert not Answer.objects.for_organization(org).filter(text__contains="maija").exists()
    process(org)
    contact, alert = _contact_via_api(org, analyst)
    assert contact is None
    client.force_login(analyst)
    page = client.get(reverse("alerts:detail", args=[org.slug, alert.pk])).content.decode()
    assert "maija" not in page and "did not agree to be contacted" in page


def test_a_bad_email_with_consent_is_refused_naming_the_field(org, journey, link):
    with pytest.raises(ValidationFailed) as caught:
        submit(link, journey, {CONSENT_KEY: "yes", "contact:email": "not an address"})
    (field,) = caught.value.fields
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    email_item = next(i for i in items if i.key == "contact:email")
    assert field == field_name(email_item)
    assert not Answer.objects.for_organization(org).exists()


def _invitation(org, link):
    contacts = ContactList.objects.create(organization=org, name="Customers", audience="customer")
    campaign = Campaign.objects.create(
        organization=org,
        name="Spring",
        questionnaire=link.questionnaire,
        audience="customer",
        contact_list=contacts,
        subjects={"en": "Hi"},
        bodies={"en": "{{ link }}"},
    )
    return SurveyInvitation.objects.create(
        organization=org, campaign=campaign, email="pekka@example.fi", name="Pekka"
    )


@pytest.mark.parametrize(("consent", "shown"), [("yes", True), ("no", False), (None, False)])
def test_an_invitation_responses_contact_is_shown_only_with_consent(
    org, analyst, journey, link, consent, shown
):
    invitation = _invitation(org, link)

    def attach(response):
        SurveyInvitation.objects.for_organization(org).filter(pk=invitation.pk).update(
            response=response
        )

    submit(link, journey, {CONSENT_KEY: consent} if consent else {}, on_stored=attach)
    process(org)
    contact, _alert = _contact_via_api(org, analyst)
    if shown:
        assert contact == {"name": "Pekka", "email": "pekka@example.fi", "phone": ""}
    else:
        assert contact is None


def test_contact_questions_are_one_line_inputs_phones_can_fill_in(link):
    from django.template.loader import render_to_string

    from apps.responses.views import _question

    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    by_key = {item.key: item for item in items}
    questions = {
        key: _question(by_key[key], "en", "en", [], None)
        for key in ("contact:name", "contact:email", "contact:phone", "comment")
        if key in by_key
    }
    assert questions["contact:name"]["input"] == ("text", "name")
    assert questions["contact:email"]["input"] == ("email", "email")
    assert questions["contact:phone"]["input"] == ("tel", "tel")
    assert questions.get("comment", {"input": None})["input"] is None  # comments stay textareas
    html = render_to_string(
        "responses/form.html", {"questions": [questions["contact:email"]], "steps": 1}
    )
    assert 'type="email"' in html and 'autocomplete="email"' in html and "<textarea" not in html

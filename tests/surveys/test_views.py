"""Questionnaire pages: both sides, publishing, and the respondent preview."""

import pytest
from django.test import Client

from apps.surveys.models import Questionnaire
from tests.journeys.helpers import b2b_journey

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(org, analyst):
    return b2b_journey(org, analyst)


@pytest.fixture
def analyst_client(analyst):
    client = Client()
    client.force_login(analyst)
    return client


@pytest.fixture
def questionnaire(analyst_client, journey, org):
    response = analyst_client.post(
        f"/o/acme/questionnaires/generate/{journey.pk}/",
        {"scale_lo": "1", "scale_hi": "5", "comments": "on"},
    )
    assert response.status_code == 302
    return Questionnaire.objects.for_organization(org).get()


def test_generate_with_bad_scale_names_the_field(analyst_client, journey, org):
    response = analyst_client.post(
        f"/o/acme/questionnaires/generate/{journey.pk}/", {"scale_lo": "5", "scale_hi": "2"}
    )
    assert response.status_code == 400
    assert "scale_hi" in response.context["form"].errors
    assert Questionnaire.objects.for_organization(org).count() == 0


def test_detail_shows_both_sides_and_publish(analyst_client, questionnaire):
    page = analyst_client.get(f"/o/acme/questionnaires/{questionnaire.pk}/")
    assert page.status_code == 200
    assert "How easy was it to deal with “Website”?" in page.text
    assert "How easy do you think customers find “Website”?" in page.text
    fi = analyst_client.get(f"/o/acme/questionnaires/{questionnaire.pk}/?language=fi")
    assert "Verkkosivusto" in fi.text
    response = analyst_client.post(f"/o/acme/questionnaires/{questionnaire.pk}/publish/")
    assert response.status_code == 302
    questionnaire.refresh_from_db()
    assert questionnaire.status == "published"
    page = analyst_client.get(f"/o/acme/questionnaires/{questionnaire.pk}/")
    assert "Edit (opens a new version)" in page.text


@pytest.mark.parametrize("audience", ["customer", "employee"])
@pytest.mark.parametrize("language", ["en", "fi"])
def test_preview_for_every_audience_and_language(analyst_client, questionnaire, audience, language):
    page = analyst_client.get(
        f"/o/acme/questionnaires/{questionnaire.pk}/preview/"
        f"?audience={audience}&language={language}"
    )
    assert page.status_code == 200
    html = page.text
    assert f'lang="{language}"' in html
    expected = {
        ("customer", "en"): "How easy was it to deal with “Website”?",
        ("employee", "en"): "How easy do you think customers find “Website”?",
        ("customer", "fi"): "Kuinka helppoa asiointi kohdassa ”Verkkosivusto” oli?",
        ("employee", "fi"): "Kuinka helppona arvioit asiakkaiden pitävän kohtaa ”Verkkosivusto”?",
    }[(audience, language)]
    assert expected in html
    assert 'value="na"' in html  # "not applicable" is offered on ratings
    assert html.count('type="radio" name="q') > 7 * 3 * 5
    assert "<script" not in html


def test_viewer_reads_but_cannot_publish_and_stranger_gets_404(
    viewer_client, stranger_client, questionnaire
):
    assert viewer_client.get(f"/o/acme/questionnaires/{questionnaire.pk}/").status_code == 200
    assert (
        viewer_client.post(f"/o/acme/questionnaires/{questionnaire.pk}/publish/").status_code == 403
    )
    questionnaire.refresh_from_db()
    assert questionnaire.status == "draft"
    for url in (f"/o/acme/questionnaires/{questionnaire.pk}/",
                f"/o/rival/questionnaires/{questionnaire.pk}/",
                f"/o/rival/questionnaires/{questionnaire.pk}/preview/"):  # fmt: skip
        assert stranger_client.get(url).status_code == 404


def test_unpaired_item_is_flagged_and_publish_refused(analyst_client, questionnaire, org):
    from apps.journeys.models import Touchpoint

    website = Touchpoint.objects.for_organization(org).get(name="Website")
    response = analyst_client.post(
        f"/o/acme/questionnaires/{questionnaire.pk}/items/new/",
        {"audience": "customer", "kind": "text", "touchpoint": website.pk,
         "text_en": "What did you look for?", "text_fi": "Mitä etsit?"},
    )  # fmt: skip
    assert response.status_code == 302
    page = analyst_client.get(f"/o/acme/questionnaires/{questionnaire.pk}/")
    assert "no matching twin" in page.text
    analyst_client.post(f"/o/acme/questionnaires/{questionnaire.pk}/publish/")
    questionnaire.refresh_from_db()
    assert questionnaire.status == "draft"


def test_item_edit_form_changes_wording(analyst_client, questionnaire, org):
    item = questionnaire.versions.get().items.get(audience="customer", key="nps")
    page = analyst_client.get(f"/o/acme/questionnaires/items/{item.pk}/")
    assert page.status_code == 200
    response = analyst_client.post(
        f"/o/acme/questionnaires/items/{item.pk}/",
        {"text_en": "Would you recommend us?", "text_fi": "Suosittelisitko meitä?",
         "required": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.texts == {"en": "Would you recommend us?", "fi": "Suosittelisitko meitä?"}
    bad = analyst_client.post(
        f"/o/acme/questionnaires/items/{item.pk}/", {"text_en": "", "text_fi": "X"}
    )
    assert bad.status_code == 400 and "text_en" in bad.context["form"].errors


def test_pages_keep_query_counts_flat(analyst_client, questionnaire, django_assert_max_num_queries):
    for url in (f"/o/acme/questionnaires/{questionnaire.pk}/",
                f"/o/acme/questionnaires/{questionnaire.pk}/preview/",
                f"/o/acme/journeys/{questionnaire.journey_id}/"):  # fmt: skip
        with django_assert_max_num_queries(20):
            assert analyst_client.get(url).status_code == 200

"""The email distribution API: lists, contacts, an import by file, a campaign from draft to
sent with its figures, and the roles that may use each part."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.distribution.models import InvitationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.DISTRIBUTION_SEND_RATE = 0


def test_from_a_list_to_a_sent_campaign_through_the_api(
    analyst_api, viewer_api, questionnaire, django_capture_on_commit_callbacks
):
    base = "/api/v1/o/acme"
    created = analyst_api.post(f"{base}/contact-lists/", {"name": "Buyers",
                                                          "audience": "customer"})  # fmt: skip
    assert created.status_code == 201
    list_id = created.json()["id"]
    added = analyst_api.post(f"{base}/contacts/", {
        "contact_list": list_id, "email": "a@example.com", "name": "Anna",
        "attributes": {"region": "North"}}, format="json")  # fmt: skip
    assert added.status_code == 201 and added.json()["opted_out"] is False
    bad = analyst_api.post(f"{base}/contacts/", {"contact_list": list_id, "email": "x"},
                           format="json")  # fmt: skip
    assert bad.status_code == 400 and "email" in bad.json()["error"]["fields"]

    upload = SimpleUploadedFile("more.csv", b"email;region\nb@example.com;South\nbad;x\n")
    form = {"contact_list": list_id, "file": upload}
    uploaded = analyst_api.post(f"{base}/contact-imports/", form, format="multipart")
    assert uploaded.status_code == 201
    body = uploaded.json()
    assert body["columns"] == ["email", "region"] and body["delimiter"] == ";"
    assert body["mapping"] == {"0": "email", "1": "attr:region"}
    with django_capture_on_commit_callbacks(execute=True):
        started = analyst_api.post(f"{base}/contact-imports/{body['id']}/start/",
                                   {"mapping": body["mapping"]}, format="json")  # fmt: skip
    assert started.status_code == 202
    report = analyst_api.get(f"{base}/contact-imports/{body['id']}/").json()
    assert (report["status"], report["created_rows"], report["rejected_rows"]) == ("done", 1, 1)
    assert report["rejected"][0][0] == 3
    listed = analyst_api.get(f"{base}/contacts/", {"list": list_id, "q": "south"}).json()
    assert [c["email"] for c in listed["results"]] == ["b@example.com"]

    draft = analyst_api.post(f"{base}/campaigns/", {
        "name": "API", "questionnaire": questionnaire.pk, "contact_list": list_id,
        "subjects": {"en": "Hello {{ name }}"}, "bodies": {"en": "{{ link }}"},
        "reminder_after_days": 5, "reminder_max": 1}, format="json")  # fmt: skip
    assert draft.status_code == 201, draft.json()
    campaign_id = draft.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        sent = analyst_api.post(f"{base}/campaigns/{campaign_id}/send/", {}, format="json")
    assert sent.status_code == 200
    assert sorted(m.to[0] for m in mail.outbox) == ["Anna <a@example.com>", "b@example.com"]
    figures = viewer_api.get(f"{base}/campaigns/{campaign_id}/").json()["figures"]
    assert figures["total"] == 2 and figures["counts"][InvitationStatus.SENT] == 2
    assert figures["response_rate"] == 0.0
    # Viewers read figures, not addresses, and change nothing.
    assert viewer_api.get(f"{base}/campaigns/{campaign_id}/invitations/").status_code == 403
    assert viewer_api.post(f"{base}/campaigns/{campaign_id}/stop/").status_code == 403
    assert viewer_api.get(f"{base}/contact-lists/").status_code == 403
    people = analyst_api.get(f"{base}/campaigns/{campaign_id}/invitations/").json()["results"]
    assert {p["email"] for p in people} == {"a@example.com", "b@example.com"}
    again = analyst_api.post(f"{base}/campaigns/{campaign_id}/send/", {}, format="json")
    assert again.status_code == 409


def test_a_campaign_on_a_closed_questionnaire_is_a_400_naming_the_field(
    analyst_api, org, analyst, questionnaire
):
    from apps.surveys.services import questionnaire_close
    from tests.distribution.mail_fixtures import contact_list
    from tests.journeys.helpers import principal

    target = contact_list(org, analyst, people=[("a@example.com",)])
    questionnaire_close(organization=org, actor=principal(org, analyst),
                        questionnaire=questionnaire)  # fmt: skip
    response = analyst_api.post("/api/v1/o/acme/campaigns/", {
        "name": "Late", "questionnaire": questionnaire.pk, "contact_list": target.pk},
        format="json")  # fmt: skip
    assert response.status_code == 400
    assert "questionnaire" in response.json()["error"]["fields"]

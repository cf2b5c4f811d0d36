"""Campaigns sent to a real SMTP server: recipients, languages, headers, the personal link
answered end to end, reminders, test messages, scheduling, and refusals of bad input."""

import datetime
import re

import pytest
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.core.errors import ValidationFailed
from apps.distribution import campaign_services, tasks
from apps.distribution.models import (
    Campaign,
    CampaignStatus,
    InvitationStatus,
    SurveyInvitation,
)
from apps.responses.models import Response
from apps.surveys.services import questionnaire_close
from tests.distribution.mail_fixtures import MESSAGES, campaign, contact_list, send
from tests.journeys.helpers import principal
from tests.responses.helpers import form_fields, full_answers

pytestmark = pytest.mark.django_db

PEOPLE = [
    ("aino@example.com", "Aino", "fi", {"region": "North"}),
    ("ben@example.com", "Ben", "en", {"region": "South"}),
    ("cleo@example.com", "Cleo", "", {"region": "North"}),
]


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.RESPONDENT_MIN_SECONDS = 0
    settings.DISTRIBUTION_SEND_RATE = 0  # no throttling unless a test asks for it
    settings.SITE_URL = "http://testserver"


def invitations(created):
    return SurveyInvitation.objects.for_organization(created.organization_id).filter(
        campaign=created
    )


def sent_campaign(org, analyst, questionnaire, capture, people=PEOPLE, **kwargs):
    contacts = contact_list(org, analyst, people=people)
    created = campaign(org, analyst, questionnaire, contacts, **{**MESSAGES, **kwargs})
    with capture(execute=True):
        send(org, analyst, created)
    created.refresh_from_db()
    return created


def answer(client, path, link, **extra):
    page = client.get(path, **extra)
    assert page.status_code == 200, page.status_code
    payload = {**form_fields(page.content.decode()), **full_answers(link), "step": "2",
               "action": "submit"}  # fmt: skip
    return client.post(path, payload)


def test_each_recipient_gets_one_personal_email_in_their_language(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    assert created.status == CampaignStatus.SENT
    assert sorted(r.to for r in smtp.sink.received) == sorted(p[0] for p in PEOPLE)
    aino, ben, cleo = (smtp.sink.to(p[0])[0] for p in PEOPLE)
    assert aino.message["Subject"] == "Kerro miten meni"
    assert aino.message["Content-Language"] == "fi"
    assert "Hei Aino," in aino.text and "?lang=fi" in aino.text
    assert ben.message["Subject"] == "Tell Acme Oy how it went"
    assert "Hello Ben from South," in ben.text and "?lang=en" in ben.text
    # No language known: the default language (the organisation's, English).
    assert cleo.message["Content-Language"] == "en"
    assert ben.message["From"] == f'"Acme Oy" <{"noreply@localhost"}>' or "Acme Oy" in str(
        ben.message["From"]
    )
    tokens = {r.survey_token for r in smtp.sink.received}
    assert len(tokens) == 3 and all(len(t) >= 32 for t in tokens)  # 192 random bits each
    assert set(invitations(created).values_list("status", flat=True)) == {InvitationStatus.SENT}
    assert AuditEntry.objects.for_organization(org).filter(action="campaign.sent").count() == 1


def test_every_email_has_one_click_unsubscribe_headers_and_links(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    for received in smtp.sink.received:
        token = received.survey_token
        url = f"http://testserver/unsubscribe/{token}/"
        # (a long header is folded onto a second line; unfolded it is the one URL)
        assert received.message["List-Unsubscribe"].strip() == f"<{url}>"
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert url in received.text and f'href="{url}"' in received.html
        assert f"http://testserver/s/{token}/" in received.html


def test_the_personal_link_takes_one_response_carrying_the_contacts_attributes(
    smtp, client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    received = smtp.sink.to("ben@example.com")[0]
    result = answer(client, received.survey_path, created.link)
    assert result.status_code == 302
    assert result["Location"].startswith(f"{received.survey_path}thanks/")
    assert client.get(result["Location"]).status_code == 200
    response = Response.objects.for_organization(org).get()
    assert response.segment == {"region": "South"}
    assert response.link_id == created.link_id  # the campaign's link, for reporting
    invitation = invitations(created).get(email="ben@example.com")
    assert invitation.status == InvitationStatus.RESPONDED
    assert invitation.response_id == response.pk and invitation.responded_at is not None
    # Once used, the link says so, and a second form sent in stores nothing.
    again = client.get(received.survey_path)
    assert "already been answered" in again.content.decode()
    second = answer_with_fresh_stamp(client, received.survey_path, created.link)
    assert second.status_code == 400
    assert "already been answered" in second.content.decode()
    assert Response.objects.for_organization(org).count() == 1


def answer_with_fresh_stamp(client, path, link):
    """A second tab opened before the first one was sent: a valid form of its own."""
    from django.core import signing

    from apps.responses.views import STAMP_SALT

    stamp = signing.dumps(
        {"l": link.pk, "v": link.questionnaire.published_version_id,
         "k": "0" * 31 + "1", "t": 0, "s": {}},
        salt=STAMP_SALT,
    )  # fmt: skip
    payload = {"stamp": stamp, "lang": "en", **full_answers(link), "step": "2",
               "action": "submit"}  # fmt: skip
    return client.post(path, payload)


def test_the_campaigns_own_link_takes_no_answers(
    smtp, client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    assert client.get(f"/s/{created.link.token}/").status_code == 410
    # ...and it is not listed with the public links.
    page = client.get("/o/acme/links/")
    assert created.link.token not in page.content.decode()


def test_a_stopped_campaign_closes_its_links(
    smtp, client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    campaign_services.campaign_stop(organization=org, actor=principal(org, analyst),
                                    campaign=created)  # fmt: skip
    path = smtp.sink.received[0].survey_path
    assert client.get(path).status_code == 410


def test_employee_invitations_record_only_that_they_were_used(
    smtp, client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    org.employee_anonymity_min = 2
    org.save()
    people = [(f"e{i}@example.com", f"E{i}", "en", {"team": "Sales" if i < 3 else f"Solo{i}"})
              for i in range(4)]  # fmt: skip
    contacts = contact_list(org, analyst, audience="employee", people=people, name="Staff")
    created = campaign(org, analyst, questionnaire, contacts, name="Staff view")
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, created)
    created.refresh_from_db()
    received = smtp.sink.to("e3@example.com")[0]
    assert "anonymous" in received.text
    # The team of one is dropped: it would name the person.
    assert invitations(created).get(email="e3@example.com").attributes == {}
    assert invitations(created).get(email="e0@example.com").attributes == {"team": "Sales"}
    result = answer(client, smtp.sink.to("e0@example.com")[0].survey_path, created.link)
    assert result.status_code == 302
    response = Response.objects.for_organization(org).get()
    assert response.audience == "employee" and response.segment == {"team": "Sales"}
    assert response.submitted_at is None and response.ip_address is None
    used = invitations(created).get(email="e0@example.com")
    assert used.status == InvitationStatus.RESPONDED
    assert used.response_id is None and used.responded_at is None


def test_reminders_go_only_to_those_who_have_not_answered_at_most_k_times(
    smtp, client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = sent_campaign(
        org, analyst, questionnaire, django_capture_on_commit_callbacks,
        reminder_after_days=3, reminder_max=2,
    )  # fmt: skip
    answer(client, smtp.sink.to("ben@example.com")[0].survey_path, created.link)
    client.post(f"/unsubscribe/{smtp.sink.to('cleo@example.com')[0].survey_token}/")

    def age(days):
        invitations(created).update(last_sent_at=timezone.now() - datetime.timedelta(days=days))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()  # not due yet
    assert smtp.sink.count == 3
    for round_ in (1, 2, 3):
        age(4)
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sweep()
        expected = min(round_, 2)
        assert len(smtp.sink.to("aino@example.com")) == 1 + expected
    reminders = smtp.sink.to("aino@example.com")[1:]
    assert all(r.message["Subject"].startswith("Muistutus") or "Reminder" in
               r.message["Subject"] for r in reminders)  # fmt: skip
    assert len(smtp.sink.to("ben@example.com")) == 1  # answered
    assert len(smtp.sink.to("cleo@example.com")) == 1  # opted out
    aino = invitations(created).get(email="aino@example.com")
    assert aino.sent_count == 3 and aino.status == InvitationStatus.SENT


def test_opted_out_addresses_receive_nothing_ever_again(
    smtp, client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    first = sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    token = smtp.sink.to("ben@example.com")[0].survey_token
    one_click = client.post(
        f"/unsubscribe/{token}/", "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert one_click.status_code == 200
    assert invitations(first).get(email="ben@example.com").status == InvitationStatus.OPTED_OUT
    smtp.sink.received.clear()
    contacts = first.contact_list
    second = campaign(org, analyst, questionnaire, contacts, name="Autumn", **MESSAGES)
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, second)
    assert sorted(r.to for r in smtp.sink.received) == ["aino@example.com", "cleo@example.com"]
    assert not invitations(second).filter(email="ben@example.com").exists()


def test_a_test_message_goes_to_the_sender_only(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    address = campaign_services.campaign_test_send(
        organization=org, actor=principal(org, analyst), campaign=created, language="fi"
    )
    assert address == analyst.email
    (received,) = smtp.sink.received
    assert received.to == analyst.email
    assert received.message["Subject"] == "[Test] Kerro miten meni"
    assert "Hei Aino," in received.text  # the first person on the list, as a sample
    created.refresh_from_db()
    assert created.status == CampaignStatus.DRAFT
    assert not invitations(created).exists()


def test_a_scheduled_campaign_starts_at_its_time(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    at = timezone.now() + datetime.timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, created, send_at=at)
        tasks.sweep()
    created.refresh_from_db()
    assert created.status == CampaignStatus.SCHEDULED and smtp.sink.count == 0
    Campaign.objects.for_organization(org).filter(pk=created.pk).update(
        scheduled_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    created.refresh_from_db()
    assert created.status == CampaignStatus.SENT and smtp.sink.count == 3


def test_a_filter_picks_recipients_by_attribute(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks,
                  filters={"region": ["North"]})  # fmt: skip
    assert sorted(r.to for r in smtp.sink.received) == ["aino@example.com", "cleo@example.com"]


def test_sending_keeps_to_the_organisations_rate(
    smtp, settings, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    settings.DISTRIBUTION_SEND_RATE = 4
    people = [(f"p{i}@example.com", "", "", {"region": "X"}) for i in range(9)]
    sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks, people=people)
    assert smtp.sink.count == 9
    # The throttle counts per second of the sender's clock; the sink stamps arrivals a little
    # later, so a second's last message may land in the sink's next second. What must hold:
    # 9 messages at 4 per second take three sender seconds, so arrivals span more than one
    # second (unthrottled they arrive within a few milliseconds), and no sink second holds more
    # than two sender seconds' worth.
    arrivals = sorted(received.at for received in smtp.sink.received)
    assert arrivals[-1] - arrivals[0] > 1.0
    per_second: dict[int, int] = {}
    for at in arrivals:
        per_second[int(at)] = per_second.get(int(at), 0) + 1
    assert max(per_second.values()) <= 8


# --- bad input: clear errors, nothing changed ------------------------------------------------


def _error(fn, **kwargs):
    with pytest.raises(ValidationFailed) as caught:
        fn(**kwargs)
    return caught.value


def test_unknown_placeholders_and_a_missing_link_are_refused(org, analyst, questionnaire):
    contacts = contact_list(org, analyst, people=PEOPLE)
    error = _error(
        campaign, org=org, user=analyst, questionnaire=questionnaire, contacts=contacts,
        subjects={"en": "Hi {{ nmae }}"}, bodies={"en": "No link here {{ shoe_size }}"},
    )  # fmt: skip
    assert "{{ nmae }}" in error.fields["subject_en"][0]
    assert any("{{ shoe_size }}" in m for m in error.fields["body_en"])
    assert any("{{ link }}" in m for m in error.fields["body_en"])
    unclosed = _error(campaign, org=org, user=analyst, questionnaire=questionnaire,
                      contacts=contacts, subjects={"en": "Hi {{ name"},
                      bodies={"en": "{{ link }}"})  # fmt: skip
    assert "not closed" in unclosed.fields["subject_en"][0]
    assert not Campaign.objects.for_organization(org).exists()


def test_a_campaign_on_a_closed_questionnaire_is_refused(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    questionnaire_close(organization=org, actor=principal(org, analyst),
                        questionnaire=questionnaire)  # fmt: skip
    created.refresh_from_db()
    error = _error(send, org=org, user=analyst, created=created)
    assert "closed" in error.message and "questionnaire" in error.fields
    created.refresh_from_db()
    assert created.status == CampaignStatus.DRAFT and created.link_id is None
    questionnaire.refresh_from_db()
    again = _error(campaign, org=org, user=analyst, questionnaire=questionnaire,
                   contacts=contacts)  # fmt: skip
    assert "questionnaire" in again.fields
    assert smtp.sink.count == 0


def test_a_questionnaire_closed_before_a_scheduled_start_cancels_the_campaign(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    send(org, analyst, created, send_at=timezone.now() + datetime.timedelta(hours=1))
    questionnaire_close(organization=org, actor=principal(org, analyst),
                        questionnaire=questionnaire)  # fmt: skip
    Campaign.objects.for_organization(org).filter(pk=created.pk).update(scheduled_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    created.refresh_from_db()
    assert created.status == CampaignStatus.CANCELLED and "closed" in created.error
    assert smtp.sink.count == 0 and not invitations(created).exists()


def test_a_list_of_the_other_side_and_an_empty_audience_are_refused(org, analyst, questionnaire):
    contacts = contact_list(org, analyst, people=[("a@example.com",)])
    created = campaign(org, analyst, questionnaire, contacts, filters={})
    error = _error(
        campaign_services.campaign_update, organization=org, actor=principal(org, analyst),
        campaign=created, filters={"region": ["North"]},
    )  # fmt: skip
    assert "region" in error.fields["filters"][0]
    # Everyone opted out: nobody to send to.
    from apps.distribution.contact_services import suppression_add
    from tests.factories import MembershipFactory

    admin = MembershipFactory(organization=org, role="admin").user
    suppression_add(organization=org, actor=principal(org, admin), email="a@example.com")
    error = _error(send, org=org, user=analyst, created=created)
    assert "filters" in error.fields
    created.refresh_from_db()
    assert created.status == CampaignStatus.DRAFT


def test_messages_render_placeholders_as_text_and_escape_html(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    people = [("x@example.com", "<b>Eve</b> & co", "en", {"region": "=cmd|' /C calc'!A0"})]
    sent_campaign(org, analyst, questionnaire, django_capture_on_commit_callbacks, people=people)
    (received,) = smtp.sink.received
    assert "Hello <b>Eve</b> & co from =cmd" in received.text
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in received.html
    assert not re.search(r"<b>Eve", received.html)

"""The campaign pages: create, write the message, preview, test, send now or at a time (in the
organisation's time zone), the campaign page with its figures, and who sees what."""

import datetime
import zoneinfo

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.distribution.models import Campaign, CampaignStatus, InvitationStatus, SurveyInvitation
from tests.distribution.mail_fixtures import MESSAGES, campaign, contact_list, send

pytestmark = pytest.mark.django_db
HELSINKI = zoneinfo.ZoneInfo("Europe/Helsinki")  # the organisation's default time zone

PEOPLE = [("aino@example.com", "Aino", "fi", {"region": "North"}),
          ("ben@example.com", "Ben", "en", {"region": "South"})]  # fmt: skip


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.DISTRIBUTION_SEND_RATE = 0


@pytest.fixture
def analyst_client(analyst):
    client = Client()
    client.force_login(analyst)
    return client


def test_from_a_new_campaign_to_sent_through_the_pages(
    analyst_client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    new = analyst_client.get("/o/acme/campaigns/new/")
    assert new.status_code == 200 and questionnaire.name in new.content.decode()
    first = {"name": "Spring", "questionnaire": questionnaire.pk, "contact_list": contacts.pk}
    created = analyst_client.post("/o/acme/campaigns/new/", first)
    assert created.status_code == 302 and created["Location"].endswith("/edit/")
    item = Campaign.objects.for_organization(org).get()
    assert "{{ link }}" in item.bodies["en"]  # the default wording to start from
    edit = analyst_client.get(created["Location"]).content.decode()
    assert "Only region" in edit and "{{ region }}" in edit
    form = {
        "name": "Spring", "default_language": "en", "filter_region": "North, South",
        "subject_en": MESSAGES["subjects"]["en"], "body_en": MESSAGES["bodies"]["en"],
        "subject_fi": MESSAGES["subjects"]["fi"], "body_fi": MESSAGES["bodies"]["fi"],
        "reminder_after_days": "3", "reminder_max": "1",
    }  # fmt: skip
    bad = analyst_client.post(created["Location"], {**form, "body_fi": "Hei {{ nimi }}"})
    assert bad.status_code == 400
    assert "There is no placeholder {{ nimi }}" in bad.content.decode()
    saved = analyst_client.post(created["Location"], form)
    assert saved.status_code == 302 and saved["Location"].endswith("/preview/")
    item.refresh_from_db()
    assert item.filters == {"region": ["North", "South"]} and item.reminder_max == 1
    preview = analyst_client.get(saved["Location"]).content.decode()
    assert "Kerro miten meni" in preview and "Tell Acme Oy how it went" in preview
    assert "2 people will be invited" in preview
    tested = analyst_client.post(f"/o/acme/campaigns/{item.pk}/test/", {"language": "fi"})
    assert tested.status_code == 302
    assert [m.to for m in mail.outbox] == [[analyst.email]]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sent = analyst_client.post(f"/o/acme/campaigns/{item.pk}/send/", {"when": "now"})
    assert sent.status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["Aino <aino@example.com>",
                                                   "Ben <ben@example.com>"]  # fmt: skip
    page = analyst_client.get(f"/o/acme/campaigns/{item.pk}/").content.decode()
    assert "response rate" in page and "aino@example.com" in page


def test_a_time_is_read_in_the_organisations_time_zone(analyst_client, org, analyst, questionnaire):
    contacts = contact_list(org, analyst, people=PEOPLE)
    item = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    day = (timezone.now() + datetime.timedelta(days=40)).astimezone(HELSINKI).date()
    later = analyst_client.post(f"/o/acme/campaigns/{item.pk}/send/",
                                {"when": "later", "send_at": f"{day}T09:30"})  # fmt: skip
    assert later.status_code == 302
    item.refresh_from_db()
    assert item.status == CampaignStatus.SCHEDULED
    expected = datetime.datetime.combine(day, datetime.time(9, 30), tzinfo=HELSINKI)
    assert item.scheduled_at == expected and item.scheduled_at.tzinfo is not None
    missing = Campaign.objects.for_organization(org).filter(pk=item.pk)
    missing.update(status=CampaignStatus.DRAFT)
    no_time = analyst_client.post(f"/o/acme/campaigns/{item.pk}/send/", {"when": "later"})
    assert no_time.status_code == 400 and "Choose the time." in no_time.content.decode()
    missing.update(status=CampaignStatus.SCHEDULED)
    back = analyst_client.post(f"/o/acme/campaigns/{item.pk}/unschedule/")
    assert back.status_code == 302
    item.refresh_from_db()
    assert item.status == CampaignStatus.DRAFT and item.scheduled_at is None


def test_viewers_read_the_figures_but_see_no_addresses_and_change_nothing(
    viewer_client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    item = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, item)
    page = viewer_client.get(f"/o/acme/campaigns/{item.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "response rate" in html and "aino@example.com" not in html
    assert viewer_client.get("/o/acme/campaigns/").status_code == 200
    assert viewer_client.post(f"/o/acme/campaigns/{item.pk}/stop/").status_code == 403
    assert viewer_client.get(f"/o/acme/campaigns/{item.pk}/preview/").status_code == 403


def test_admins_see_uncertain_deliveries_and_settle_them(
    admin_client_, analyst_client, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    contacts = contact_list(org, analyst, people=PEOPLE)
    item = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, item)
    rows = SurveyInvitation.objects.for_organization(org).filter(campaign=item)
    rows.filter(email="ben@example.com").update(status=InvitationStatus.UNCERTAIN,
                                                error="The worker stopped")  # fmt: skip
    ben = rows.get(email="ben@example.com")
    admin_page = admin_client_.get(f"/o/acme/campaigns/{item.pk}/").content.decode()
    assert "Uncertain deliveries" in admin_page and "may or may not have arrived" in admin_page
    analyst_page = analyst_client.get(f"/o/acme/campaigns/{item.pk}/").content.decode()
    assert "Uncertain deliveries" not in analyst_page
    url = f"/o/acme/campaigns/invitations/{ben.pk}/mark-sent/"
    assert analyst_client.post(url).status_code == 403
    assert admin_client_.post(url).status_code == 302
    ben.refresh_from_db()
    assert ben.status == InvitationStatus.SENT and ben.sent_count == 2

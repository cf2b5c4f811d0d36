"""Retention: personal data older than the organisation's period is anonymised or deleted by
a daily, idempotent, audited run; aggregates and anonymous answers stay."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.alerts.consent import CONSENT_KEY
from apps.alerts.models import Alert, AlertEvent
from apps.audit.models import AuditEntry
from apps.distribution.models import Contact, ContactImport, Suppression, SurveyInvitation
from apps.organizations.models import Invitation
from apps.privacy import tasks
from apps.privacy.models import DEFAULT_RETENTION_MONTHS, PrivacySettings, RetentionRun
from apps.privacy.services import retention_run
from apps.reports.models import DeliveryRecipient, ScheduleRecipient
from apps.responses.models import Answer, Response
from apps.scoring.filters import default_filter
from apps.scoring.selectors import gap_report
from apps.webhooks.models import WebhookEvent

from .conftest import EMAIL, submit, tables_mentioning

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# The default period (24 months) and a little more.
LATER = timedelta(days=800)


def _report(org, journey):
    from apps.scoring.filters import organization_today

    today = organization_today(org)  # the organisation's day (Helsinki is ahead of UTC)
    return gap_report(
        organization=org, journey=journey, report_filter=default_filter(org, today=today)
    )


def test_a_run_forgets_old_personal_data_and_keeps_the_figures(org, traces, link, journey):
    for rating in ("2", "4", "5"):
        submit(link, journey, {"overall": rating})
    before = _report(org, journey)
    anonymous_texts = sorted(
        Answer.objects.for_organization(org)
        .exclude(item__key__startswith="contact:")
        .values_list("response_id", "item_id", "value", "text", "choices")
    )

    run = retention_run(organization=org, now=timezone.now() + LATER)

    assert run.retention_months == DEFAULT_RETENTION_MONTHS
    assert run.counts == {
        "contacts_deleted": 1, "invitation_addresses": 1, "import_files": 1,
        "member_invitation_addresses": 1, "contact_answers": 3, "response_addresses": 4,
        "alert_notes": 1, "alert_event_notes": 1, "schedule_recipients_deleted": 0,
        "report_delivery_addresses": 1, "webhook_bodies": 1, "webhook_responses": 0,
    }  # fmt: skip
    assert not Contact.objects.for_organization(org).exists()
    invitation = SurveyInvitation.objects.for_organization(org).get()
    assert (invitation.status, invitation.name) == ("sent", "")
    assert invitation.email == f"retained-{invitation.pk}@erased.invalid"
    assert Invitation.objects.for_organization(org).get().email.endswith("@erased.invalid")
    assert DeliveryRecipient.objects.for_organization(org).get().email.endswith("@erased.invalid")
    assert ContactImport.objects.for_organization(org).get().rejected == []
    assert set(
        Answer.objects.for_organization(org)
        .filter(item__key__in=["contact:name", "contact:email", "contact:phone"])
        .values_list("text", flat=True)
    ) == {""}
    consent = Answer.objects.for_organization(org).get(
        response=traces.response, item__key=CONSENT_KEY
    )
    assert consent.choices == ["yes"]
    assert not Response.objects.for_organization(org).exclude(ip_address=None).exists()
    assert set(Response.objects.for_organization(org).values_list("user_agent", flat=True)) == {""}
    assert Alert.objects.for_organization(org).get().resolution_note == ""
    assert AlertEvent.objects.for_organization(org).get().data == {"from": "new", "to": "resolved"}
    assert WebhookEvent.objects.for_organization(org).get().body == ""
    # What stays: the opt-out, the anonymous answers, the figures.
    assert Suppression.objects.for_organization(org).filter(email=EMAIL).exists()
    assert (
        sorted(
            Answer.objects.for_organization(org)
            .exclude(item__key__startswith="contact:")
            .values_list("response_id", "item_id", "value", "text", "choices")
        )
        == anonymous_texts
    )
    assert _report(org, journey) == before
    assert before.touchpoints and any(row.customer.n for row in before.touchpoints)
    # Audited, with the counts.
    entry = AuditEntry.objects.for_organization(org).get(action="privacy.retention_run")
    assert entry.data["contacts_deleted"] == 1 and entry.target_id == str(run.pk)
    # Left in the audit log (append-only history), the suppression list (the opt-out) and
    # the schedule that still emails the address; once unsubscribed, that goes too.
    assert set(tables_mentioning(org.pk, EMAIL)) <= {
        "distribution_suppression.email",
        "audit_auditentry.target_label",
        "audit_auditentry.data",
        "reports_schedulerecipient.email",
    }
    ScheduleRecipient.objects.for_organization(org).update(unsubscribed_at=timezone.now())
    run = retention_run(organization=org, now=timezone.now() + LATER)
    assert run.total == run.counts["schedule_recipients_deleted"] == 1
    assert "reports_schedulerecipient.email" not in tables_mentioning(org.pk, EMAIL)


def test_a_second_run_changes_nothing(org, traces):
    retention_run(organization=org, now=timezone.now() + LATER)
    again = retention_run(organization=org, now=timezone.now() + LATER)
    assert set(again.counts.values()) == {0}
    assert RetentionRun.objects.for_organization(org).count() == 2


def test_data_inside_the_period_is_kept(org, traces):
    run = retention_run(organization=org, now=timezone.now() + timedelta(days=30))
    assert set(run.counts.values()) == {0}
    assert Contact.objects.for_organization(org).count() == 1
    assert Response.objects.for_organization(org).get().ip_address == "203.0.113.9"


def test_a_shorter_period_forgets_sooner(org, admin, traces):
    client = APIClient()
    client.force_authenticate(admin)
    url = reverse("api:privacy-retention", kwargs={"org_slug": org.slug})
    assert client.put(url, {"retention_months": 1}, format="json").json() == {"retention_months": 1}
    run = retention_run(organization=org, now=timezone.now() + timedelta(days=45))
    assert run.counts["contacts_deleted"] == 1
    entry = AuditEntry.objects.for_organization(org).get(action="privacy.retention_changed")
    assert entry.data == {"retention_months": [DEFAULT_RETENTION_MONTHS, 1]}


def test_a_contact_invited_recently_is_kept(org, traces):
    SurveyInvitation.objects.for_organization(org).update(created_at=timezone.now() + LATER)
    run = retention_run(organization=org, now=timezone.now() + LATER)
    assert run.counts["contacts_deleted"] == 0
    assert run.counts["invitation_addresses"] == 0


@pytest.mark.parametrize("months", [0, 121, "many"])
def test_a_bad_period_is_refused_naming_the_field(org, admin, months):
    client = APIClient()
    client.force_authenticate(admin)
    url = reverse("api:privacy-retention", kwargs={"org_slug": org.slug})
    answer = client.put(url, {"retention_months": months}, format="json")
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == ["retention_months"]
    assert not PrivacySettings.objects.for_organization(org).exists()


def test_the_settings_page(org, admin, analyst, client):
    client.force_login(analyst)
    assert client.get(reverse("privacy:settings", args=[org.slug])).status_code == 403
    client.force_login(admin)
    page = client.get(reverse("privacy:settings", args=[org.slug]))
    assert page.status_code == 200 and b"retention_months" in page.content
    bad = client.post(reverse("privacy:settings", args=[org.slug]), {"retention_months": "0"})
    assert bad.status_code == 400
    saved = client.post(reverse("privacy:settings", args=[org.slug]), {"retention_months": "6"})
    assert saved.status_code == 302
    assert PrivacySettings.objects.for_organization(org).get().retention_months == 6


def test_the_daily_tick_runs_every_organisation(org, other_org):
    assert tasks.retention_tick() == 2  # tasks run eagerly in the test settings
    assert RetentionRun.objects.for_organization(org).count() == 1
    assert RetentionRun.objects.for_organization(other_org).count() == 1


def test_a_run_works_through_many_batches(org, traces, monkeypatch):
    from apps.privacy import services

    contacts = Contact.objects.for_organization(org).get().contact_list
    for n in range(5):
        Contact.objects.create(organization=org, contact_list=contacts, email=f"p{n}@example.fi")
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    run = retention_run(organization=org, now=timezone.now() + LATER)
    assert run.counts["contacts_deleted"] == 6
    assert not Contact.objects.for_organization(org).exists()


def test_retention_runs_daily_and_the_page_lists_the_runs(org, admin, client, settings):
    tick = settings.CELERY_BEAT_SCHEDULE["privacy-retention-tick"]
    assert (tick["task"], tick["schedule"]) == ("apps.privacy.tasks.retention_tick", 86400.0)
    retention_run(organization=org)
    client.force_login(admin)
    page = client.get(reverse("privacy:settings", args=[org.slug]))
    assert len(page.context["runs"]) == 1

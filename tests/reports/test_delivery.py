"""Sending a delivery: one message per recipient with the PDF attached and a personal unsubscribe
link, every step recorded, transient failures retried, and nothing ever sent twice, even when
the worker dies at any point."""

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.organizations.permissions import Principal
from apps.reports import delivery as delivery_module
from apps.reports import services
from apps.reports.models import (
    DeliveryRecipient,
    DeliveryStatus,
    ReportDelivery,
    ScheduleRecipient,
)
from tests.reports import report_data

pytestmark = pytest.mark.django_db

RECIPIENTS = ["anna@example.com", "ben@example.com", "cecilia@example.org"]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the task catches it, nothing after it runs."""


@pytest.fixture
def journey_and_touchpoints(org):
    return report_data.shape(org)


@pytest.fixture(autouse=True)
def fake_results(monkeypatch, journey_and_touchpoints):
    """The gap report the selectors would give (apps.scoring is tested on its own)."""
    journey, touchpoints = journey_and_touchpoints
    calls = []

    def gap_report(organization, journey_, report_filter, *, trend):
        calls.append(report_filter)
        return report_data.gap_report(journey, touchpoints)

    monkeypatch.setattr(services, "_gap_report", gap_report)
    return calls


@pytest.fixture
def schedule(org, analyst, journey_and_touchpoints):
    journey, _touchpoints = journey_and_touchpoints
    return services.schedule_create(
        organization=org,
        actor=Principal(organization=org, role="analyst", user=analyst),
        journey=journey,
        name="Weekly gap report",
        frequency="weekly",
        weekday=0,
        hour=8,
        period="last_7_days",
        language="en",
        recipients=RECIPIENTS,
    )


@pytest.fixture
def pending_delivery(org, schedule):
    return services._new_delivery(schedule, schedule.next_due_at, "scheduled")


def run(org, delivery, now=None):
    return delivery_module.delivery_run(organization=org, delivery_id=delivery.pk, now=now)


def statuses(delivery):
    return dict(
        DeliveryRecipient.objects.for_organization(delivery.organization_id)
        .filter(delivery=delivery)
        .values_list("email", "status")
    )


def sent_to():
    return sorted(address for message in mail.outbox for address in message.to)


def test_each_recipient_gets_their_own_message_with_the_pdf(org, pending_delivery, fake_results):
    outcome = run(org, pending_delivery)
    assert outcome.status == DeliveryStatus.SENT and not outcome.retry
    assert sent_to() == sorted(RECIPIENTS)
    assert all(len(message.to) == 1 for message in mail.outbox)
    tokens = set()
    for message in mail.outbox:
        (name, content, mimetype) = message.attachments[0]
        assert mimetype == "application/pdf" and content.startswith(b"%PDF-")
        assert name.endswith(".pdf")
        unsubscribe = message.extra_headers["List-Unsubscribe"]
        recipient = ScheduleRecipient.objects.for_organization(org).get(email=message.to[0])
        assert recipient.unsubscribe_token in unsubscribe
        assert recipient.unsubscribe_token in message.body
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        tokens.add(recipient.unsubscribe_token)
        assert "Staff rate Web shop" in message.body  # the top priorities, in plain words
        assert message.subject.startswith("Gap report: Home delivery")
    assert len(tokens) == 3
    pending_delivery.refresh_from_db()
    assert pending_delivery.status == DeliveryStatus.SENT
    assert pending_delivery.finished_at is not None and pending_delivery.pdf_id is not None
    assert set(statuses(pending_delivery).values()) == {DeliveryStatus.SENT}
    # The report covered the delivery's period.
    (report_filter,) = fake_results
    assert (report_filter.date_from, report_filter.date_to) == (
        pending_delivery.period_start,
        pending_delivery.period_end,
    )
    # Running it again sends nothing.
    assert run(org, pending_delivery).status == DeliveryStatus.SENT
    assert len(mail.outbox) == 3


def test_the_task_runs_the_delivery(org, pending_delivery):
    from apps.reports.tasks import send_delivery

    assert send_delivery.delay(organization_id=org.pk, delivery_id=pending_delivery.pk).get() == (
        DeliveryStatus.SENT
    )
    assert len(mail.outbox) == 3


def test_a_worker_killed_while_rendering_retries_and_sends_once(org, pending_delivery, monkeypatch):
    real = services.render_gap_report_pdf

    def killed(**kwargs):
        raise WorkerKilled

    monkeypatch.setattr(delivery_module, "render_gap_report_pdf", killed)
    with pytest.raises(WorkerKilled):
        run(org, pending_delivery)
    pending_delivery.refresh_from_db()
    assert pending_delivery.status == DeliveryStatus.RENDERING
    assert mail.outbox == []
    monkeypatch.setattr(delivery_module, "render_gap_report_pdf", real)
    assert run(org, pending_delivery).status == DeliveryStatus.SENT
    assert sent_to() == sorted(RECIPIENTS)


def test_a_worker_killed_before_the_hand_off_retries_and_nothing_is_sent_twice(
    org, pending_delivery, monkeypatch
):
    """Killed after the first message went out, before the second was handed over: the next
    run sends the second and third, and the first not again."""
    real_claim = delivery_module._claim_recipient
    claims = []

    def claim_then_die(organization, row_id, now):
        claims.append(row_id)
        if len(claims) == 2:
            raise WorkerKilled  # dies right before marking the second `sending`
        return real_claim(organization, row_id, now)

    monkeypatch.setattr(delivery_module, "_claim_recipient", claim_then_die)
    with pytest.raises(WorkerKilled):
        run(org, pending_delivery)
    assert len(mail.outbox) == 1
    states = statuses(pending_delivery)
    assert sorted(states.values()) == [DeliveryStatus.PENDING, DeliveryStatus.PENDING,
                                       DeliveryStatus.SENT]  # fmt: skip
    monkeypatch.setattr(delivery_module, "_claim_recipient", real_claim)
    assert run(org, pending_delivery).status == DeliveryStatus.SENT
    assert sent_to() == sorted(RECIPIENTS)  # each exactly once
    pending_delivery.refresh_from_db()
    assert pending_delivery.attempts == 2
    # The PDF was rendered once and reused.
    assert (
        DeliveryRecipient.objects.for_organization(org).filter(delivery=pending_delivery).count()
        == 3
    )


def test_a_worker_killed_during_the_hand_off_leaves_it_uncertain_never_resent(
    org, pending_delivery, monkeypatch
):
    real_send = delivery_module._send_one
    sends = []

    def send_then_die(connection, message):
        sends.append(message.to[0])
        if len(sends) == 2:
            raise WorkerKilled  # the server may or may not have the message
        return real_send(connection, message)

    monkeypatch.setattr(delivery_module, "_send_one", send_then_die)
    with pytest.raises(WorkerKilled):
        run(org, pending_delivery)
    uncertain_email = sends[1]
    assert statuses(pending_delivery)[uncertain_email] == DeliveryStatus.SENDING
    monkeypatch.setattr(delivery_module, "_send_one", real_send)

    # Right away, the `sending` one might still be in another worker's hands: left alone.
    outcome = run(org, pending_delivery)
    assert outcome.retry
    assert statuses(pending_delivery)[uncertain_email] == DeliveryStatus.SENDING
    assert uncertain_email not in sent_to()
    # Later it counts as left by a dead worker: uncertain, shown, not sent again.
    later = timezone.now() + timedelta(minutes=10)
    outcome = run(org, pending_delivery, now=later)
    assert outcome.status == DeliveryStatus.UNCERTAIN and not outcome.retry
    states = statuses(pending_delivery)
    assert states[uncertain_email] == DeliveryStatus.UNCERTAIN
    assert sorted(sent_to()) == sorted(e for e in RECIPIENTS if e != uncertain_email)
    pending_delivery.refresh_from_db()
    assert pending_delivery.status == DeliveryStatus.UNCERTAIN
    assert "2 of 3 sent" in pending_delivery.error
    # More runs change nothing.
    run(org, pending_delivery, now=later + timedelta(hours=1))
    assert len(mail.outbox) == 2


def test_a_transient_smtp_refusal_is_retried(org, pending_delivery, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    real_send = EmailBackend.send_messages
    refused = []

    def greylisting(self, messages):
        if messages[0].to[0] == "ben@example.com" and not refused:
            refused.append(messages[0].to[0])
            raise smtplib.SMTPRecipientsRefused({"ben@example.com": (451, b"Try again later")})
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", greylisting)
    outcome = run(org, pending_delivery)
    assert outcome.retry
    row = DeliveryRecipient.objects.for_organization(org).get(email="ben@example.com")
    assert row.status == DeliveryStatus.PENDING and "451" in row.error
    pending_delivery.refresh_from_db()
    assert pending_delivery.lease_until > timezone.now() + timedelta(seconds=60)
    assert run(org, pending_delivery).status == DeliveryStatus.SENT
    assert sent_to() == sorted(RECIPIENTS)


def test_a_permanent_refusal_fails_that_recipient_only(org, pending_delivery, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    real_send = EmailBackend.send_messages

    def no_such_mailbox(self, messages):
        if messages[0].to[0] == "cecilia@example.org":
            raise smtplib.SMTPDataError(550, b"No such user")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", no_such_mailbox)
    outcome = run(org, pending_delivery)
    assert outcome.status == DeliveryStatus.FAILED and not outcome.retry
    states = statuses(pending_delivery)
    assert states["cecilia@example.org"] == DeliveryStatus.FAILED
    assert states["anna@example.com"] == states["ben@example.com"] == DeliveryStatus.SENT


def test_an_unreachable_mail_server_changes_nothing_but_the_retry(
    org, pending_delivery, monkeypatch
):
    from django.core.mail.backends.locmem import EmailBackend

    def refuse(self):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(EmailBackend, "open", refuse, raising=False)
    for attempt in range(1, delivery_module.MAX_ATTEMPTS):
        outcome = run(org, pending_delivery)
        assert outcome.retry, attempt
        assert set(statuses(pending_delivery).values()) == {DeliveryStatus.PENDING}
    # The last attempt gives up: failed, said so, nothing sent.
    outcome = run(org, pending_delivery)
    assert outcome.status == DeliveryStatus.FAILED and not outcome.retry
    assert set(statuses(pending_delivery).values()) == {DeliveryStatus.FAILED}
    assert mail.outbox == []


def test_retry_delays_grow():
    assert [delivery_module.retry_delay(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert delivery_module.retry_delay(20) == 3600


def test_a_render_failure_is_recorded(org, pending_delivery, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("fonts missing")

    monkeypatch.setattr(delivery_module, "render_gap_report_pdf", broken)
    outcome = run(org, pending_delivery)
    assert outcome.retry
    pending_delivery.refresh_from_db()
    assert "fonts missing" in pending_delivery.error
    assert mail.outbox == []


# --- unsubscribing ------------------------------------------------------------------------------


def test_unsubscribing_asks_first_then_stops_that_recipient_only(org, schedule, pending_delivery):
    recipient = schedule.recipients.get(email="ben@example.com")
    url = reverse("reports_public:unsubscribe", args=[recipient.unsubscribe_token])
    client = Client(enforce_csrf_checks=True)
    page = client.get(url)  # a link scanner opening the link changes nothing
    assert page.status_code == 200 and "ben@example.com" in page.content.decode()
    recipient.refresh_from_db()
    assert recipient.unsubscribed_at is None
    # Mail clients' one-click unsubscribe posts without a form token (RFC 8058).
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "no longer receives" in response.content.decode()
    recipient.refresh_from_db()
    assert recipient.unsubscribed_at is not None
    run(org, pending_delivery)
    assert sent_to() == ["anna@example.com", "cecilia@example.org"]
    # Twice is fine; an unknown token is a plain 404 page.
    assert client.post(url).status_code == 200
    assert client.get(reverse("reports_public:unsubscribe", args=["x" * 32])).status_code == 404


def test_unsubscribing_between_rendering_and_sending_drops_the_message(
    org, schedule, pending_delivery, monkeypatch
):
    real_snapshot = delivery_module._snapshot_recipients

    def snapshot_then_unsubscribe(organization, delivery):
        real_snapshot(organization, delivery)
        token = schedule.recipients.get(email="anna@example.com").unsubscribe_token
        services.recipient_unsubscribe(token=token)

    monkeypatch.setattr(delivery_module, "_snapshot_recipients", snapshot_then_unsubscribe)
    assert run(org, pending_delivery).status == DeliveryStatus.SENT
    assert sent_to() == ["ben@example.com", "cecilia@example.org"]


def test_when_everyone_has_unsubscribed_the_delivery_says_so(org, schedule, pending_delivery):
    for recipient in schedule.recipients.all():
        services.recipient_unsubscribe(token=recipient.unsubscribe_token)
    outcome = run(org, pending_delivery)
    assert outcome.status == DeliveryStatus.FAILED
    pending_delivery.refresh_from_db()
    assert "unsubscribed" in pending_delivery.error
    assert mail.outbox == []


# --- "send now" and the schedule page ------------------------------------------------------


def test_send_now_from_the_page_sends_and_shows_each_status(
    org, analyst, schedule, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:schedule_send", args=[org.slug, schedule.pk]))
    assert response.status_code == 302
    assert sent_to() == sorted(RECIPIENTS)
    delivery = ReportDelivery.objects.for_organization(org).get()
    assert delivery.trigger == "manual" and delivery.status == DeliveryStatus.SENT
    yesterday = timezone.localdate(timezone=timezone.get_fixed_timezone(0)) - timedelta(days=1)
    assert abs((delivery.period_end - yesterday).days) <= 1
    page = client.get(reverse("reports:schedule", args=[org.slug, schedule.pk]))
    text = page.content.decode()
    assert 'anna@example.com: <span class="delivery-sent">Sent</span>' in text


def test_the_page_shows_an_uncertain_message(org, analyst, schedule, pending_delivery):
    DeliveryRecipient.objects.create(
        organization=org, delivery=pending_delivery, email="anna@example.com",
        status=DeliveryStatus.UNCERTAIN, error="worker stopped",
    )  # fmt: skip
    client = Client()
    client.force_login(analyst)
    text = client.get(reverse("reports:schedule", args=[org.slug, schedule.pk])).content.decode()
    assert "Uncertain" in text and "not sent again" in text


def test_the_tick_to_the_inbox(org, schedule, django_capture_on_commit_callbacks):
    """The beat tick at the due minute: the delivery runs in the (eager) worker."""
    due = schedule.next_due_at
    with django_capture_on_commit_callbacks(execute=True):
        services.schedules_tick(now=due + timedelta(seconds=20))
    assert sent_to() == sorted(RECIPIENTS)
    with django_capture_on_commit_callbacks(execute=True):
        services.schedules_tick(now=due + timedelta(seconds=80))
    assert len(mail.outbox) == 3
    assert due.tzinfo is not None and due > datetime(2000, 1, 1, tzinfo=UTC)

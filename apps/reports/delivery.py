"""Sending one delivery of a report schedule: render the PDF once, then one message per
recipient, each recorded so that no message is ever sent twice.

Every step commits on its own. A recipient is marked `sending` (committed) right before its
message is handed to the mail server and `sent` (committed) right after. A worker that stops
before that hand-off leaves the recipient `pending`, and the next run sends it; one that stops
during it leaves `sending`, which the next run turns into `uncertain`: shown to people, never
sent again by itself, because the server may have accepted it. The mail connection is opened
before anything is marked, so a server that cannot be reached changes nothing but the retry
count.
"""

import contextlib
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.core.emails import render_subject
from apps.core.errors import ApplicationError
from apps.organizations.models import Organization
from apps.scoring.filters import report_filter_parse
from apps.webhooks.services import webhooks_emit_report_delivered

from .models import (
    FILE_VALIDITY,
    DeliveryRecipient,
    DeliveryStatus,
    FileKind,
    FileStatus,
    ReportDelivery,
    ReportFile,
    ScheduleRecipient,
)
from .services import DELIVERY_LEASE, describe_filters, render_gap_report_pdf

log = logging.getLogger(__name__)

# Runs of one delivery before the recipients still waiting are given up as failed.
MAX_ATTEMPTS = 6
FINISHED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN)


def sending_stale_after() -> timedelta:
    """How long a message may stay `sending` before it counts as left by a stopped worker
    (another worker may be sending it right now: well beyond the mail server's timeouts)."""
    return timedelta(seconds=getattr(settings, "REPORTS_SENDING_STALE_SECONDS", 300))


def retry_delay(attempt: int) -> int:
    """Seconds before the next run after a transient failure: 1, 2, 4... minutes, at most 1 h."""
    return min(60 * 2 ** max(attempt - 1, 0), 3600)


@dataclass(frozen=True)
class Outcome:
    status: str
    retry: bool = False  # something is waiting for a transient failure to pass


class _Transient(Exception):
    """The mail server could not take the message now (unreachable, 4xx): try again later."""


def _deliveries(organization: Organization) -> Any:
    return ReportDelivery.objects.for_organization(organization)


def _recipients(organization: Organization) -> Any:
    return DeliveryRecipient.objects.for_organization(organization)


def _claim(organization: Organization, delivery_id: int, now: datetime) -> ReportDelivery | None:
    with transaction.atomic():
        delivery = (
            _deliveries(organization)
            .select_for_update()
            .select_related("schedule", "schedule__journey")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in FINISHED:
            return None
        delivery.attempts += 1
        delivery.lease_until = now + DELIVERY_LEASE
        if delivery.status == DeliveryStatus.PENDING:
            delivery.status = DeliveryStatus.RENDERING
        delivery.save(update_fields=["attempts", "lease_until", "status"])
        return delivery


def _render(organization: Organization, delivery: ReportDelivery) -> ReportFile:
    """The delivery's PDF, made once: a second run finds it attached."""
    if delivery.pdf_id is not None:
        return ReportFile.objects.for_organization(organization).get(pk=delivery.pdf_id)
    journey = delivery.schedule.journey
    report_filter = report_filter_parse(
        organization=organization,
        journey=journey,
        params={
            **(delivery.filters or {}),
            "from": delivery.period_start.isoformat(),
            "to": delivery.period_end.isoformat(),
        },
    )
    content, priorities = render_gap_report_pdf(
        organization=organization,
        journey=journey,
        report_filter=report_filter,
        language=delivery.language,
    )
    with translation.override(delivery.language):
        description = describe_filters(
            organization=organization, journey=journey, report_filter=report_filter
        )
    now = timezone.now()
    filename = (
        f"gap-report-{delivery.period_start.isoformat()}-{delivery.period_end.isoformat()}.pdf"
    )
    with transaction.atomic():
        locked = _deliveries(organization).select_for_update().get(pk=delivery.pk)
        if locked.pdf_id is not None:  # another run attached one meanwhile: keep theirs
            return ReportFile.objects.for_organization(organization).get(pk=locked.pdf_id)
        report_file = ReportFile.objects.create(
            organization=organization,
            journey=journey,
            kind=FileKind.GAP_REPORT_PDF,
            status=FileStatus.READY,
            progress=100,
            parameters={
                "filters": dict(delivery.filters or {}),
                "language": delivery.language,
                "delivery": delivery.pk,
                "priorities": priorities,
                "description": description,
            },
            filename=filename,
            content_type="application/pdf",
            size=len(content),
            content=content,
            finished_at=now,
            expires_at=now + FILE_VALIDITY,
        )
        locked.pdf = report_file
        locked.save(update_fields=["pdf"])
    delivery.pdf = report_file
    return report_file


def _snapshot_recipients(organization: Organization, delivery: ReportDelivery) -> None:
    """Who gets this delivery: the schedule's recipients at the first run, once."""
    with transaction.atomic():
        locked = _deliveries(organization).select_for_update().get(pk=delivery.pk)
        if not _recipients(organization).filter(delivery=locked).exists():
            DeliveryRecipient.objects.bulk_create(
                DeliveryRecipient(
                    organization=organization,
                    delivery=locked,
                    recipient=recipient,
                    email=recipient.email,
                )
                for recipient in ScheduleRecipient.objects.for_organization(organization).filter(
                    schedule_id=locked.schedule_id, unsubscribed_at=None
                )
            )
        locked.status = DeliveryStatus.SENDING
        locked.save(update_fields=["status"])


def unsubscribe_url(recipient: ScheduleRecipient) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(
        "reports_public:unsubscribe", args=[recipient.unsubscribe_token]
    )


def build_message(
    organization: Organization,
    delivery: ReportDelivery,
    report_file: ReportFile,
    recipient: ScheduleRecipient,
    content: bytes,
) -> EmailMultiAlternatives:
    schedule = delivery.schedule
    journey = schedule.journey
    language = delivery.language
    url = unsubscribe_url(recipient)
    parameters = report_file.parameters or {}
    context = {
        "organization": organization,
        "journey_name": journey.name_in(language),
        "schedule": schedule,
        "date_from": delivery.period_start,
        "date_to": delivery.period_end,
        "priorities": parameters.get("priorities") or [],
        "description": parameters.get("description") or "",
        "unsubscribe_url": url,
        "language": language,
        "report_url": settings.SITE_URL.rstrip("/")
        + reverse("reports:journey", args=[organization.slug, journey.pk]),
    }
    with translation.override(language):
        subject = render_subject("emails/report_delivery_subject.txt", context)
        text = render_to_string("emails/report_delivery.txt", context)
        html = render_to_string("emails/report_delivery.html", context)
    message = EmailMultiAlternatives(
        subject,
        text,
        None,
        [recipient.email],
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    message.attach(report_file.filename or "gap-report.pdf", content, "application/pdf")
    message.message()  # any error in building it surfaces here, before anything is marked
    return message


def _mark(organization: Organization, row_id: int, **values: Any) -> int:
    with transaction.atomic():
        return int(_recipients(organization).filter(pk=row_id).update(**values))


def _claim_recipient(organization: Organization, row_id: int, now: datetime) -> bool:
    """pending -> sending, committed; False when another run took it or it was dropped."""
    with transaction.atomic():
        row = (
            _recipients(organization)
            .select_for_update()
            .filter(pk=row_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if row is None:
            return False
        row.status = DeliveryStatus.SENDING
        row.sending_at = now
        row.attempts += 1
        row.save(update_fields=["status", "sending_at", "attempts"])
        return True


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in exc.recipients.values()]
        return int(min(codes)) if codes else None
    return None


def _send_one(connection: Any, message: EmailMultiAlternatives) -> None:
    """Hand one message over. Raises _Transient (not accepted, try later), ValueError (never
    accepted, do not retry) or any other exception (the outcome is unknown)."""
    try:
        connection.send_messages([message])
    except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
        code = _smtp_code(exc)
        if code is not None and 400 <= code < 500:
            raise _Transient(str(exc)) from exc
        raise ValueError(str(exc)) from exc


def _finish(organization: Organization, delivery_id: int, *, give_up: bool) -> Outcome:
    """The delivery's status from its recipients' (once none is waiting)."""
    with transaction.atomic():
        delivery = _deliveries(organization).select_for_update().get(pk=delivery_id)
        rows = list(_recipients(organization).filter(delivery=delivery))
        waiting = [r for r in rows if r.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)]
        if waiting and not give_up:
            return Outcome(delivery.status, retry=True)
        for row in waiting:
            # A message still `sending` may have reached the server: uncertain, not failed.
            if row.status == DeliveryStatus.SENDING:
                row.status = DeliveryStatus.UNCERTAIN
            else:
                row.status = DeliveryStatus.FAILED
                row.error = row.error or _("Gave up after several attempts.")
            row.save(update_fields=["status", "error"])
        statuses = {r.status for r in rows}
        if not rows:
            status = DeliveryStatus.FAILED
            delivery.error = _("Nobody to send to: every recipient has unsubscribed.")
        elif statuses == {DeliveryStatus.SENT}:
            status = DeliveryStatus.SENT
        elif DeliveryStatus.UNCERTAIN in statuses:
            status = DeliveryStatus.UNCERTAIN
        else:
            status = DeliveryStatus.FAILED
        if status != DeliveryStatus.SENT and rows and not delivery.error:
            sent = sum(1 for r in rows if r.status == DeliveryStatus.SENT)
            delivery.error = _("%(sent)s of %(total)s sent.") % {"sent": sent, "total": len(rows)}
        delivery.status = status
        delivery.finished_at = timezone.now()
        delivery.lease_until = None
        delivery.save(update_fields=["status", "error", "finished_at", "lease_until"])
        if status == DeliveryStatus.SENT:
            webhooks_emit_report_delivered(delivery=delivery, recipients=len(rows))
        return Outcome(status)


def delivery_run(
    *, organization: Organization, delivery_id: int, now: datetime | None = None
) -> Outcome:
    """Run (or resume) one delivery. Safe to run again at any point: what was handed to the
    mail server is never handed again."""
    now = now or timezone.now()
    delivery = _claim(organization, delivery_id, now)
    if delivery is None:
        current = _deliveries(organization).filter(pk=delivery_id).first()
        return Outcome(current.status if current else DeliveryStatus.FAILED)
    give_up = delivery.attempts >= MAX_ATTEMPTS
    try:
        report_file = _render(organization, delivery)
    except ApplicationError as exc:
        return _fail(organization, delivery, exc.message, retry=not give_up)
    except Exception as exc:
        log.exception(
            "rendering delivery %s of organisation %s failed", delivery_id, organization.pk
        )
        return _fail(
            organization, delivery, f"{type(exc).__name__}: {exc}"[:500], retry=not give_up
        )
    _snapshot_recipients(organization, delivery)

    stale_before = now - sending_stale_after()
    for row in _recipients(organization).filter(
        delivery=delivery, status=DeliveryStatus.SENDING, sending_at__lt=stale_before
    ):
        _mark(
            organization,
            row.pk,
            status=DeliveryStatus.UNCERTAIN,
            error=_(
                "The worker stopped while the mail server had this message: it may have "
                "been delivered, so it was not sent again."
            ),
        )

    pending = list(
        _recipients(organization)
        .filter(delivery=delivery, status=DeliveryStatus.PENDING)
        .select_related("recipient")
    )
    if pending:
        # Recipients a transient failure left waiting stay `pending`: _finish asks for a retry.
        _send_pending(organization, delivery, report_file, pending)
    outcome = _finish(organization, delivery.pk, give_up=give_up)
    if outcome.retry:
        _deliveries(organization).filter(pk=delivery.pk).update(
            lease_until=timezone.now()
            + timedelta(seconds=retry_delay(delivery.attempts))
            + DELIVERY_LEASE
        )
        return Outcome(outcome.status, retry=True)
    return outcome


def _send_pending(
    organization: Organization,
    delivery: ReportDelivery,
    report_file: ReportFile,
    pending: list[DeliveryRecipient],
) -> bool:
    """Send to every pending recipient; True when some must wait for a retry."""
    content = bytes(
        ReportFile.objects.for_organization(organization)
        .filter(pk=report_file.pk)
        .values_list("content", flat=True)
        .get()
        or b""
    )
    connection = mailers.default
    try:
        connection.open()
        # smtplib greets the server lazily, inside the first send: greet it now, so that a
        # server that does not answer is found before anyone is marked `sending`.
        smtp = getattr(connection, "connection", None)
        if isinstance(smtp, smtplib.SMTP):
            smtp.ehlo_or_helo_if_needed()
    except Exception as exc:  # unreachable: nothing was handed over, all stay pending
        for row in pending:
            _mark(organization, row.pk, error=f"{type(exc).__name__}: {exc}"[:500])
        return True
    transient = False
    try:
        for row in pending:
            recipient = row.recipient
            if recipient is None or recipient.unsubscribed_at is not None:
                _recipients(organization).filter(pk=row.pk, status=DeliveryStatus.PENDING).delete()
                continue
            try:
                message = build_message(organization, delivery, report_file, recipient, content)
            except Exception as exc:
                log.exception("building report email %s failed", row.pk)
                _mark(organization, row.pk, status=DeliveryStatus.FAILED, error=str(exc)[:500])
                continue
            if not _claim_recipient(organization, row.pk, timezone.now()):
                continue
            try:
                _send_one(connection, message)
            except _Transient as exc:
                _mark(organization, row.pk, status=DeliveryStatus.PENDING, error=str(exc)[:500])
                transient = True
                continue
            except ValueError as exc:
                _mark(organization, row.pk, status=DeliveryStatus.FAILED, error=str(exc)[:500])
                continue
            except Exception as exc:
                _mark(
                    organization,
                    row.pk,
                    status=DeliveryStatus.UNCERTAIN,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
                # The connection is in an unknown state: the rest waits for a fresh one.
                return True
            _mark(
                organization,
                row.pk,
                status=DeliveryStatus.SENT,
                sent_at=timezone.now(),
                error="",
            )
    finally:
        # Closing a broken connection has nothing left to report.
        with contextlib.suppress(Exception):
            connection.close()
    return transient


def _fail(
    organization: Organization, delivery: ReportDelivery, error: str, *, retry: bool
) -> Outcome:
    with transaction.atomic():
        values: dict[str, Any] = {"error": error}
        if retry:
            values["lease_until"] = (
                timezone.now() + timedelta(seconds=retry_delay(delivery.attempts)) + DELIVERY_LEASE
            )
        else:
            values.update(
                status=DeliveryStatus.FAILED, finished_at=timezone.now(), lease_until=None
            )
        _deliveries(organization).filter(pk=delivery.pk).update(**values)
    return Outcome(DeliveryStatus.RENDERING if retry else DeliveryStatus.FAILED, retry=retry)

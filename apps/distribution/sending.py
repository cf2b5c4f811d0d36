"""Sending a batch of invitations over one mail-server connection, safe against crashes.

Each message is a small state machine on its invitation row, advanced by the batch run that
owns it (`claimed_by`, the run's task id):

1. A run reserves the next few rows (RESERVE) in one committed statement: still `queued`, now
   its own. Nothing is sent yet; a reserved row another run cannot take.
2. Right before a message is handed to the mail server, its row moves queued -> `sending` in a
   committed statement; right after the server accepts it, sending -> `sent`. The "sent" of one
   message and the "sending" of the next are one statement, so each message costs one commit.
3. A worker killed at any point therefore leaves at most one row in `sending`: the message
   whose hand-off was under way (or, if the kill came between two messages, the next one, not
   yet sent). That row is never sent again by itself: the same run delivered again, or the
   sweeper after DISTRIBUTION_SENDING_STALE_SECONDS, marks it `uncertain`, and admins decide.
   Its reserved rows go back to the queue, and the next run sends them.

On PostgreSQL only the reservation waits for the disk; the per-message commits do not
(`synchronous_commit = off`). A killed worker loses nothing by that: its committed statements
are in the database server. If the database server itself crashes, the last fraction of a
second of them may be lost, so every row a run had reserved before the server started is
marked uncertain (`settle_abandoned`), never sent again by itself.

Failures: the server's explicit refusal (4xx) is transient and retried with backoff; 5xx is
permanent (`failed`; a refused recipient goes on the suppression list as bounced). A broken
connection before the message's data was sent is transient; during or after it, the outcome is
unknown: `uncertain`.
"""

import logging
import smtplib
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mailers
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.utils import timezone

from apps.organizations.models import Organization

from .campaign_mail import Composer, Recipient
from .campaign_services import campaign_finish_if_done, composer_for
from .contact_selectors import suppressed_reasons
from .contact_services import suppression_record_bounce
from .models import (
    Campaign,
    CampaignStatus,
    InvitationStatus,
    Suppression,
    SuppressionReason,
    SurveyInvitation,
)

logger = logging.getLogger(__name__)

PERMANENT, TRANSIENT, UNCERTAIN = "permanent", "transient", "uncertain"


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    opted_out: int = 0
    skipped: int = 0
    retry: list[int] = field(default_factory=list)
    retry_in: float = 0.0  # seconds until the earliest retry is due


class Throttle:
    """At most `per_second` messages per second for one organisation, across every worker
    (a counter per second in the cache: Redis in production)."""

    def __init__(self, organization_id: int, per_second: int) -> None:
        self.organization_id = organization_id
        self.per_second = per_second

    def try_acquire(self) -> bool:
        """Take a slot if one is free this second (no waiting)."""
        if self.per_second <= 0:
            return True
        key = f"cx:mail-rate:{self.organization_id}:{int(time.time())}"
        try:
            count = cache.incr(key)
        except ValueError:
            count = 1 if cache.add(key, 1, timeout=5) else cache.incr(key)
        return count <= self.per_second

    def acquire(self) -> None:
        if self.per_second <= 0:
            return
        while True:
            now = time.time()
            key = f"cx:mail-rate:{self.organization_id}:{int(now)}"
            try:
                count = cache.incr(key)
            except ValueError:
                count = 1 if cache.add(key, 1, timeout=5) else cache.incr(key)
            if count <= self.per_second:
                return
            time.sleep(max(0.001, int(now) + 1 - now))


class Mailer:
    """One connection of the default mailer, and for SMTP whether the current message's data
    had started to go out (what tells a safe retry from an unknown outcome).

    Over Django's SMTP backend the messages go as bytes built by `Composer.raw` on the
    backend's own connection (opened with its TLS and login settings); any other backend
    (django-anymail's providers, the console, files) gets Django email messages.
    """

    def __init__(self) -> None:
        self.backend: Any = mailers.default
        self.raw = isinstance(self.backend, SMTPBackend)
        self.data_started: bool | None = None
        self._tracked = False

    def open(self) -> None:
        self.backend.open()
        smtp = getattr(self.backend, "connection", None)
        self._tracked = isinstance(smtp, smtplib.SMTP)
        if isinstance(smtp, smtplib.SMTP):
            original = smtp.data

            def data(msg: Any) -> Any:
                self.data_started = True
                return original(msg)

            smtp.data = data  # type: ignore[method-assign]  # sendmail() calls self.data(): this instance's, then

    def payload(self, composer: Composer, recipient: Recipient) -> Any:
        """What `send` takes for this recipient; ValueError if it cannot be sent at all."""
        if self.raw:
            return composer.raw(recipient)
        return composer.message(recipient)

    def send(self, payload: Any) -> int:
        self.data_started = False if self._tracked else None
        if self.raw:
            sender, recipient, data = payload
            smtp = self.backend.connection
            if smtp is None:
                raise smtplib.SMTPServerDisconnected("not connected")
            smtp.sendmail(sender, [recipient], data)
            return 1
        return int(self.backend.send_messages([payload]) or 0)

    def reopen(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # a broken connection may fail to quit; it is gone anyway
            logger.info("closing the mail connection failed", exc_info=True)


def classify(exc: BaseException, data_started: bool | None) -> tuple[str, bool, bool]:
    """(outcome, the recipient was refused, the connection must be reopened) for a failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        permanent = bool(codes) and min(codes) >= 500
        return (PERMANENT if permanent else TRANSIENT), permanent, False
    if isinstance(exc, smtplib.SMTPResponseException):
        # The server answered (sender refused, data refused, ...): nothing was accepted.
        code = exc.smtp_code
        if code >= 500:
            return PERMANENT, False, False
        return TRANSIENT, False, code == 421
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return (UNCERTAIN if data_started is not False else TRANSIENT), False, True
    if isinstance(exc, ValueError):
        return PERMANENT, False, False  # an address that cannot be put in a message
    if isinstance(exc, smtplib.SMTPException):
        return (UNCERTAIN if data_started else TRANSIENT), False, True
    anymail = _anymail_outcome(exc)
    if anymail is not None:
        return anymail
    return UNCERTAIN, False, True


def _anymail_outcome(exc: BaseException) -> tuple[str, bool, bool] | None:
    try:
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
    except ImportError:  # pragma: no cover - anymail is a dependency
        return None
    if isinstance(exc, AnymailRecipientsRefused):
        return PERMANENT, True, False
    if isinstance(exc, AnymailAPIError) and exc.status_code is not None:
        if exc.status_code == 429 or exc.status_code >= 500:
            return TRANSIENT, False, False
        return PERMANENT, False, False
    return None


def _handed_off(invitation_id: int) -> None:
    """Runs between the server's acceptance and recording it; tests inject a crash here."""


def _recipient(row: dict[str, Any]) -> Recipient:
    return Recipient(
        invitation_id=row["pk"], email=row["email"], token=row["token"], name=row["name"],
        language=row["language"], attributes=row["attributes"], sent_count=row["sent_count"],
    )  # fmt: skip


RESERVE = 20  # rows a run reserves at a time (one durable commit each)
STALE_ERROR = "The worker stopped during the hand-off."


class Ledger:
    """The hot state changes of one batch run, each one SQL statement (see the module doc)."""

    def __init__(self, organization_id: int, run_id: str) -> None:
        self.organization_id = organization_id
        self.run_id = run_id
        quote = connection.ops.quote_name
        self.table = quote(SurveyInvitation._meta.db_table)
        self.not_suppressed = (
            f"NOT EXISTS (SELECT 1 FROM {quote(Suppression._meta.db_table)} s "  # noqa: S608 - names from the models
            f"WHERE s.organization_id = %s AND s.email = {self.table}.email)"
        )
        self.postgres = connection.vendor == "postgresql"

    def _execute(self, sql: str, params: list[Any]) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

    def fast_commits(self, on: bool) -> None:
        """Per-message commits that do not wait for the disk (PostgreSQL), or back to normal."""
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET synchronous_commit TO off" if on else "RESET synchronous_commit"
                )

    def reserve(self, ids: list[int]) -> set[int]:
        """Make queued, unsuppressed rows this run's; durable before anything is sent."""
        marks = ", ".join(["%s"] * len(ids))
        sql = (
            f"UPDATE {self.table} SET claimed_by = %s, claimed_at = %s "  # noqa: S608 - names from the models
            f"WHERE organization_id = %s AND id IN ({marks}) AND status = %s "
            f"AND claimed_by = '' AND {self.not_suppressed} RETURNING id"
        )
        params = [self.run_id, timezone.now(), self.organization_id, *ids,
                  InvitationStatus.QUEUED, self.organization_id]  # fmt: skip
        with transaction.atomic():
            if self.postgres:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO on")
            return set(self._execute(sql, params))

    def advance(self, done: int | None, claim: int | None) -> bool:
        """In one statement: `done` was accepted (sending -> sent), `claim` is handed over
        next (queued -> sending). True if `claim` is this run's to send."""
        if done is None and claim is None:
            return False
        done_id, claim_id, now = done or -1, claim or -1, timezone.now()
        sql = (
            f"UPDATE {self.table} SET "  # noqa: S608 - names from the models
            "status = CASE WHEN id = %s THEN %s ELSE %s END, "
            "sent_count = CASE WHEN id = %s THEN sent_count + 1 ELSE sent_count END, "
            "last_sent_at = CASE WHEN id = %s THEN %s ELSE last_sent_at END, "
            "attempts = CASE WHEN id = %s THEN 0 ELSE attempts END, "
            "next_attempt_at = CASE WHEN id = %s THEN NULL ELSE next_attempt_at END, "
            "error = CASE WHEN id = %s THEN '' ELSE error END, "
            "claimed_at = CASE WHEN id = %s THEN claimed_at ELSE %s END "
            "WHERE organization_id = %s AND claimed_by = %s AND ("
            "(id = %s AND status IN (%s, %s)) "
            f"OR (id = %s AND status = %s AND {self.not_suppressed})) RETURNING id"
        )
        params = [
            done_id, InvitationStatus.SENT, InvitationStatus.SENDING, done_id, done_id, now,
            done_id, done_id, done_id, done_id, now, self.organization_id, self.run_id,
            done_id, InvitationStatus.SENDING, InvitationStatus.UNCERTAIN,
            claim_id, InvitationStatus.QUEUED, self.organization_id,
        ]  # fmt: skip
        changed = self._execute(sql, params)
        if done is not None and done not in changed:
            # Answered or opted out while it was being sent: the message still went out.
            self._execute(
                f"UPDATE {self.table} SET sent_count = sent_count + 1, last_sent_at = %s "  # noqa: S608 - names from the models
                "WHERE organization_id = %s AND id = %s RETURNING id",
                [now, self.organization_id, done],
            )
        return claim is not None and claim in changed

    def fail_reserved(self, invitation_id: int, error: str) -> int:
        return len(self._execute(
            f"UPDATE {self.table} SET status = %s, error = %s WHERE organization_id = %s "  # noqa: S608 - names from the models
            "AND id = %s AND claimed_by = %s AND status = %s RETURNING id",
            [InvitationStatus.FAILED, error[:500], self.organization_id, invitation_id,
             self.run_id, InvitationStatus.QUEUED],
        ))  # fmt: skip

    def release(self) -> None:
        """Reserved rows this run did not get to go back to the queue."""
        self._execute(
            f"UPDATE {self.table} SET claimed_by = '' WHERE organization_id = %s "  # noqa: S608 - names from the models
            "AND claimed_by = %s AND status = %s RETURNING id",
            [self.organization_id, self.run_id, InvitationStatus.QUEUED],
        )


def batch_send(
    *, organization: Organization, campaign_id: int, invitation_ids: list[int], run_id: str
) -> BatchResult:
    """Send the queued, due invitations among `invitation_ids`, one claimed message at a time.

    Runs outside any transaction: every state change commits on its own.
    """
    result = BatchResult()
    rows = SurveyInvitation.objects.for_organization(organization)
    # This very run was here before and died: its message in flight may have gone out.
    result.uncertain += settle_abandoned(
        rows.filter(pk__in=invitation_ids, claimed_by=run_id), everything=True
    )
    now = timezone.now()
    campaign = (
        Campaign.objects.for_organization(organization)
        .select_related("questionnaire", "organization")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None or campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT):
        return result
    pending = list(
        rows.filter(pk__in=invitation_ids, status=InvitationStatus.QUEUED, claimed_by="")
        .exclude(next_attempt_at__gt=now)
        .order_by("pk")
        .values("pk", "email", "token", "name", "language", "attributes", "sent_count", "attempts")
    )
    if not pending:
        campaign_finish_if_done(organization=organization, campaign_id=campaign_id)
        return result
    pending = _drop_suppressed(organization, pending, result)
    composer = composer_for(campaign)
    throttle = Throttle(organization.pk, _setting("DISTRIBUTION_SEND_RATE", 20))
    mailer = Mailer()
    try:
        mailer.open()
    except Exception as exc:  # nothing was claimed: every message waits and retries
        logger.warning("mail server unreachable for campaign %s: %s", campaign_id, exc)
        for row in pending:
            _retry_later(rows, row, f"Mail server unreachable: {exc}", result)
        _schedule_retry(organization, campaign_id, result)
        return result
    ledger = Ledger(organization.pk, run_id)
    ledger.fast_commits(True)
    done: int | None = None  # handed over and accepted, not yet recorded
    try:
        for start in range(0, len(pending), RESERVE):
            if done is not None:
                ledger.advance(done, None)
                done = None
            if start and _stopped(organization, campaign_id):
                break
            window = pending[start : start + RESERVE]
            reserved = ledger.reserve([row["pk"] for row in window])
            prepared = []
            for row in window:
                if row["pk"] not in reserved:
                    result.skipped += 1
                    continue
                try:
                    prepared.append((row, mailer.payload(composer, _recipient(row))))
                except ValueError as exc:  # an address no mail server takes: nothing was sent
                    result.failed += ledger.fail_reserved(row["pk"], f"Cannot be sent: {exc}")
            for position, (row, payload) in enumerate(prepared):
                if not throttle.try_acquire():
                    ledger.advance(done, None)  # record the last one before waiting
                    done = None
                    throttle.acquire()
                claimed = ledger.advance(done, row["pk"])
                done = None
                if not claimed:
                    result.skipped += 1
                    continue
                try:
                    accepted = mailer.send(payload)
                except Exception as exc:  # every failure is classified and recorded
                    if _record_failure(organization, campaign_id, rows, row, exc, mailer, result):
                        continue
                    # No connection: the rest goes back to the queue and is tried again later.
                    result.retry += [r["pk"] for r, _p in prepared[position + 1 :]]
                    result.retry += [r["pk"] for r in pending[start + RESERVE :]]
                    delay = _setting("DISTRIBUTION_RETRY_BASE_SECONDS", 60)
                    result.retry_in = min(result.retry_in or delay, delay)
                    break
                if not accepted:
                    _mark_failed(rows, row, "The mail backend accepted no message.", result)
                    continue
                _handed_off(row["pk"])
                done = row["pk"]
                result.sent += 1
            else:
                continue
            break
        if done is not None:
            ledger.advance(done, None)
    finally:
        ledger.release()
        ledger.fast_commits(False)
        mailer.close()
        Campaign.objects.for_organization(organization).filter(pk=campaign_id).update(
            last_progress_at=timezone.now()
        )
    _schedule_retry(organization, campaign_id, result)
    campaign_finish_if_done(organization=organization, campaign_id=campaign_id)
    return result


def settle_abandoned(rows: Any, *, everything: bool = False) -> int:
    """Rows left by runs that died: the message in flight (`sending`) becomes uncertain, the
    reserved rest goes back to the queue. Without `everything`, only what is older than
    DISTRIBUTION_SENDING_STALE_SECONDS (a run still alive keeps its rows fresh). On
    PostgreSQL, rows reserved before the database server last started become uncertain
    too: a crashed server may have lost their last per-message commits. Returns how many
    became uncertain."""
    if not everything:
        stale = timezone.now() - timedelta(
            seconds=_setting("DISTRIBUTION_SENDING_STALE_SECONDS", 600)
        )
        rows = rows.filter(claimed_at__lt=stale)
    uncertain = rows.filter(status=InvitationStatus.SENDING).update(
        status=InvitationStatus.UNCERTAIN, error=STALE_ERROR
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_postmaster_start_time()")
            started = cursor.fetchone()[0]
        uncertain += rows.filter(
            status=InvitationStatus.QUEUED, claimed_at__lt=started
        ).exclude(claimed_by="").update(
            status=InvitationStatus.UNCERTAIN,
            error="The database restarted while this message was being sent.",
        )  # fmt: skip
    rows.filter(status=InvitationStatus.QUEUED).exclude(claimed_by="").update(claimed_by="")
    return uncertain


def _drop_suppressed(
    organization: Organization, pending: list[dict[str, Any]], result: BatchResult
) -> list[dict[str, Any]]:
    reasons = suppressed_reasons(
        organization_id=organization.pk, emails=[r["email"] for r in pending]
    )
    if not reasons:
        return pending
    rows = SurveyInvitation.objects.for_organization(organization)
    bounced = [r["pk"] for r in pending if reasons.get(r["email"]) == SuppressionReason.BOUNCED]
    opted = [r["pk"] for r in pending if r["email"] in reasons and r["pk"] not in bounced]
    result.opted_out += rows.filter(pk__in=opted, status=InvitationStatus.QUEUED).update(
        status=InvitationStatus.OPTED_OUT
    )
    result.failed += rows.filter(pk__in=bounced, status=InvitationStatus.QUEUED).update(
        status=InvitationStatus.FAILED, error="The mail server refused this address before."
    )
    return [r for r in pending if r["email"] not in reasons]


def _stopped(organization: Organization, campaign_id: int) -> bool:
    return not (
        Campaign.objects.for_organization(organization)
        .filter(pk=campaign_id, status__in=[CampaignStatus.SENDING, CampaignStatus.SENT])
        .exists()
    )


def _mark_failed(rows: Any, row: dict[str, Any], error: str, result: BatchResult) -> None:
    result.failed += rows.filter(pk=row["pk"], status=InvitationStatus.SENDING).update(
        status=InvitationStatus.FAILED, error=error[:500]
    )


def _retry_later(rows: Any, row: dict[str, Any], error: str, result: BatchResult) -> None:
    attempts = row["attempts"] + 1
    if attempts >= _setting("DISTRIBUTION_MAX_ATTEMPTS", 6):
        result.failed += rows.filter(
            pk=row["pk"], status__in=[InvitationStatus.SENDING, InvitationStatus.QUEUED]
        ).update(status=InvitationStatus.FAILED, attempts=attempts,
                 error=f"Gave up after {attempts} attempts: {error}"[:500])  # fmt: skip
        return
    delay = min(_setting("DISTRIBUTION_RETRY_BASE_SECONDS", 60) * 2 ** (attempts - 1), 3600)
    rows.filter(
        pk=row["pk"], status__in=[InvitationStatus.SENDING, InvitationStatus.QUEUED]
    ).update(status=InvitationStatus.QUEUED, attempts=attempts, error=error[:500],
             claimed_by="", next_attempt_at=timezone.now() + timedelta(seconds=delay))  # fmt: skip
    result.retry.append(row["pk"])
    result.retry_in = min(result.retry_in or delay, delay)


def _record_failure(
    organization: Organization,
    campaign_id: int,
    rows: Any,
    row: dict[str, Any],
    exc: Exception,
    mailer: Mailer,
    result: BatchResult,
) -> bool:
    """Record a failed hand-off; False when the connection cannot be restored (stop the batch:
    its remaining messages stay queued for the retry)."""
    outcome, refused, reconnect = classify(exc, mailer.data_started)
    error = f"{type(exc).__name__}: {exc}"[:500]
    if outcome == PERMANENT:
        _mark_failed(rows, row, error, result)
        if refused:
            suppression_record_bounce(
                organization=organization, email=row["email"], campaign_id=campaign_id,
                error=error,
            )  # fmt: skip
    elif outcome == TRANSIENT:
        _retry_later(rows, row, error, result)
    else:
        result.uncertain += rows.filter(pk=row["pk"], status=InvitationStatus.SENDING).update(
            status=InvitationStatus.UNCERTAIN, error=error
        )
        logger.warning("uncertain delivery of invitation %s: %s", row["pk"], error)
    if reconnect:
        try:
            mailer.reopen()
        except Exception as reopen_exc:
            logger.warning("mail server lost for campaign %s: %s", campaign_id, reopen_exc)
            return False
    return True


def _schedule_retry(organization: Organization, campaign_id: int, result: BatchResult) -> None:
    if not result.retry:
        return
    from .tasks import send_batch

    send_batch.apply_async(
        kwargs={"organization_id": organization.pk, "campaign_id": campaign_id,
                "invitation_ids": result.retry},
        countdown=max(1.0, result.retry_in),
    )  # fmt: skip

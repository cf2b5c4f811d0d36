"""Sending a batch of invitations over one mail-server connection, safe against crashes.

Each message is a small state machine on its invitation row, advanced by the batch run that
owns it (`claimed_by`, the run's task id):

1. A run reserves its batch's rows in one committed statement: still `queued`, now its own.
   Nothing is sent yet; a reserved row another run cannot take.
2. Before a message's data goes to the mail server, its row moves queued -> `sending` in a
   committed statement; after the server accepts it, sending -> `sent`. The "sent" of one
   message and the "sending" of the next are one statement, so each message costs one commit.
3. A worker killed at any point therefore leaves at most one row in `sending`: the message
   whose hand-off was under way (or, if the kill came between two messages, the next one, not
   yet sent). That row is never sent again by itself: the same run delivered again, or the
   sweeper after DISTRIBUTION_SENDING_STALE_SECONDS, marks it `uncertain`, and admins decide.
   Its reserved rows go back to the queue, and the next run sends them.

The per-message statement is off the critical path (PostgreSQL): it is sent, without waiting,
as soon as the server accepted the previous message; the new message's envelope (MAIL FROM,
RCPT TO: two replies, no delivery without data) is exchanged meanwhile, and the statement's
answer is read before DATA. A message the statement did not claim (opted out, answered, the
campaign stopped) gets RSET instead of its data. The next message is built while the server
takes the current one's data. So one sender costs the mail server's conversation plus little,
not the conversation plus a database round trip.

On PostgreSQL only the reservation waits for the disk; the per-message commits do not
(`synchronous_commit = off`). A killed worker loses nothing by that: its committed statements
are in the database server. If the database server itself crashes, the last fraction of a
second of them may be lost, so every row a run had reserved before the server started is
marked uncertain (`settle_abandoned`), never sent again by itself: at most one batch
(DISTRIBUTION_BATCH_SIZE) per run that was sending, fewer when the disk caught up meanwhile.

Failures: the server's explicit refusal (4xx) is transient and retried with backoff; 5xx is
permanent (`failed`; a refused recipient goes on the suppression list as bounced). A broken
connection before the message's data was sent is transient; during or after it, the outcome is
unknown: `uncertain`.
"""

import contextlib
import logging
import re
import select
import smtplib
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mailers
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import DatabaseError, connection
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

_LEADING_DOT = re.compile(rb"(?m)^\.")

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
    (a counter per second in the cache: Redis in production). A sender takes its slots a few
    at a time (a twentieth of the rate, at most 50), so a fast sender asks the cache once per
    several messages; slots it does not use in their second are lost, never exceeded."""

    def __init__(self, organization_id: int, per_second: int) -> None:
        self.organization_id = organization_id
        self.per_second = per_second
        self.chunk = max(1, min(per_second // 20, 50))
        self._second = -1
        self._slots = 0  # taken for `_second`, not used yet; -1: that second is full

    def _take(self, second: int) -> int:
        key = f"cx:mail-rate:{self.organization_id}:{second}"
        try:
            count = cache.incr(key, self.chunk)
        except ValueError:
            count = (
                self.chunk if cache.add(key, self.chunk, timeout=5) else cache.incr(key, self.chunk)
            )
        return max(0, min(self.chunk, self.per_second - (count - self.chunk)))

    def try_acquire(self) -> bool:
        """Take a slot if one is free this second (no waiting)."""
        if self.per_second <= 0:
            return True
        second = int(time.time())
        if second != self._second:
            self._second, self._slots = second, 0
        if self._slots == 0:
            self._slots = self._take(second) or -1
        if self._slots < 0:
            return False
        self._slots -= 1
        return True

    def acquire(self) -> None:
        while not self.try_acquire():
            now = time.time()
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
        self._tracked = self.raw and isinstance(
            getattr(self.backend, "connection", None), smtplib.SMTP
        )

    def payload(self, composer: Composer, recipient: Recipient) -> Any:
        """What `hand_over` takes for this recipient; ValueError if it cannot be sent at all.
        Over SMTP: the envelope and the data as they go on the wire (dots doubled, the end
        marker appended), so that nothing is left to build between the server's replies."""
        if self.raw:
            sender, recipient_address, data = composer.raw(recipient)
            wire = _LEADING_DOT.sub(b"..", data)
            if not wire.endswith(b"\r\n"):
                wire += b"\r\n"
            return sender, recipient_address, wire + b".\r\n", len(data)
        return composer.message(recipient)

    def hand_over(
        self,
        payload: Any,
        begin: Callable[[], None],
        claim: Callable[[], bool],
        meanwhile: Callable[[], None],
    ) -> int | None:
        """Hand one message to the mail server; how many it accepted (0 or 1), or None when
        `claim()` says the message is no longer this run's (then nothing was sent).

        `begin()` starts the claim (sent while the server reads the first command), `claim()`
        is asked once, right before the message's data starts to go out. Over SMTP
        the envelope (MAIL, RCPT) is exchanged first, so the database round trip behind
        `claim()` overlaps those two replies instead of adding to them (an envelope without
        data delivers nothing: RSET drops it). `meanwhile` runs while the server takes the
        data and has not answered yet (the next message is built there). Failures raise the
        exceptions `smtplib.SMTP.sendmail` raises, for `classify`."""
        self.data_started = False if self._tracked else None
        if not self.raw:
            begin()
            if not claim():
                return None
            accepted = int(self.backend.send_messages([payload]) or 0)
            meanwhile()
            return accepted
        sender, recipient, wire, size = payload
        smtp = self.backend.connection
        if smtp is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        smtp.ehlo_or_helo_if_needed()
        options = f" size={size}" if smtp.does_esmtp and smtp.has_extn("size") else ""
        smtp.putcmd("mail", f"FROM:<{sender}>{options}")
        begin()
        code, reply = smtp.getreply()
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        smtp.putcmd("rcpt", f"TO:<{recipient}>")
        code, reply = smtp.getreply()
        if code not in (250, 251):
            _abandon(smtp, code)
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        if not claim():
            _abandon(smtp, 0)
            return None
        self.data_started = True
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
        smtp.send(wire)
        meanwhile()
        code, reply = smtp.getreply()
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
        return 1

    def reopen(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # a broken connection may fail to quit; it is gone anyway
            logger.info("closing the mail connection failed", exc_info=True)


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """What `sendmail` does after a refusal: close on 421, otherwise reset the transaction."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


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


_ADVANCE = b"cx_distribution_advance"  # a prepared statement on each database connection
_PREPARED: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()
COMMAND_OK, TUPLES_OK = 1, 2  # libpq's ExecStatus


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat().encode()
    return str(value).encode()


def _pg_returned_ids(pgconn: Any) -> list[int]:
    """Wait (without holding the GIL) for the statement under way on `pgconn` to end, and
    return the ids it returned; every result is read, so the connection is ready again."""
    ids: list[int] = []
    error = None
    while True:
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            select.select([pgconn.socket], [], [])
        result = pgconn.get_result()
        if result is None:
            break
        if result.status == TUPLES_OK:
            ids += [int(result.get_value(row, 0)) for row in range(result.ntuples)]
        elif error is None:
            error = result.error_message.decode(errors="replace")
    if error is not None:
        raise DatabaseError(error)
    return ids


STALE_ERROR = "The worker stopped during the hand-off."


class Ledger:
    """The hot state changes of one batch run, each one SQL statement (see the module doc)."""

    def __init__(self, organization_id: int, campaign_id: int, run_id: str) -> None:
        self.organization_id = organization_id
        self.campaign_id = campaign_id
        self.run_id = run_id
        quote = connection.ops.quote_name
        self.table = quote(SurveyInvitation._meta.db_table)
        self.not_suppressed = (
            f"NOT EXISTS (SELECT 1 FROM {quote(Suppression._meta.db_table)} s "  # noqa: S608 - names from the models
            f"WHERE s.organization_id = %s AND s.email = {self.table}.email)"
        )
        self.campaign_sending = (  # not stopped meanwhile
            f"EXISTS (SELECT 1 FROM {quote(Campaign._meta.db_table)} c "  # noqa: S608 - names from the models
            "WHERE c.id = %s AND c.status IN (%s, %s))"
        )
        self.postgres = connection.vendor == "postgresql"
        self._pending: tuple[int | None, int | None] | None = None
        self._changed: list[int] | None = None
        self._wire: list[bytes | None] | None = None
        self._slots: list[tuple[int, Any]] = []

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
        """Make queued, unsuppressed rows this run's; durable before anything is sent (on
        PostgreSQL this one statement's commit waits for the disk, the session's setting
        notwithstanding)."""
        marks = ", ".join(["%s"] * len(ids))
        durable = (
            " AND (SELECT set_config('synchronous_commit', 'on', true)) = 'on'"
            if self.postgres
            else ""
        )
        sql = (
            f"UPDATE {self.table} SET claimed_by = %s, claimed_at = %s "  # noqa: S608 - names from the models
            f"WHERE organization_id = %s AND id IN ({marks}) AND status = %s "
            f"AND claimed_by = '' AND {self.not_suppressed}{durable} RETURNING id"
        )
        params = [self.run_id, timezone.now(), self.organization_id, *ids,
                  InvitationStatus.QUEUED, self.organization_id]  # fmt: skip
        return set(self._execute(sql, params))

    def _advance_statement(self) -> str:
        return (
            f"UPDATE {self.table} SET "  # noqa: S608 - names from the models
            "status = CASE WHEN id = %s THEN %s ELSE %s END, "
            "sent_count = CASE WHEN id = %s THEN sent_count + 1 ELSE sent_count END, "
            "last_sent_at = CASE WHEN id = %s THEN %s ELSE last_sent_at END, "
            "attempts = CASE WHEN id = %s THEN 0 ELSE attempts END, "
            "next_attempt_at = CASE WHEN id = %s THEN NULL ELSE next_attempt_at END, "
            "error = CASE WHEN id = %s THEN '' ELSE error END, "
            "claimed_at = CASE WHEN id = %s THEN claimed_at ELSE %s END "
            # The ids find the rows (primary key); the organisation is checked on each row
            # ("+ 0"), never through its index: right after a campaign's bulk insert the
            # statistics are stale and the planner ANDed the whole organisation's index
            # entries into every statement (0.2 ms per 10,000 invitations, per message).
            "WHERE organization_id + 0 = %s AND claimed_by = %s AND ("
            "(id = %s AND status IN (%s, %s)) "
            f"OR (id = %s AND status = %s AND {self.not_suppressed} AND {self.campaign_sending})"
            ") RETURNING id"
        )

    def _advance_params(self, done_id: int, claim_id: int) -> list[Any]:
        now = timezone.now()
        return [
            done_id, InvitationStatus.SENT, InvitationStatus.SENDING, done_id, done_id, now,
            done_id, done_id, done_id, done_id, now, self.organization_id, self.run_id,
            done_id, InvitationStatus.SENDING, InvitationStatus.UNCERTAIN,
            claim_id, InvitationStatus.QUEUED, self.organization_id, self.campaign_id,
            CampaignStatus.SENDING, CampaignStatus.SENT,
        ]  # fmt: skip

    def advance(self, done: int | None, claim: int | None) -> bool:
        """In one statement: `done` was accepted (sending -> sent), `claim` is handed over
        next (queued -> sending). True if `claim` is this run's to send."""
        self.begin(done, claim)
        return self.finish()

    def begin(self, done: int | None, claim: int | None) -> None:
        """`advance` without waiting: on PostgreSQL the statement is sent and its answer read
        by `finish`, so the round trip overlaps the mail server's replies. Nothing else may
        use the database connection in between."""
        if self._pending is not None:
            self.finish()
        self._pending = (done, claim)
        self._changed = None
        if done is None and claim is None:
            self._changed = []
            return
        if not self.postgres:
            params = self._advance_params(done or -1, claim or -1)
            self._changed = self._execute(self._advance_statement(), params)
            return
        if self._wire is None:  # the parameters as bytes, but for the three that vary
            self._wire = [_text(value) for value in self._advance_params(-1, -2)]
            self._slots = [
                (index, value) for index, value in enumerate(self._advance_params(-1, -2))
                if value in (-1, -2) or hasattr(value, "isoformat")
            ]  # fmt: skip
        now = _text(timezone.now())
        varying = {-1: str(done or -1).encode(), -2: str(claim or -1).encode()}
        for index, value in self._slots:
            self._wire[index] = varying.get(value, now)
        with connection.wrap_database_errors:
            pgconn = self._pgconn()
            pgconn.send_query_prepared(_ADVANCE, self._wire)
            while pgconn.flush():
                select.select([], [pgconn.socket], [])

    def finish(self) -> bool:
        """Wait for the statement `begin` sent: True if its `claim` is this run's to send.
        Asked again, gives the same answer (and False when nothing was begun)."""
        if self._pending is None:
            return False
        done, claim = self._pending
        if self._changed is None:
            self._changed = []  # whatever happens, the connection is free after this
            with connection.wrap_database_errors:
                self._changed = _pg_returned_ids(connection.connection.pgconn)
            if done is not None and done not in self._changed:
                # Answered or opted out while it was being sent: the message still went out.
                self._execute(
                    f"UPDATE {self.table} SET sent_count = sent_count + 1, last_sent_at = %s "  # noqa: S608 - names from the models
                    "WHERE organization_id = %s AND id = %s RETURNING id",
                    [timezone.now(), self.organization_id, done],
                )
        return claim is not None and claim in self._changed

    def drain(self) -> None:
        """Read a statement still under way (after a failure), so the connection is free."""
        if self._pending is not None and self._changed is None:
            try:
                self.finish()
            except Exception:  # the batch is failing already; this is only cleanup
                logger.info("reading the last state change failed", exc_info=True)
        self._pending = None

    def _pgconn(self) -> Any:
        """The libpq connection under Django's, with the advance statement prepared on it."""
        connection.ensure_connection()
        raw = connection.connection
        if raw not in _PREPARED:
            sql = self._advance_statement()
            count = sql.count("%s")
            for number in range(1, count + 1):
                sql = sql.replace("%s", f"${number}", 1)
            result = raw.pgconn.prepare(_ADVANCE, sql.encode())
            if result.status != COMMAND_OK:
                raise DatabaseError(result.error_message.decode(errors="replace"))
            _PREPARED[raw] = True
        return raw.pgconn

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
    candidates = _candidates(rows, invitation_ids)
    if any(row["claimed_by"] == run_id for row in candidates):
        # This very run was here before and died: its message in flight may have gone out.
        result.uncertain += settle_abandoned(
            rows.filter(pk__in=invitation_ids, claimed_by=run_id), everything=True
        )
        candidates = _candidates(rows, invitation_ids)
    campaign = (
        Campaign.objects.for_organization(organization)
        .select_related("questionnaire", "organization")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None or campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT):
        return result
    now = timezone.now()
    pending = [
        row for row in candidates
        if row["status"] == InvitationStatus.QUEUED and not row["claimed_by"]
        and (row["next_attempt_at"] is None or row["next_attempt_at"] <= now)
    ]  # fmt: skip
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
    ledger = Ledger(organization.pk, campaign_id, run_id)
    ledger.fast_commits(True)
    done: int | None = None  # handed over and accepted, not yet recorded
    try:
        reserved = ledger.reserve([row["pk"] for row in pending]) if pending else set()
        outgoing = []
        for row in pending:
            if row["pk"] in reserved:
                outgoing.append(_Outgoing(row))
            else:
                result.skipped += 1
        for position, item in enumerate(outgoing):
            item.build(mailer, composer)
            if item.error is not None:  # an address no mail server takes: nothing is sent
                if not isinstance(item.error, ValueError):
                    raise item.error
                if done is not None:
                    ledger.advance(done, None)
                    done = None
                result.failed += ledger.fail_reserved(
                    item.row["pk"], f"Cannot be sent: {item.error}"
                )
                continue
            if not throttle.try_acquire():
                ledger.advance(done, None)  # record the last one before waiting
                done = None
                throttle.acquire()
            # Records the previous message as sent and claims this one (unless the campaign
            # was stopped); on PostgreSQL the answer is read while the mail server answers
            # the envelope, see `Mailer.hand_over`.
            begin = _Begin(ledger, done, item.row["pk"])
            done = None
            following = outgoing[position + 1] if position + 1 < len(outgoing) else None
            try:
                accepted = mailer.hand_over(
                    item.payload, begin=begin, claim=ledger.finish,
                    meanwhile=following.build_later(mailer, composer) if following else _idle,
                )  # fmt: skip
            except Exception as exc:  # every failure is classified and recorded
                begin()  # if the connection failed before it: the previous one is recorded
                if ledger.finish():
                    recovered = _record_failure(organization, campaign_id, rows, item.row, exc,
                                                mailer, result)  # fmt: skip
                else:  # not this run's any more: nothing was sent
                    result.skipped += 1
                    recovered = not classify(exc, mailer.data_started)[2] or _reopen(
                        mailer, campaign_id
                    )
                if recovered:
                    continue
                # No connection: the rest goes back to the queue and is tried again later.
                result.retry += [later.row["pk"] for later in outgoing[position + 1 :]]
                delay = _setting("DISTRIBUTION_RETRY_BASE_SECONDS", 60)
                result.retry_in = min(result.retry_in or delay, delay)
                break
            if accepted is None:  # answered, opted out or the campaign stopped: not sent
                result.skipped += 1
                if _stopped(organization, campaign_id):
                    break
                continue
            if not accepted:
                _mark_failed(rows, item.row, "The mail backend accepted no message.", result)
                continue
            _handed_off(item.row["pk"])
            done = item.row["pk"]
            result.sent += 1
        if done is not None:
            ledger.advance(done, None)
    finally:
        ledger.drain()
        ledger.release()
        ledger.fast_commits(False)
        mailer.close()
        Campaign.objects.for_organization(organization).filter(pk=campaign_id).update(
            last_progress_at=timezone.now()
        )
    _schedule_retry(organization, campaign_id, result)
    campaign_finish_if_done(organization=organization, campaign_id=campaign_id)
    return result


def _candidates(rows: Any, invitation_ids: list[int]) -> list[dict[str, Any]]:
    """The batch's rows still to send or in flight, in one query."""
    return list(
        rows.filter(pk__in=invitation_ids,
                    status__in=[InvitationStatus.QUEUED, InvitationStatus.SENDING])
        .order_by("pk")
        .values("pk", "email", "token", "name", "language", "attributes", "sent_count",
                "attempts", "status", "claimed_by", "next_attempt_at")
    )  # fmt: skip


class _Outgoing:
    """One reserved row and its message, built once: ahead of its turn while the server takes
    the message before it, or when its turn comes."""

    __slots__ = ("error", "payload", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.payload: Any = None
        self.error: Exception | None = None

    def build(self, mailer: Mailer, composer: Composer) -> None:
        if self.payload is not None or self.error is not None:
            return
        try:
            self.payload = mailer.payload(composer, _recipient(self.row))
        except Exception as exc:  # raised (or recorded, for ValueError) when its turn comes
            self.error = exc

    def build_later(self, mailer: Mailer, composer: Composer) -> Callable[[], None]:
        return lambda: self.build(mailer, composer)


class _Begin:
    """Sends the statement that records the previous message and claims this one, once."""

    __slots__ = ("claim", "done", "ledger")

    def __init__(self, ledger: Ledger, done: int | None, claim: int) -> None:
        self.ledger: Ledger | None = ledger
        self.done, self.claim = done, claim

    def __call__(self) -> None:
        if self.ledger is not None:
            ledger, self.ledger = self.ledger, None
            ledger.begin(self.done, self.claim)


def _idle() -> None:
    return None


def _reopen(mailer: Mailer, campaign_id: int) -> bool:
    try:
        mailer.reopen()
    except Exception as exc:
        logger.warning("mail server lost for campaign %s: %s", campaign_id, exc)
        return False
    return True


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
    return not reconnect or _reopen(mailer, campaign_id)


def _schedule_retry(organization: Organization, campaign_id: int, result: BatchResult) -> None:
    if not result.retry:
        return
    from .tasks import send_batch

    send_batch.apply_async(
        kwargs={"organization_id": organization.pk, "campaign_id": campaign_id,
                "invitation_ids": result.retry},
        countdown=max(1.0, result.retry_in),
    )  # fmt: skip

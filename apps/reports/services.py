"""Writes for reports: files made on request (the gap-report PDF, exports), report schedules and
their recipients, the beat tick that turns due schedules into deliveries, unsubscribing.

The sending of a delivery lives in `delivery.py`; reads in `selectors.py`.
"""

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from apps.journeys.models import Journey
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Action, Principal, require
from apps.scoring.filters import ATTRIBUTE_PREFIX, ReportFilter, report_filter_parse

from . import timing
from .models import (
    ACTIVE_DELIVERY_STATUSES,
    FILE_VALIDITY,
    DeliveryRecipient,
    DeliveryStatus,
    FileKind,
    FileStatus,
    Frequency,
    Period,
    ReportDelivery,
    ReportFile,
    ReportSchedule,
    ScheduleRecipient,
    Trigger,
)

log = logging.getLogger(__name__)

# Files being made at once: per person, and per organisation (API keys have no person).
ACTIVE_FILES_PER_USER = 5
ACTIVE_FILES_PER_ORGANIZATION = 50
MAX_RECIPIENTS = 50
# A worker that stops while a delivery is under way leaves it for the beat tick to queue again
# once this lease has passed.
DELIVERY_LEASE = timedelta(minutes=15)
LANGUAGE_CODES = tuple(code for code, _name in settings.LANGUAGES)


def _language(value: Any, organization: Organization, field: str = "language") -> str:
    language = str(value or "").strip() or organization.default_language
    if language not in LANGUAGE_CODES:
        raise ValidationFailed(
            _("Unknown language."),
            fields={field: [_("Choose one of: %(codes)s.") % {"codes": ", ".join(LANGUAGE_CODES)}]},
        )
    return language


# --- filters ----------------------------------------------------------------------------------


def filters_as_params(report_filter: ReportFilter, *, with_dates: bool = True) -> dict[str, Any]:
    """A filter as the query parameters that parse back into it (stored on files and
    schedules, and given back to the API)."""
    params: dict[str, Any] = {}
    if with_dates:
        params["from"] = report_filter.date_from.isoformat()
        params["to"] = report_filter.date_to.isoformat()
    if report_filter.questionnaire_id is not None:
        params["questionnaire"] = str(report_filter.questionnaire_id)
    for name, values in sorted(report_filter.attributes.items()):
        params[ATTRIBUTE_PREFIX + name] = sorted(values)
    return params


def describe_filters(
    *, organization: Organization, journey: Journey, report_filter: ReportFilter
) -> str:
    """The responses a report includes, in plain words (the active language)."""
    from apps.surveys.models import Questionnaire

    parts = []
    if report_filter.questionnaire_id is not None:
        questionnaire = (
            Questionnaire.objects.for_organization(organization)
            .filter(pk=report_filter.questionnaire_id)
            .first()
        )
        if questionnaire is not None:
            parts.append(_("questionnaire %(name)s") % {"name": questionnaire.name})
    for name, values in sorted(report_filter.attributes.items()):
        parts.append(f"{name}: {', '.join(values)}")
    if not parts:
        return _("All responses")
    return _("Responses with %(filters)s") % {"filters": "; ".join(parts)}


def _schedule_filters(organization: Organization, journey: Journey, value: Any) -> dict[str, Any]:
    """A schedule's filter: questionnaire and segment attributes (its period sets the dates)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            _("Invalid filters."), fields={"filters": [_("Give the filters as an object.")]}
        )
    params = {k: v for k, v in value.items() if k not in ("from", "to")}
    try:
        parsed = report_filter_parse(organization=organization, journey=journey, params=params)
    except ValidationFailed as exc:
        messages = [f"{name}: {' '.join(errors)}" for name, errors in exc.fields.items()]
        raise ValidationFailed(exc.message, fields={"filters": messages}) from exc
    return filters_as_params(parsed, with_dates=False)


# --- report files (the PDF on request, exports) ------------------------------------------------


def _file_action(kind: str) -> Action:
    return Action.RESULTS_VIEW if kind == FileKind.GAP_REPORT_PDF else Action.EXPORT


def file_download_action(report_file: ReportFile) -> Action:
    """Whoever may read the results may download a file once it is made (viewers included)."""
    return Action.RESULTS_VIEW


@transaction.atomic
def report_file_request(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    kind: str,
    params: Any = None,
    language: str = "",
    ip_address: str | None = None,
) -> ReportFile:
    """Ask for a gap-report PDF or an export under a filter; a worker makes it."""
    if kind not in FileKind.values:
        raise ValidationFailed(_("Unknown kind of file."), fields={"kind": [_("Unknown kind.")]})
    require(actor, _file_action(kind), journey)
    language = _language(language, organization)
    report_filter = report_filter_parse(
        organization=organization, journey=journey, params=params or {}
    )
    active = ReportFile.objects.for_organization(organization).filter(
        status__in=(FileStatus.PENDING, FileStatus.RUNNING)
    )
    if active.count() >= ACTIVE_FILES_PER_ORGANIZATION or (
        actor.user is not None
        and active.filter(created_by=actor.user).count() >= ACTIVE_FILES_PER_USER
    ):
        raise Conflict(_("Several files are still being made: wait until they are ready."))
    report_file = ReportFile.objects.create(
        organization=organization,
        journey=journey,
        kind=kind,
        parameters={"filters": filters_as_params(report_filter), "language": language},
        created_by=actor.user,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="report_file.requested",
        target=report_file,
        target_label=f"{journey.name}: {kind}",
        data={"kind": kind, "journey": journey.pk, "filters": report_file.parameters["filters"]},
        ip_address=ip_address,
    )
    file_id = report_file.pk

    def queue() -> None:
        from .tasks import render_report_file

        render_report_file.delay(organization_id=organization.pk, file_id=file_id)

    transaction.on_commit(queue)
    return report_file


def _set_progress(organization: Organization, file_id: int, percent: int) -> None:
    ReportFile.objects.for_organization(organization).filter(pk=file_id).update(
        progress=max(0, min(99, percent)), progress_at=timezone.now()
    )


def _filename(journey: Journey, what: str, report_filter: ReportFilter, extension: str) -> str:
    base = slugify(journey.name)[:60] or "journey"
    return (
        f"{base}-{what}-{report_filter.date_from.isoformat()}-"
        f"{report_filter.date_to.isoformat()}.{extension}"
    )


def _gap_report(
    organization: Organization, journey: Journey, report_filter: ReportFilter, *, trend: bool
) -> Any:
    try:
        from apps.scoring.selectors import gap_report
    except ImportError as exc:  # the processing pipeline (issue 7) is not installed
        raise ApplicationError(_("Results are not available yet.")) from exc
    return gap_report(
        organization=organization,
        journey=journey,
        report_filter=report_filter,
        with_trend=trend,
    )


def render_gap_report_pdf(
    *, organization: Organization, journey: Journey, report_filter: ReportFilter, language: str
) -> tuple[bytes, list[str]]:
    """The PDF for a journey under a filter, and its top priorities in words (for emails)."""
    from . import narrative
    from .gap_pdf import gap_report_pdf

    report = _gap_report(organization, journey, report_filter, trend=True)
    with translation.override(language):
        description = describe_filters(
            organization=organization, journey=journey, report_filter=report_filter
        )
        priorities = [text.sentence for text in narrative.priority_texts(report)]
    pdf = gap_report_pdf(
        organization=organization,
        journey=journey,
        report=report,
        period=(report_filter.date_from, report_filter.date_to),
        language=language,
        filters_description=description,
    )
    return pdf, priorities


def _render_file(
    organization: Organization, journey: Journey, report_file: ReportFile
) -> tuple[bytes, str, str]:
    from . import exports

    params = report_file.parameters or {}
    language = params.get("language") or organization.default_language
    report_filter = report_filter_parse(
        organization=organization, journey=journey, params=params.get("filters") or {}
    )
    kind = report_file.kind

    def progress(done: int, total: int) -> None:
        _set_progress(organization, report_file.pk, 5 + int(85 * done / max(total, 1)))

    if kind == FileKind.GAP_REPORT_PDF:
        _set_progress(organization, report_file.pk, 10)
        pdf, _priorities = render_gap_report_pdf(
            organization=organization,
            journey=journey,
            report_filter=report_filter,
            language=language,
        )
        return pdf, _filename(journey, "gap-report", report_filter, "pdf"), "application/pdf"
    with translation.override(language):
        if kind in (FileKind.RESPONSES_CSV, FileKind.RESPONSES_XLSX):
            export = exports.responses_export(
                organization=organization,
                journey=journey,
                report_filter=report_filter,
                progress=progress,
            )
            if kind == FileKind.RESPONSES_CSV:
                content = exports.write_csv(export.table)
                return content, _filename(journey, "responses", report_filter, "csv"), CSV
            content = exports.write_xlsx([export.table, exports.items_table(export, language)])
            return content, _filename(journey, "responses", report_filter, "xlsx"), XLSX
        report = _gap_report(organization, journey, report_filter, trend=True)
        progress(1, 2)
        table = exports.scores_table(report)
        if kind == FileKind.SCORES_CSV:
            return exports.write_csv(table), _filename(journey, "scores", report_filter, "csv"), CSV
        return (
            exports.write_xlsx([table]),
            _filename(journey, "scores", report_filter, "xlsx"),
            XLSX,
        )


CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_file_render(*, organization: Organization, file_id: int) -> ReportFile | None:
    """Make a requested file (in a worker). Idempotent: a file already made or failed is left
    as it is; one left running by a stopped worker is made again."""
    with transaction.atomic():
        report_file = (
            ReportFile.objects.for_organization(organization)
            .select_for_update()
            .defer("content")
            .filter(pk=file_id)
            .first()
        )
        if report_file is None or report_file.status in (FileStatus.READY, FileStatus.FAILED):
            return report_file
        report_file.status = FileStatus.RUNNING
        report_file.progress = 1
        report_file.progress_at = timezone.now()
        report_file.save(update_fields=["status", "progress", "progress_at"])
    journey = Journey.objects.for_organization(organization).get(pk=report_file.journey_id)
    files = ReportFile.objects.for_organization(organization).filter(pk=file_id)
    try:
        content, filename, content_type = _render_file(organization, journey, report_file)
    except ApplicationError as exc:
        files.update(status=FileStatus.FAILED, error=exc.message, finished_at=timezone.now())
        return files.defer("content").first()
    except Exception:
        log.exception("report file %s of organisation %s failed", file_id, organization.pk)
        files.update(
            status=FileStatus.FAILED,
            error=_("The file could not be made. Try again; if it fails again, tell support."),
            finished_at=timezone.now(),
        )
        return files.defer("content").first()
    now = timezone.now()
    files.update(
        status=FileStatus.READY,
        progress=100,
        content=content,
        size=len(content),
        filename=filename,
        content_type=content_type,
        finished_at=now,
        expires_at=now + FILE_VALIDITY,
    )
    return files.defer("content").first()


def report_files_purge(*, now: datetime | None = None) -> int:
    """Drop the content of expired files (the rows stay, for the record). Across tenants."""
    now = now or timezone.now()
    return (
        ReportFile.unscoped.filter(expires_at__lte=now)
        .exclude(content=None)
        .update(content=None, size=0)
    )


def file_stale_after() -> timedelta:
    """How long a running file may go without progress before it counts as left by a stopped
    worker. Files report progress at least every chunk of rows; a PDF takes seconds."""
    return timedelta(seconds=getattr(settings, "REPORTS_FILE_STALE_SECONDS", 15 * 60))


def report_files_fail_stale(*, now: datetime | None = None) -> list[int]:
    """Files left running by a stopped worker (no progress for `file_stale_after`): failed,
    so that the page stops showing progress and offers to ask again. The broker would only
    redeliver the task after its visibility timeout (2 h); a worker still rendering one of
    them after all turns it ready when it finishes. Across tenants (the beat's sweep)."""
    now = now or timezone.now()
    cutoff = now - file_stale_after()
    silent = Q(status=FileStatus.RUNNING) & (
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, created_at__lt=cutoff)
    )
    stale = ReportFile.unscoped.filter(silent).values_list("pk", "organization_id")[:500]
    failed = []
    for file_id, organization_id in stale:
        # Checked again in the update: the worker may have reported progress meanwhile.
        changed = (
            ReportFile.objects.for_organization(organization_id)
            .filter(silent, pk=file_id)
            .update(
                status=FileStatus.FAILED,
                error=_("Making the file was interrupted. Ask for it again."),
                finished_at=now,
            )
        )
        if changed:
            log.warning(
                "report file %s of organisation %s: stale, failed", file_id, organization_id
            )
            failed.append(file_id)
    return failed


# --- schedules --------------------------------------------------------------------------------

SCHEDULE_FIELDS = (
    "name",
    "frequency",
    "weekday",
    "day_of_month",
    "hour",
    "time_zone",
    "period",
    "language",
    "filters",
    "is_active",
)
TIMING_FIELDS = ("frequency", "weekday", "day_of_month", "hour", "time_zone", "is_active")


def _int_in(value: Any, lo: int, hi: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if lo <= number <= hi else None


def parse_recipients(value: Any) -> tuple[list[str], list[str]]:
    """Addresses from a list or from text separated by commas, semicolons or lines: (valid,
    lowercased and without duplicates; the malformed ones as given)."""
    if value is None:
        items: Iterable[Any] = []
    elif isinstance(value, str):
        items = re.split(r"[,;\s]+", value)
    elif isinstance(value, list | tuple):
        items = value
    else:
        return [], [str(value)]
    valid: list[str] = []
    invalid: list[str] = []
    for item in items:
        address = str(item).strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            invalid.append(address)
            continue
        if address.lower() not in valid:
            valid.append(address.lower())
    return valid, invalid


def _clean_schedule(
    organization: Organization, journey: Journey, data: dict[str, Any]
) -> dict[str, Any]:
    """Every field checked at once: one error naming each bad field."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    frequency = str(data.get("frequency") or "")
    if frequency not in Frequency.values:
        errors["frequency"] = [_("Choose weekly or monthly.")]
    cleaned["frequency"] = frequency
    cleaned["weekday"] = cleaned["day_of_month"] = None
    if frequency == Frequency.WEEKLY:
        cleaned["weekday"] = _int_in(data.get("weekday"), 0, 6)
        if cleaned["weekday"] is None:
            errors["weekday"] = [_("Choose a day of the week.")]
    elif frequency == Frequency.MONTHLY:
        cleaned["day_of_month"] = _int_in(data.get("day_of_month"), 1, 31)
        if cleaned["day_of_month"] is None:
            errors["day_of_month"] = [
                _("Give a day from 1 to 31 (29-31 fall on the last day of shorter months).")
            ]
    cleaned["hour"] = _int_in(data.get("hour"), 0, 23)
    if cleaned["hour"] is None:
        errors["hour"] = [_("Give an hour from 0 to 23.")]
    time_zone = str(data.get("time_zone") or "").strip() or organization.time_zone
    if not timing.is_time_zone(time_zone):
        errors["time_zone"] = [_("Unknown time zone: use a name such as Europe/Helsinki.")]
    cleaned["time_zone"] = time_zone
    period = str(data.get("period") or "")
    if period not in Period.values:
        errors["period"] = [_("Choose the period the report covers.")]
    cleaned["period"] = period
    try:
        cleaned["language"] = _language(data.get("language"), organization)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    try:
        cleaned["filters"] = _schedule_filters(organization, journey, data.get("filters"))
    except ValidationFailed as exc:
        errors.update(exc.fields)
    name = str(data.get("name") or "").strip()[:200]
    cleaned["name"] = name or _("%(journey)s gap report") % {"journey": journey.name}
    cleaned["is_active"] = bool(data.get("is_active", True))
    if "recipients" in data:
        valid, invalid = parse_recipients(data.get("recipients"))
        if invalid:
            errors["recipients"] = [
                _("Not a valid email address: %(address)s.") % {"address": address}
                for address in invalid[:10]
            ]
        elif not valid:
            errors["recipients"] = [_("Add at least one recipient.")]
        elif len(valid) > MAX_RECIPIENTS:
            errors["recipients"] = [_("At most %(count)s recipients.") % {"count": MAX_RECIPIENTS}]
        cleaned["recipients"] = valid
    if errors:
        raise ValidationFailed(
            _("Please check: %(fields)s.") % {"fields": ", ".join(sorted(errors))}, fields=errors
        )
    return cleaned


def schedule_timing(schedule: ReportSchedule) -> timing.Timing:
    return timing.Timing(
        frequency=schedule.frequency,
        hour=schedule.hour,
        time_zone=schedule.time_zone,
        weekday=schedule.weekday,
        day_of_month=schedule.day_of_month,
    )


def _sync_recipients(
    organization: Organization, schedule: ReportSchedule, addresses: list[str]
) -> dict[str, list[str]]:
    existing = {
        r.email: r
        for r in ScheduleRecipient.objects.for_organization(organization).filter(schedule=schedule)
    }
    refused = [a for a in addresses if a in existing and existing[a].unsubscribed_at is not None]
    if refused:
        raise ValidationFailed(
            _("Someone unsubscribed from this schedule."),
            fields={
                "recipients": [
                    _("%(address)s unsubscribed from these reports and is not added back.")
                    % {"address": address}
                    for address in refused
                ]
            },
        )
    members = {
        email.lower(): user_id
        for user_id, email in Membership.objects.for_organization(organization).values_list(
            "user_id", "user__email"
        )
    }
    removed = [
        r for email, r in existing.items() if email not in addresses and r.unsubscribed_at is None
    ]
    ScheduleRecipient.objects.for_organization(organization).filter(
        pk__in=[r.pk for r in removed]
    ).delete()
    added = [a for a in addresses if a not in existing]
    ScheduleRecipient.objects.bulk_create(
        ScheduleRecipient(
            organization=organization,
            schedule=schedule,
            email=address,
            user_id=members.get(address),
        )
        for address in added
    )
    return {"added": added, "removed": [r.email for r in removed]}


@transaction.atomic
def schedule_create(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    ip_address: str | None = None,
    now: datetime | None = None,
    **data: Any,
) -> ReportSchedule:
    """A journey's report, emailed weekly or monthly to members and outside addresses."""
    require(actor, Action.SCHEDULES_MANAGE, journey)
    unknown = set(data) - {*SCHEDULE_FIELDS, "recipients"}
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={n: [_("Not a schedule field.")] for n in sorted(unknown)}
        )
    cleaned = _clean_schedule(organization, journey, {"recipients": None, **data})
    addresses = cleaned.pop("recipients")
    schedule = ReportSchedule(
        organization=organization, journey=journey, created_by=actor.user, **cleaned
    )
    if schedule.is_active:
        schedule.next_due_at = timing.next_due_after(
            schedule_timing(schedule), now or timezone.now()
        )
    schedule.save()
    changes = _sync_recipients(organization, schedule, addresses)
    audit_record(
        organization=organization,
        actor=actor,
        action="report_schedule.created",
        target=schedule,
        data={"journey": journey.pk, **_audit_fields(cleaned), **changes},
        ip_address=ip_address,
    )
    return schedule


def _audit_fields(cleaned: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cleaned.items() if k in SCHEDULE_FIELDS}


def schedule_values(schedule: ReportSchedule) -> dict[str, Any]:
    return {field: getattr(schedule, field) for field in SCHEDULE_FIELDS}


@transaction.atomic
def schedule_update(
    *,
    organization: Organization,
    actor: Principal,
    schedule: ReportSchedule,
    ip_address: str | None = None,
    now: datetime | None = None,
    **changes: Any,
) -> ReportSchedule:
    """Change any field; the next due time moves only when the timing changed."""
    schedule = (
        ReportSchedule.objects.for_organization(organization)
        .select_for_update()
        .select_related("journey")
        .get(pk=schedule.pk)
    )
    require(actor, Action.SCHEDULES_MANAGE, schedule.journey)
    unknown = set(changes) - {*SCHEDULE_FIELDS, "recipients"}
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={n: [_("Not a schedule field.")] for n in sorted(unknown)}
        )
    merged = {**schedule_values(schedule), **changes}
    cleaned = _clean_schedule(organization, schedule.journey, merged)
    addresses = cleaned.pop("recipients", None)
    changed = [f for f in SCHEDULE_FIELDS if cleaned[f] != getattr(schedule, f)]
    for field in changed:
        setattr(schedule, field, cleaned[field])
    if set(changed) & set(TIMING_FIELDS):
        schedule.next_due_at = (
            timing.next_due_after(schedule_timing(schedule), now or timezone.now())
            if schedule.is_active
            else None
        )
        changed.append("next_due_at")
    if changed:
        schedule.save(update_fields=[*changed, "updated_at"])
    recipient_changes = (
        _sync_recipients(organization, schedule, addresses) if addresses is not None else {}
    )
    if changed or any(recipient_changes.values()):
        audit_record(
            organization=organization,
            actor=actor,
            action="report_schedule.updated",
            target=schedule,
            data={"fields": changed, **recipient_changes},
            ip_address=ip_address,
        )
    return schedule


@transaction.atomic
def schedule_delete(
    *,
    organization: Organization,
    actor: Principal,
    schedule: ReportSchedule,
    ip_address: str | None = None,
) -> None:
    journey = Journey.objects.for_organization(organization).get(pk=schedule.journey_id)
    require(actor, Action.SCHEDULES_MANAGE, journey)
    audit_record(
        organization=organization,
        actor=actor,
        action="report_schedule.deleted",
        target=schedule,
        data={"journey": journey.pk, "name": schedule.name},
        ip_address=ip_address,
    )
    ReportSchedule.objects.for_organization(organization).filter(pk=schedule.pk).delete()


def _queue_delivery(organization_id: int, delivery_id: int) -> None:
    from .tasks import send_delivery

    transaction.on_commit(
        lambda: send_delivery.delay(organization_id=organization_id, delivery_id=delivery_id)
    )


def _new_delivery(
    schedule: ReportSchedule, due_at: datetime, trigger: str, requested_by: Any = None
) -> ReportDelivery:
    date_from, date_to = timing.covered_period(schedule.period, due_at, schedule.time_zone)
    return ReportDelivery.objects.create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        due_at=due_at,
        trigger=trigger,
        period_start=date_from,
        period_end=date_to,
        language=schedule.language,
        filters=schedule.filters or {},
        lease_until=timezone.now() + DELIVERY_LEASE,
        requested_by=requested_by,
    )


@transaction.atomic
def schedule_send_now(
    *,
    organization: Organization,
    actor: Principal,
    schedule: ReportSchedule,
    ip_address: str | None = None,
) -> ReportDelivery:
    """Send the report to the schedule's recipients now, for the period ending yesterday."""
    schedule = (
        ReportSchedule.objects.for_organization(organization)
        .select_for_update()
        .select_related("journey")
        .get(pk=schedule.pk)
    )
    require(actor, Action.SCHEDULES_MANAGE, schedule.journey)
    busy = ReportDelivery.objects.for_organization(organization).filter(
        schedule=schedule, trigger=Trigger.MANUAL, status__in=ACTIVE_DELIVERY_STATUSES
    )
    if busy.exists():
        raise Conflict(_("This report is being sent already: wait until it is done."))
    if (
        not ScheduleRecipient.objects.for_organization(organization)
        .filter(schedule=schedule, unsubscribed_at=None)
        .exists()
    ):
        raise ValidationFailed(
            _("Nobody to send to."), fields={"recipients": [_("Add at least one recipient.")]}
        )
    delivery = _new_delivery(schedule, timezone.now(), Trigger.MANUAL, actor.user)
    audit_record(
        organization=organization,
        actor=actor,
        action="report_schedule.sent_now",
        target=schedule,
        data={"delivery": delivery.pk},
        ip_address=ip_address,
    )
    _queue_delivery(organization.pk, delivery.pk)
    return delivery


def _latest_due(schedule: ReportSchedule, due_at: datetime, now: datetime) -> datetime:
    """The last due instant not after `now`, starting from the schedule's: after a pause of
    the beat, one report for the latest due time, not one per missed time."""
    schedule_timing_ = schedule_timing(schedule)
    latest = due_at
    for _step in range(1000):
        following = timing.next_due_after(schedule_timing_, latest)
        if following > now:
            break
        latest = following
    return latest


def _deliver_due(
    schedule_id: int, organization_id: int, due_at: datetime, now: datetime
) -> int | None:
    with transaction.atomic():
        schedule = (
            ReportSchedule.objects.for_organization(organization_id)
            .filter(pk=schedule_id, is_active=True, next_due_at=due_at)
            .first()
        )
        if schedule is None:  # another tick moved it on, or it was changed meanwhile
            return None
        latest = _latest_due(schedule, due_at, now)
        try:
            with transaction.atomic():
                delivery = _new_delivery(schedule, latest, Trigger.SCHEDULED)
        except IntegrityError:
            return None  # a racing tick made this delivery: it alone queues it
        ReportSchedule.objects.for_organization(organization_id).filter(
            pk=schedule_id, next_due_at=due_at
        ).update(next_due_at=timing.next_due_after(schedule_timing(schedule), latest))
        _queue_delivery(organization_id, delivery.pk)
        return delivery.pk


def schedules_tick(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """The beat tick (every minute): one delivery per due schedule and due time, however many
    ticks run at once (a unique constraint decides), queued once committed; and deliveries a
    stopped worker left behind, queued again. Crosses tenants by design."""
    now = now or timezone.now()
    due = list(
        ReportSchedule.unscoped.filter(is_active=True, next_due_at__lte=now)
        .order_by("next_due_at")
        .values_list("pk", "organization_id", "next_due_at")[:limit]
    )
    created = []
    for schedule_id, organization_id, due_at in due:
        if due_at is None:  # filtered out above; for the type checker
            continue
        delivery_id = _deliver_due(schedule_id, organization_id, due_at, now)
        if delivery_id is not None:
            created.append(delivery_id)
    deliveries_requeue_stale(now=now)
    return created


def deliveries_requeue_stale(*, now: datetime | None = None) -> list[int]:
    """Deliveries whose worker stopped (lease passed, not finished): queue them again."""
    now = now or timezone.now()
    stale = list(
        ReportDelivery.unscoped.filter(
            status__in=ACTIVE_DELIVERY_STATUSES, lease_until__lt=now
        ).values_list("pk", "organization_id")[:500]
    )
    requeued = []
    for delivery_id, organization_id in stale:
        with transaction.atomic():
            taken = (
                ReportDelivery.objects.for_organization(organization_id)
                .filter(pk=delivery_id, status__in=ACTIVE_DELIVERY_STATUSES, lease_until__lt=now)
                .update(lease_until=now + DELIVERY_LEASE)
            )
            if taken:
                _queue_delivery(organization_id, delivery_id)
                requeued.append(delivery_id)
    return requeued


# --- unsubscribing ----------------------------------------------------------------------------


def recipient_for_token(token: str) -> ScheduleRecipient | None:
    if not token or len(token) > 64:
        return None
    # The token is the credential and names the organisation: crossing tenants is intended.
    return (
        ScheduleRecipient.unscoped.select_related("schedule", "schedule__journey", "organization")
        .filter(unsubscribe_token=token)
        .first()
    )


@transaction.atomic
def recipient_unsubscribe(*, token: str, ip_address: str | None = None) -> ScheduleRecipient | None:
    """Stop sending a schedule's reports to one address (the link in each email). Messages
    not yet handed to the mail server are dropped; doing it twice changes nothing."""
    recipient = recipient_for_token(token)
    if recipient is None:
        return None
    if recipient.unsubscribed_at is None:
        recipient.unsubscribed_at = timezone.now()
        recipient.save(update_fields=["unsubscribed_at"])
        DeliveryRecipient.objects.for_organization(recipient.organization_id).filter(
            recipient=recipient, status=DeliveryStatus.PENDING
        ).delete()
        audit_record(
            organization=recipient.organization,
            actor=None,
            action="report_schedule.unsubscribed",
            target=recipient.schedule,
            data={"email": recipient.email},
            ip_address=ip_address,
        )
    return recipient

"""Reads for report files, schedules and deliveries (file content is only read to download)."""

from django.db.models import Prefetch, QuerySet

from apps.journeys.models import Journey
from apps.organizations.models import Organization

from .models import DeliveryRecipient, ReportDelivery, ReportFile, ReportSchedule, ScheduleRecipient


def report_file_get(*, organization: Organization, token: str) -> ReportFile | None:
    if not token or len(token) > 64:
        return None
    return (
        ReportFile.objects.for_organization(organization)
        .defer("content")
        .select_related("journey")
        .filter(token=token)
        .first()
    )


def report_file_content(*, organization: Organization, report_file: ReportFile) -> bytes:
    content = (
        ReportFile.objects.for_organization(organization)
        .filter(pk=report_file.pk)
        .values_list("content", flat=True)
        .first()
    )
    return bytes(content or b"")


def report_files_requested(
    *, organization: Organization, journey: Journey | None = None, limit: int = 20
) -> list[ReportFile]:
    """Files asked for by people or API keys (not the PDFs of scheduled deliveries)."""
    files = (
        ReportFile.objects.for_organization(organization)
        .defer("content")
        .exclude(parameters__has_key="delivery")
        .select_related("created_by")
    )
    if journey is not None:
        files = files.filter(journey=journey)
    return list(files.order_by("-created_at", "-id")[:limit])


def _recipients() -> Prefetch:
    return Prefetch(
        "recipients",
        queryset=ScheduleRecipient.unscoped.order_by("email"),  # filtered by the schedules
    )


def schedules_for_journey(
    *, organization: Organization, journey: Journey
) -> QuerySet[ReportSchedule]:
    return (
        ReportSchedule.objects.for_organization(organization)
        .filter(journey=journey)
        .prefetch_related(_recipients())
        .order_by("name", "id")
    )


def schedules_for_organization(*, organization: Organization) -> QuerySet[ReportSchedule]:
    return (
        ReportSchedule.objects.for_organization(organization)
        .select_related("journey")
        .prefetch_related(_recipients())
        .order_by("journey_id", "name", "id")
    )


def schedule_get(*, organization: Organization, schedule_id: int) -> ReportSchedule | None:
    return (
        ReportSchedule.objects.for_organization(organization)
        .select_related("journey")
        .prefetch_related(_recipients())
        .filter(pk=schedule_id)
        .first()
    )


def deliveries_for_schedule(
    *, organization: Organization, schedule: ReportSchedule, limit: int = 20
) -> list[ReportDelivery]:
    return list(
        ReportDelivery.objects.for_organization(organization)
        .filter(schedule=schedule)
        .prefetch_related(
            Prefetch("recipients", queryset=DeliveryRecipient.unscoped.order_by("email"))
        )
        .order_by("-due_at", "-id")[:limit]
    )

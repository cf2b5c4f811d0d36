"""REST endpoints for report schedules (with "send now" and their deliveries) and report files
(the gap-report PDF and exports: ask, follow the progress, download).

Reads need `results.view`; schedules are managed with `schedules.manage` on their journey and
exports made with `export` (checked by the services), so a journey owner manages their own.
"""

from typing import Any

from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.core.api import paginated, validated
from apps.core.errors import PermissionDenied
from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey
from apps.organizations.base import OrganizationAPIView, OrganizationViewSet, client_ip
from apps.organizations.permissions import Action, can

from . import selectors, services
from .models import (
    DeliveryRecipient,
    FileKind,
    FileStatus,
    Frequency,
    Period,
    ReportDelivery,
    ReportFile,
    ReportSchedule,
)

READ = {"GET": Action.RESULTS_VIEW, "POST": Action.RESULTS_VIEW}


class ScheduleSerializer(serializers.ModelSerializer):
    language = serializers.CharField(read_only=True)
    recipients = serializers.SerializerMethodField()
    unsubscribed = serializers.SerializerMethodField()

    class Meta:
        model = ReportSchedule
        fields = (
            "id",
            "journey",
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
            "next_due_at",
            "recipients",
            "unsubscribed",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_recipients(self, obj: ReportSchedule) -> list[str]:
        return [r.email for r in obj.recipients.all() if r.unsubscribed_at is None]

    def get_unsubscribed(self, obj: ReportSchedule) -> list[str]:
        return [r.email for r in obj.recipients.all() if r.unsubscribed_at is not None]


class _ScheduleFields(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    weekday = serializers.IntegerField(
        required=False, allow_null=True, help_text="0 Monday .. 6 Sunday (weekly)."
    )
    day_of_month = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="1-31 (monthly); 29-31 fall on the last day of shorter months.",
    )
    hour = serializers.IntegerField(help_text="0-23 on the clock of `time_zone`.")
    time_zone = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="IANA name such as Europe/Helsinki; default: the organisation's.",
    )
    period = serializers.ChoiceField(choices=Period.choices)
    language = serializers.CharField(required=False, allow_blank=True, max_length=8)
    filters = serializers.DictField(
        required=False,
        help_text="Report filter query parameters: `questionnaire`, `attr.<name>` (a list).",
    )
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254), help_text="Email addresses."
    )
    is_active = serializers.BooleanField(required=False, default=True)


class ScheduleCreateSerializer(_ScheduleFields):
    journey = serializers.IntegerField()


class ScheduleUpdateSerializer(_ScheduleFields):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
        self.fields["is_active"].default = serializers.empty


class DeliveryRecipientSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryRecipient
        fields = ("email", "status", "attempts", "error", "sending_at", "sent_at")
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    recipients = DeliveryRecipientSerializer(many=True, read_only=True)

    class Meta:
        model = ReportDelivery
        fields = (
            "id",
            "due_at",
            "trigger",
            "status",
            "period_start",
            "period_end",
            "language",
            "attempts",
            "error",
            "created_at",
            "finished_at",
            "recipients",
        )
        read_only_fields = fields


def _journey(organization: Any, journey_id: Any) -> Journey:
    journey = None
    if str(journey_id).isdigit():
        journey = journey_selectors.journey_get(
            organization=organization, journey_id=int(journey_id)
        )
    if journey is None:
        raise Http404
    return journey


class ReportScheduleViewSet(OrganizationViewSet):
    """A journey's gap report emailed as a PDF every week or month."""

    actions = READ | {"PATCH": Action.RESULTS_VIEW, "DELETE": Action.RESULTS_VIEW}
    serializer_class = ScheduleSerializer
    lookup_value_regex = r"\d+"

    def _schedule(self, pk: str) -> ReportSchedule:
        schedule = selectors.schedule_get(organization=self.organization, schedule_id=int(pk))
        if schedule is None:
            raise Http404
        if not can(self.principal, Action.SCHEDULES_MANAGE, schedule.journey):
            raise PermissionDenied("You do not have permission to do this.")
        return schedule

    @extend_schema(
        parameters=[OpenApiParameter("journey", int, description="Only this journey's.")],
        responses=ScheduleSerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        """The schedules of the journeys the caller manages."""
        schedules = selectors.schedules_for_organization(organization=self.organization)
        journey = request.query_params.get("journey")
        if journey is not None:
            schedules = schedules.filter(journey=_journey(self.organization, journey))
        allowed = [s for s in schedules if can(self.principal, Action.SCHEDULES_MANAGE, s.journey)]
        page = self.paginate_queryset(allowed)
        return self.get_paginated_response(ScheduleSerializer(page, many=True).data)

    @extend_schema(request=ScheduleCreateSerializer, responses={201: ScheduleSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(ScheduleCreateSerializer, request.data)
        journey = _journey(self.organization, data.pop("journey"))
        schedule = services.schedule_create(
            organization=self.organization,
            actor=self.principal,
            journey=journey,
            ip_address=client_ip(request),
            **data,
        )
        fresh = selectors.schedule_get(organization=self.organization, schedule_id=schedule.pk)
        return Response(ScheduleSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ScheduleSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ScheduleSerializer(self._schedule(pk)).data)

    @extend_schema(request=ScheduleUpdateSerializer, responses=ScheduleSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        schedule = self._schedule(pk)
        changes = validated(ScheduleUpdateSerializer, request.data)
        services.schedule_update(
            organization=self.organization,
            actor=self.principal,
            schedule=schedule,
            ip_address=client_ip(request),
            **changes,
        )
        return Response(ScheduleSerializer(self._schedule(pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        services.schedule_delete(
            organization=self.organization,
            actor=self.principal,
            schedule=self._schedule(pk),
            ip_address=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"], url_path="send-now")
    def send_now(self, request: Request, org_slug: str, pk: str) -> Response:
        """Send the report now (the period ending yesterday) to every recipient."""
        delivery = services.schedule_send_now(
            organization=self.organization,
            actor=self.principal,
            schedule=self._schedule(pk),
            ip_address=client_ip(request),
        )
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, org_slug: str, pk: str) -> Response:
        """Recent deliveries, newest first, with each recipient's status."""
        deliveries = selectors.deliveries_for_schedule(
            organization=self.organization, schedule=self._schedule(pk), limit=100
        )
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


# --- report files -----------------------------------------------------------------------------


class ReportFileSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(
        help_text="While the file is ready and not expired; members only."
    )

    class Meta:
        model = ReportFile
        fields = (
            "token",
            "journey",
            "kind",
            "status",
            "progress",
            "parameters",
            "filename",
            "content_type",
            "size",
            "error",
            "created_at",
            "finished_at",
            "expires_at",
            "download_url",
        )
        read_only_fields = fields

    def get_download_url(self, obj: ReportFile) -> str | None:
        if not obj.is_downloadable:
            return None
        request = self.context["request"]
        return request.build_absolute_uri(
            reverse("api:report-file-download", args=[request.organization.slug, obj.token])
        )


class ReportFileCreateSerializer(serializers.Serializer):
    journey = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=FileKind.choices)
    filters = serializers.DictField(
        required=False,
        help_text="Report filter query parameters: `from`, `to`, `questionnaire`, "
        "`attr.<name>` (a list).",
    )
    language = serializers.CharField(required=False, allow_blank=True, max_length=8)


class ReportFilesView(OrganizationAPIView):
    """Ask for a gap-report PDF or an export; the response's token follows its progress."""

    actions = READ
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        parameters=[OpenApiParameter("journey", int, description="Only this journey's.")],
        responses=ReportFileSerializer(many=True),
    )
    def get(self, request: Request, org_slug: str) -> Response:
        """The 50 latest files people asked for (not those of scheduled emails)."""
        journey_id = request.query_params.get("journey")
        journey = _journey(self.organization, journey_id) if journey_id is not None else None
        files = selectors.report_files_requested(
            organization=self.organization, journey=journey, limit=50
        )
        return paginated(
            self,
            request,
            files,
            lambda page: ReportFileSerializer(page, many=True, context={"request": request}).data,
        )

    @extend_schema(request=ReportFileCreateSerializer, responses={202: ReportFileSerializer})
    def post(self, request: Request, org_slug: str) -> Response:
        data = validated(ReportFileCreateSerializer, request.data)
        journey = _journey(self.organization, data["journey"])
        report_file = services.report_file_request(
            organization=self.organization,
            actor=self.principal,
            journey=journey,
            kind=data["kind"],
            params=data.get("filters") or {},
            language=data.get("language") or "",
            ip_address=client_ip(request),
        )
        fresh = selectors.report_file_get(organization=self.organization, token=report_file.token)
        body = ReportFileSerializer(fresh, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class _FileView(OrganizationAPIView):
    actions = {"GET": Action.RESULTS_VIEW}

    def report_file(self, token: str) -> ReportFile:
        report_file = selectors.report_file_get(organization=self.organization, token=token)
        if report_file is None:
            raise Http404
        if not can(self.principal, services.file_download_action(report_file), report_file.journey):
            raise PermissionDenied("You do not have permission to do this.")
        return report_file


class ReportFileView(_FileView):
    @extend_schema(responses=ReportFileSerializer)
    def get(self, request: Request, org_slug: str, file_token: str) -> Response:
        """A file's status and progress; its download address once it is ready."""
        report_file = self.report_file(file_token)
        return Response(ReportFileSerializer(report_file, context={"request": request}).data)


class ReportFileDownloadView(_FileView):
    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            409: OpenApiResponse(description="Not ready yet, failed or expired."),
        }
    )
    def get(self, request: Request, org_slug: str, file_token: str) -> Any:
        """The file itself (PDF, CSV or XLSX)."""
        report_file = self.report_file(file_token)
        if not report_file.is_downloadable:
            state = "expired" if report_file.status == FileStatus.READY else report_file.status
            return Response(
                {"error": {"code": "not_ready", "message": f"The file is {state}.", "fields": {}}},
                status=status.HTTP_409_CONFLICT,
            )
        content = selectors.report_file_content(
            organization=self.organization, report_file=report_file
        )
        response = HttpResponse(content, content_type=report_file.content_type)
        response["Content-Disposition"] = f'attachment; filename="{report_file.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response

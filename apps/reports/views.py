"""Report pages: a journey's reports (the gap-report PDF, exports, schedules), a file being made
(with progress) and its download, schedule forms with their deliveries, unsubscribing.

Pages need `results.view`; managing schedules and making exports are checked on the journey
(`schedules.manage`, `export`), so a journey owner with a low role manages their own journey's.
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.errors import ApplicationError, ValidationFailed
from apps.core.tenancy import token_view
from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey
from apps.journeys.views import call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.permissions import Action, can
from apps.surveys import selectors as survey_selectors

from . import selectors, services
from .forms import ReportRequestForm, ScheduleForm, schedule_initial
from .models import FileKind, FileStatus, ReportFile, ReportSchedule

READ = {"GET": Action.RESULTS_VIEW, "POST": Action.RESULTS_VIEW}

# Service field names -> form field names.
_FILTER_FIELDS = {"from": "date_from", "to": "date_to"}


def _remap(exc: ValidationFailed) -> ValidationFailed:
    fields: dict[str, list[str]] = {}
    for name, errors in exc.fields.items():
        if name in _FILTER_FIELDS:
            target = _FILTER_FIELDS[name]
        elif name.startswith("attr.") or name == "filters":
            target = "attributes"
        else:
            target = name
        fields.setdefault(target, []).extend(errors)
    return ValidationFailed(exc.message, fields=fields)


def _service(fn: Any, form: Any, **kwargs: Any) -> tuple[Any, bool]:
    def remapped(**inner: Any) -> Any:
        try:
            return fn(**inner)
        except ValidationFailed as exc:
            raise _remap(exc) from exc

    return call_service(remapped, form=form, **kwargs)


class ReportsBase(OrganizationView):
    actions = READ

    def journey(self, journey_id: int) -> Journey:
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=journey_id
        )
        if journey is None:
            raise Http404
        return journey

    def schedule(self, pk: int) -> ReportSchedule:
        schedule = selectors.schedule_get(organization=self.organization, schedule_id=pk)
        if schedule is None:
            raise Http404
        if not can(self.principal, Action.SCHEDULES_MANAGE, schedule.journey):
            raise DjangoPermissionDenied
        return schedule

    def report_file(self, token: str) -> ReportFile:
        report_file = selectors.report_file_get(organization=self.organization, token=token)
        if report_file is None:
            raise Http404
        if not can(self.principal, services.file_download_action(report_file), report_file.journey):
            raise DjangoPermissionDenied
        return report_file

    def questionnaires(self, journey: Journey) -> list[tuple[int, str]]:
        return [
            (q.pk, q.name)
            for q in survey_selectors.questionnaires_for_journey(
                organization=self.organization, journey=journey
            )
        ]

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }


class JourneyReportsView(ReportsBase):
    """A journey's reports: ask for the PDF or an export, recent files, the schedules."""

    def get(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self.journey(journey_id)
        form = ReportRequestForm(
            questionnaires=self.questionnaires(journey),
            initial={"language": self.organization.default_language},
        )
        return self._render(request, journey, form)

    def post(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self.journey(journey_id)
        form = ReportRequestForm(request.POST, questionnaires=self.questionnaires(journey))
        kind = request.POST.get("kind", "")
        if kind not in FileKind.values:
            form.add_error(None, _("Choose what to make."))
        elif form.is_valid():
            report_file, ok = _service(
                services.report_file_request,
                form=form,
                journey=journey,
                kind=kind,
                params=form.filter_params(),
                language=form.cleaned_data["language"],
                **self.service_kwargs(),
            )
            if ok:
                return redirect(
                    "reports:file", org_slug=self.organization.slug, file_token=report_file.token
                )
        return self._render(request, journey, form, status=400)

    def _render(
        self, request: HttpRequest, journey: Journey, form: Any, status: int = 200
    ) -> HttpResponse:
        can_manage = can(self.principal, Action.SCHEDULES_MANAGE, journey)
        context = self.get_context_data(
            journey=journey,
            form=form,
            files=selectors.report_files_requested(organization=self.organization, journey=journey),
            schedules=list(
                selectors.schedules_for_journey(organization=self.organization, journey=journey)
            )
            if can_manage
            else [],
            can_manage=can_manage,
            can_export=can(self.principal, Action.EXPORT, journey),
        )
        return render(request, "reports/journey.html", context, status=status)


class FileView(ReportsBase):
    """A file being made: progress, then the download link."""

    def get(self, request: HttpRequest, file_token: str) -> HttpResponse:
        report_file = self.report_file(file_token)
        context = self.get_context_data(
            report_file=report_file, journey=report_file.journey, **_file_state(report_file)
        )
        return render(request, "reports/file.html", context)


def _file_state(report_file: ReportFile) -> dict[str, Any]:
    return {
        "status": report_file.status,
        "status_label": report_file.get_status_display(),
        "progress": report_file.progress,
        "ready": report_file.is_downloadable,
        "expired": report_file.status == FileStatus.READY and report_file.is_expired,
        "finished": report_file.status in (FileStatus.READY, FileStatus.FAILED),
        "error": report_file.error,
    }


class FileStatusView(ReportsBase):
    """The file's progress as JSON, for the page's small polling script."""

    def get(self, request: HttpRequest, file_token: str) -> HttpResponse:
        report_file = self.report_file(file_token)
        state = _file_state(report_file)
        if state["ready"]:
            state["download_url"] = reverse(
                "reports:file_download", args=[self.organization.slug, report_file.token]
            )
        response = JsonResponse(state)
        response["Cache-Control"] = "no-store"
        return response


class FileDownloadView(ReportsBase):
    def get(self, request: HttpRequest, file_token: str) -> HttpResponse:
        report_file = self.report_file(file_token)
        if not report_file.is_downloadable:
            if report_file.status == FileStatus.READY:
                messages.error(request, _("This link has expired: make the file again."))
            return redirect("reports:file", org_slug=self.organization.slug, file_token=file_token)
        content = selectors.report_file_content(
            organization=self.organization, report_file=report_file
        )
        response = HttpResponse(content, content_type=report_file.content_type)
        response["Content-Disposition"] = f'attachment; filename="{report_file.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


class ScheduleCreateView(ReportsBase):
    def _journey(self, journey_id: int) -> Journey:
        journey = self.journey(journey_id)
        if not can(self.principal, Action.SCHEDULES_MANAGE, journey):
            raise DjangoPermissionDenied
        return journey

    def get(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self._journey(journey_id)
        form = ScheduleForm(
            questionnaires=self.questionnaires(journey),
            initial={
                "frequency": "weekly",
                "weekday": 0,
                "hour": 8,
                "period": "last_7_days",
                "time_zone": self.organization.time_zone,
                "language": self.organization.default_language,
                "recipients": getattr(request.user, "email", ""),
                "is_active": True,
            },
        )
        return self._render(request, journey, form)

    def post(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self._journey(journey_id)
        form = ScheduleForm(request.POST, questionnaires=self.questionnaires(journey))
        if form.is_valid():
            schedule, ok = _service(
                services.schedule_create,
                form=form,
                journey=journey,
                **self.service_kwargs(),
                **form.service_data(),
            )
            if ok:
                messages.success(request, _("Schedule saved."))
                return redirect("reports:schedule", org_slug=self.organization.slug, pk=schedule.pk)
        return self._render(request, journey, form, status=400)

    def _render(
        self, request: HttpRequest, journey: Journey, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(journey=journey, form=form, schedule=None)
        return render(request, "reports/schedule_form.html", context, status=status)


class ScheduleView(ReportsBase):
    """Edit a schedule; its recent deliveries, each recipient's status."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        schedule = self.schedule(pk)
        form = ScheduleForm(
            questionnaires=self.questionnaires(schedule.journey), initial=schedule_initial(schedule)
        )
        return self._render(request, schedule, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        schedule = self.schedule(pk)
        form = ScheduleForm(request.POST, questionnaires=self.questionnaires(schedule.journey))
        if form.is_valid():
            _schedule, ok = _service(
                services.schedule_update,
                form=form,
                schedule=schedule,
                **self.service_kwargs(),
                **form.service_data(),
            )
            if ok:
                messages.success(request, _("Schedule saved."))
                return redirect("reports:schedule", org_slug=self.organization.slug, pk=pk)
        return self._render(request, schedule, form, status=400)

    def _render(
        self, request: HttpRequest, schedule: ReportSchedule, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(
            journey=schedule.journey,
            schedule=schedule,
            form=form,
            unsubscribed=[r for r in schedule.recipients.all() if r.unsubscribed_at],
            deliveries=selectors.deliveries_for_schedule(
                organization=self.organization, schedule=schedule
            ),
        )
        return render(request, "reports/schedule_form.html", context, status=status)


class ScheduleDeleteView(ReportsBase):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        schedule = self.schedule(pk)
        call_service(services.schedule_delete, schedule=schedule, **self.service_kwargs())
        messages.success(request, _("Schedule deleted."))
        return redirect(
            "reports:journey", org_slug=self.organization.slug, journey_id=schedule.journey_id
        )


class ScheduleSendView(ReportsBase):
    """ "Send now": the report for the period ending yesterday, to every recipient."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        schedule = self.schedule(pk)
        try:
            call_service(services.schedule_send_now, schedule=schedule, **self.service_kwargs())
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The report is being sent: its status is below."))
        return redirect("reports:schedule", org_slug=self.organization.slug, pk=pk)


# --- unsubscribing (public: the token in the email is the credential) --------------------------


@csrf_exempt  # mail clients' one-click unsubscribe (RFC 8058) POSTs without a form token
@require_http_methods(["GET", "POST"])
@token_view("report_recipient")
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation (link scanners open links); POST unsubscribes."""
    recipient = services.recipient_for_token(token)
    if recipient is None:
        return render(request, "reports/unsubscribe.html", {"unknown": True}, status=404)
    done = recipient.unsubscribed_at is not None
    if request.method == "POST":
        services.recipient_unsubscribe(token=token, ip_address=client_ip(request))
        done = True
    context = {
        "recipient": recipient,
        "done": done,
        "schedule": recipient.schedule,
        "organization_name": recipient.organization.name,
    }
    response = render(request, "reports/unsubscribe.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response

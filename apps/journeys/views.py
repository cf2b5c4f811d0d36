"""Journey pages: the list, the journey map, and forms for stages, touchpoints and the owner.

Pages need `journey.view`; each write is checked on the journey by its service, so a journey
owner with a low role can still edit the journey they own. Reordering is plain POST forms.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.forms import add_service_errors
from apps.organizations.permissions import Action, can

from . import selectors, services
from .forms import JourneyCreateForm, JourneyEditForm, OwnerForm, StageForm, TouchpointForm
from .models import Journey, Stage, Touchpoint

VIEW = {"GET": Action.JOURNEY_VIEW, "POST": Action.JOURNEY_VIEW}


def call_service(fn: Callable[..., Any], form: Any = None, **kwargs: Any) -> tuple[Any, bool]:
    """Run a service; its refusals become 403/404, its bad-input errors land on the form."""
    try:
        return fn(**kwargs), True
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ApplicationError as exc:
        if form is None:
            raise
        add_service_errors(form, exc)
        return None, False


class JourneyBase(OrganizationView):
    actions = VIEW

    def journey(self, journey_id: int) -> Journey:
        journey = selectors.journey_get(organization=self.organization, journey_id=journey_id)
        if journey is None:
            raise Http404
        return journey

    def stage(self, stage_id: int) -> Stage:
        stage = selectors.stages(organization=self.organization).filter(pk=stage_id).first()
        if stage is None:
            raise Http404
        return stage

    def touchpoint(self, touchpoint_id: int) -> Touchpoint:
        touchpoint = (
            selectors.touchpoints(organization=self.organization).filter(pk=touchpoint_id).first()
        )
        if touchpoint is None:
            raise Http404
        return touchpoint

    def members(self) -> list:
        return list(selectors.owner_candidates(organization=self.organization))

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }

    def to_journey(self, journey_id: int, anchor: str = "") -> HttpResponse:
        response = redirect("journeys:detail", org_slug=self.organization.slug, pk=journey_id)
        if anchor:
            response["Location"] += f"#{anchor}"
        return response

    def require_edit(self, journey: Journey) -> None:
        if not can(self.principal, Action.JOURNEY_EDIT, journey):
            raise DjangoPermissionDenied


class JourneyListView(JourneyBase):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = JourneyCreateForm(initial={"language": self.organization.default_language})
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        if not can(self.principal, Action.JOURNEY_CREATE):
            raise DjangoPermissionDenied
        form = JourneyCreateForm(request.POST)
        if form.is_valid():
            journey, ok = call_service(
                services.journey_create, form, **self.service_kwargs(), **form.cleaned_data
            )
            if ok:
                messages.success(request, _("Journey created."))
                return self.to_journey(journey.pk)
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        context = self.get_context_data(
            journeys=selectors.journeys(organization=self.organization),
            form=form,
            can_create=can(self.principal, Action.JOURNEY_CREATE),
        )
        return render(request, "journeys/list.html", context, status=status)


class JourneyDetailView(JourneyBase):
    """The journey map: stages as columns, touchpoints as cards."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from apps.surveys.selectors import questionnaires_for_journey

        journey = selectors.journey_map(organization=self.organization, journey_id=pk)
        if journey is None:
            raise Http404
        members = self.members()
        context = self.get_context_data(
            journey=journey,
            stages=list(journey.stages.all()),
            can_edit=can(self.principal, Action.JOURNEY_EDIT, journey),
            can_assign=can(self.principal, Action.JOURNEY_ASSIGN_OWNER, journey),
            owner_form=OwnerForm(initial={"owner": journey.owner_id}, members=members),
            stage_form=StageForm(),
            questionnaires=questionnaires_for_journey(
                organization=self.organization, journey=journey
            ),
        )
        return render(request, "journeys/detail.html", context)


class JourneyEditView(JourneyBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(pk)
        self.require_edit(journey)
        form = JourneyEditForm(
            initial={"name": journey.name, "description": journey.description,
                     "status": journey.status}
        )  # fmt: skip
        return self._render(request, journey, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(pk)
        form = JourneyEditForm(request.POST)
        if form.is_valid():
            _result, ok = call_service(
                services.journey_update, form, journey=journey, **self.service_kwargs(),
                **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("Journey saved."))
                return self.to_journey(journey.pk)
        return self._render(request, journey, form, status=400)

    def _render(self, request: HttpRequest, journey: Journey, form: Any, status: int = 200):
        context = self.get_context_data(
            journey=journey, form=form, title=_("Edit journey"), submit=_("Save")
        )
        return render(request, "journeys/form.html", context, status=status)


class JourneyOwnerView(JourneyBase):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(pk)
        form = OwnerForm(request.POST, members=self.members())
        if form.is_valid():
            _result, ok = call_service(
                services.journey_assign_owner, form, journey=journey,
                owner_id=form.cleaned_data["owner"], **self.service_kwargs(),
            )  # fmt: skip
            if ok:
                messages.success(request, _("Journey owner saved."))
                return self.to_journey(journey.pk)
        if not can(self.principal, Action.JOURNEY_ASSIGN_OWNER, journey):
            raise DjangoPermissionDenied
        messages.error(
            request, " ".join(str(e) for e in form.errors.get("owner", [])) or _("Choose a member.")
        )
        return self.to_journey(journey.pk)


class StageCreateView(JourneyBase):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(pk)
        form = StageForm(request.POST)
        if form.is_valid():
            _stage, ok = call_service(
                services.stage_create, form, journey=journey, **self.service_kwargs(),
                **form.cleaned_data,
            )  # fmt: skip
            if ok:
                return self.to_journey(journey.pk)
        self.require_edit(journey)
        context = self.get_context_data(
            journey=journey, form=form, title=_("Add a stage"), submit=_("Add stage")
        )
        return render(request, "journeys/form.html", context, status=400)


class StageEditView(JourneyBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        stage = self.stage(pk)
        self.require_edit(stage.journey)
        form = StageForm(initial={"name": stage.name, "description": stage.description})
        return self._render(request, stage, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        stage = self.stage(pk)
        form = StageForm(request.POST)
        if form.is_valid():
            _result, ok = call_service(
                services.stage_update, form, stage=stage, **self.service_kwargs(),
                **form.cleaned_data,
            )  # fmt: skip
            if ok:
                return self.to_journey(stage.journey_id, f"stage-{stage.pk}")
        return self._render(request, stage, form, status=400)

    def _render(self, request: HttpRequest, stage: Stage, form: Any, status: int = 200):
        context = self.get_context_data(
            journey=stage.journey, form=form, title=_("Edit stage"), submit=_("Save"),
            delete_url="journeys:stage_delete", delete_pk=stage.pk,
        )  # fmt: skip
        return render(request, "journeys/form.html", context, status=status)


def _new_position(current: int, direction: str) -> int:
    return max(0, current - 1) if direction == "up" else current + 1


class StageMoveView(JourneyBase):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        stage = self.stage(pk)
        call_service(
            services.stage_move, stage=stage, **self.service_kwargs(),
            position=_new_position(stage.position, request.POST.get("direction", "")),
        )  # fmt: skip
        return self.to_journey(stage.journey_id, f"stage-{stage.pk}")


class StageDeleteView(JourneyBase):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        stage = self.stage(pk)
        try:
            call_service(services.stage_delete, stage=stage, **self.service_kwargs())
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Stage removed."))
        return self.to_journey(stage.journey_id)


class TouchpointCreateView(JourneyBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        stage = self.stage(pk)
        self.require_edit(stage.journey)
        return self._render(request, stage, TouchpointForm(members=self.members()))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        stage = self.stage(pk)
        form = TouchpointForm(request.POST, members=self.members())
        if form.is_valid():
            data = dict(form.cleaned_data)
            data["owner_id"] = data.pop("owner")
            touchpoint, ok = call_service(
                services.touchpoint_create, form, stage=stage, **self.service_kwargs(), **data
            )
            if ok:
                messages.success(request, _("Touchpoint added."))
                return self.to_journey(stage.journey_id, f"touchpoint-{touchpoint.pk}")
        self.require_edit(stage.journey)
        return self._render(request, stage, form, status=400)

    def _render(self, request: HttpRequest, stage: Stage, form: Any, status: int = 200):
        context = self.get_context_data(
            journey=stage.journey, form=form, submit=_("Add touchpoint"),
            title=_("Add a touchpoint to %(stage)s") % {"stage": stage.name},
        )  # fmt: skip
        return render(request, "journeys/form.html", context, status=status)


class TouchpointEditView(JourneyBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        touchpoint = self.touchpoint(pk)
        self.require_edit(touchpoint.journey)
        form = TouchpointForm(
            initial={
                "name": touchpoint.name, "description": touchpoint.description,
                "channel": touchpoint.channel, "importance": touchpoint.importance,
                "owner": touchpoint.owner_id, "is_active": touchpoint.is_active,
            },
            members=self.members(),
        )  # fmt: skip
        return self._render(request, touchpoint, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        touchpoint = self.touchpoint(pk)
        form = TouchpointForm(request.POST, members=self.members())
        if form.is_valid():
            data = dict(form.cleaned_data)
            data["owner_id"] = data.pop("owner")
            _result, ok = call_service(
                services.touchpoint_update, form, touchpoint=touchpoint,
                **self.service_kwargs(), **data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("Touchpoint saved."))
                return self.to_journey(touchpoint.journey_id, f"touchpoint-{touchpoint.pk}")
        return self._render(request, touchpoint, form, status=400)

    def _render(self, request: HttpRequest, touchpoint: Touchpoint, form: Any, status: int = 200):
        context = self.get_context_data(
            journey=touchpoint.journey, form=form, title=_("Edit touchpoint"), submit=_("Save"),
            delete_url="journeys:touchpoint_delete", delete_pk=touchpoint.pk,
        )  # fmt: skip
        return render(request, "journeys/form.html", context, status=status)


class TouchpointMoveView(JourneyBase):
    """Up/down within the stage, or left/right into the neighbouring stage."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        touchpoint = self.touchpoint(pk)
        direction = request.POST.get("direction", "")
        stage_id, position = None, _new_position(touchpoint.position, direction)
        if direction in ("left", "right"):
            stages = list(
                selectors.stages(organization=self.organization, journey_id=touchpoint.journey_id)
            )
            index = next(i for i, s in enumerate(stages) if s.pk == touchpoint.stage_id)
            index += -1 if direction == "left" else 1
            if not 0 <= index < len(stages):
                return self.to_journey(touchpoint.journey_id, f"touchpoint-{touchpoint.pk}")
            stage_id, position = stages[index].pk, 10**6  # to the end of that stage
        call_service(
            services.touchpoint_move, touchpoint=touchpoint, position=position,
            stage_id=stage_id, **self.service_kwargs(),
        )  # fmt: skip
        return self.to_journey(touchpoint.journey_id, f"touchpoint-{touchpoint.pk}")


class TouchpointDeleteView(JourneyBase):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        touchpoint = self.touchpoint(pk)
        result, _ok = call_service(
            services.touchpoint_delete, touchpoint=touchpoint, **self.service_kwargs()
        )
        if result == "archived":
            messages.success(
                request, _("The touchpoint has answers, so it was archived instead of deleted.")
            )
        else:
            messages.success(request, _("Touchpoint deleted."))
        return self.to_journey(touchpoint.journey_id)

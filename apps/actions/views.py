"""Improvement action pages: the list (per organisation, or per journey with `?journey=`), a new
action (prefilled from the dashboard's blind spots, weak links and priorities), the action's
page with its progress against the baseline, editing, and the status workflow.

Reading needs `actions.view`; creating and editing are checked on the journey or the action
(`actions.manage`), so a journey owner with a low role manages their own journey's actions;
the action's owner moves it along (`actions.work`).
"""

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey
from apps.journeys.views import call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.permissions import Action, can
from apps.reports import charts
from apps.reports.narrative import dimension_label, p_text, points
from apps.scoring import selectors as scoring
from apps.scoring.filters import default_filter, organization_today

from . import selectors, services
from .forms import ActionCreateForm, ActionEditForm, ActionStatusForm
from .models import ActionSource, ActionStatus, ImprovementAction

VIEW = {"GET": Action.ACTIONS_VIEW, "POST": Action.ACTIONS_VIEW}
PAGE_SIZE = 50


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 12 else None


class ActionsBase(OrganizationView):
    actions = VIEW

    def action(self, action_id: int, needs: Action = Action.ACTIONS_VIEW) -> ImprovementAction:
        action = selectors.action_get(organization=self.organization, action_id=action_id)
        if action is None:
            raise Http404
        if not can(self.principal, needs, action):
            raise DjangoPermissionDenied
        return action

    def owners(self) -> list[tuple[int, str]]:
        return [
            (m.user_id, m.user.full_name or m.user.email)
            for m in selectors.action_owner_candidates(organization=self.organization)
        ]

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }


class ActionListView(ActionsBase):
    def get(self, request: HttpRequest) -> HttpResponse:
        journeys = list(journey_selectors.journeys(organization=self.organization))
        journey_id = _int(request.GET.get("journey"))
        journey = next((j for j in journeys if j.pk == journey_id), None)
        status = request.GET.get("status", "")
        status = status if status in ActionStatus.values else ""
        owner_id = _int(request.GET.get("owner"))
        touchpoint = (
            journey_selectors.touchpoints(organization=self.organization)
            .filter(pk=_int(request.GET.get("touchpoint")) or 0)
            .first()
            if request.GET.get("touchpoint")
            else None
        )
        overdue = request.GET.get("overdue") == "1"
        today = organization_today(self.organization)
        rows = selectors.actions(
            organization=self.organization,
            journey_id=journey.pk if journey else None,
            touchpoint_id=touchpoint.pk if touchpoint else None,
            status=status or None,
            owner_id=owner_id,
            overdue=True if overdue else None,
            today=today,
        )
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        counts = selectors.action_counts(
            organization=self.organization, journey=journey, today=today
        )
        query = request.GET.copy()
        query.pop("page", None)
        context = self.get_context_data(
            page=page,
            journeys=journeys,
            journey=journey,
            touchpoint=touchpoint,
            status=status,
            statuses=ActionStatus.choices,
            owners=self.owners(),
            owner_id=owner_id,
            overdue=overdue,
            today=today,
            counts=counts,
            count_rows=[(value, label, counts[value]) for value, label in ActionStatus.choices],
            query=query.urlencode(),
            can_create=any(can(self.principal, Action.ACTIONS_MANAGE, j) for j in journeys),
        )
        return render(request, "actions/list.html", context)


def suggested_title(source: str, touchpoint: str, dimension: str) -> str:
    if source == ActionSource.BLIND_SPOT:
        text = _("Close the blind spot at %(touchpoint)s")
    elif source == ActionSource.WEAK_LINK:
        text = _("Strengthen the weak link %(touchpoint)s")
    else:
        text = _("Improve %(touchpoint)s")
    title = text % {"touchpoint": touchpoint}
    if dimension:
        title += f" ({dimension_label(dimension)})"
    return title


def suggested_dimension(organization: Any, journey: Journey, touchpoint_id: int) -> str:
    """For a blind spot: the dimension with the largest blind-spot gap over the default period
    (as the dashboard's priority sentence names it), else the touchpoint as a whole."""
    report = scoring.gap_report(
        organization=organization, journey=journey, report_filter=default_filter(organization)
    )
    row = next((r for r in report.touchpoints if r.touchpoint_id == touchpoint_id), None)
    gaps = [
        (d.gap.gap, d.dimension)
        for d in (row.dimensions if row else [])
        if d.gap.gap is not None and d.gap.classification == "blind_spot"
    ]
    return max(gaps)[1] if gaps else ""


class ActionCreateView(ActionsBase):
    def journeys(self) -> list[Journey]:
        journeys = [
            j
            for j in journey_selectors.journeys(organization=self.organization)
            if can(self.principal, Action.ACTIONS_MANAGE, j)
        ]
        if not journeys:
            raise DjangoPermissionDenied
        return journeys

    def _form(self, journeys: list[Journey], data: Any = None, **kwargs: Any) -> ActionCreateForm:
        ids = [j.pk for j in journeys]
        touchpoints = [
            (tp.pk, f"{tp.journey.name}: {tp.stage.name} / {tp.name}")
            for tp in journey_selectors.touchpoints(organization=self.organization)
            if tp.journey_id in ids and tp.archived_at is None
        ]
        return ActionCreateForm(
            data,
            journeys=[(j.pk, j.name) for j in journeys],
            touchpoints=touchpoints,
            owners=self.owners(),
            **kwargs,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        journeys = self.journeys()
        initial: dict[str, Any] = {
            "due_date": organization_today(self.organization) + timedelta(days=30),
            "owner": self.principal.user_id,
        }
        journey_id = _int(request.GET.get("journey"))
        journey = next((j for j in journeys if j.pk == journey_id), None)
        if request.GET.get("journey") and journey is None:
            # Someone else's journey in this organisation: not allowed; anything else: missing.
            known = journey_id is not None and journey_selectors.journey_get(
                organization=self.organization, journey_id=journey_id
            )
            raise DjangoPermissionDenied if known else Http404
        source = request.GET.get("source", "")
        source = source if source in ActionSource.values else ActionSource.MANUAL
        initial["source"] = source
        if journey is not None:
            initial["journey"] = journey.pk
            touchpoint = (
                journey_selectors.touchpoints(organization=self.organization, journey_id=journey.pk)
                .filter(pk=_int(request.GET.get("touchpoint")) or 0)
                .first()
            )
            if touchpoint is not None:
                dimension = request.GET.get("dimension", "")
                if dimension not in ("effectiveness", "ease", "emotion"):
                    dimension = (
                        suggested_dimension(self.organization, journey, touchpoint.pk)
                        if source == ActionSource.BLIND_SPOT
                        else ""
                    )
                initial.update(
                    touchpoint=touchpoint.pk,
                    dimension=dimension,
                    title=suggested_title(source, touchpoint.name, dimension),
                )
        form = self._form(journeys, initial=initial)
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        journeys = self.journeys()
        form = self._form(journeys, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            journey = next((j for j in journeys if j.pk == data["journey"]), None)
            if journey is None:
                raise Http404
            action, ok = call_service(
                services.action_create,
                form=form,
                journey=journey,
                touchpoint_id=data["touchpoint"],
                dimension=data["dimension"],
                title=data["title"],
                description=data["description"],
                owner_id=data["owner"],
                due_date=data["due_date"],
                source=data["source"],
                **self.service_kwargs(),
            )
            if ok:
                messages.success(request, _("Action created; its baseline is recorded."))
                return redirect("actions:detail", org_slug=self.organization.slug,
                                action_id=action.pk)  # fmt: skip
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        return render(request, "actions/form.html", self.get_context_data(form=form), status=status)


# --- the action's page -------------------------------------------------------------------------


def verdict(progress: selectors.ActionProgress) -> tuple[str, str]:
    """(code, sentence): is the blind spot closing? Section 7's trend rule on customers' score
    since the start against the baseline."""
    change = progress.change
    values = {
        "change": points(change.score_change),
        "p": p_text(change.p_value),
        "min_n": progress.settings.min_n,
    }
    if change.status == "improved":
        return "closing", _(
            "Closing: customers' score is %(change)s points higher than at the baseline (%(p)s)."
        ) % values
    if change.status == "declined":
        return "widening", _(
            "Widening: customers' score is %(change)s points lower than at the baseline (%(p)s)."
        ) % values
    if change.status == "stable":
        return "stable", _(
            "Not closing yet: no significant change in customers' score since the start (%(p)s)."
        ) % values
    return "insufficient_data", _(
        "Not enough data yet: the baseline and the period since the start each need at least "
        "%(min_n)s customer answers."
    ) % values


def progress_chart(action: ImprovementAction, progress: selectors.ActionProgress) -> charts.Chart:
    def label(point: scoring.SeriesPoint) -> str:
        # The period the action started in is starred (the chart draws no marker line).
        started = point.period_start <= action.started_on <= point.period_end
        return point.period_start.isoformat() + (" *" if started else "")

    return charts.trend_lines(
        [
            charts.TrendPoint(
                label(point),
                charts.Interval(point.customer.mean, point.customer.ci_low, point.customer.ci_high),
                charts.Interval(point.employee.mean, point.employee.ci_low, point.employee.ci_high),
            )
            for point in progress.series
        ],
        title=_("%(touchpoint)s over time") % {"touchpoint": action.touchpoint.name},
        description=_(
            "Customers' score and the staff's estimate for the touchpoint, 0-100, from the "
            "baseline period to today; the action started on %(date)s (the period marked *)."
        )
        % {"date": action.started_on.isoformat()},
    )


def _figure_rows(progress: selectors.ActionProgress) -> list[dict[str, Any]]:
    base, now = progress.baseline, progress.current

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    return [
        {"label": _("Customers"), "kind": "score", "baseline": base.customer_score,
         "current": now.customer_score,
         "change": delta(base.customer_score, now.customer_score)},
        {"label": _("Staff estimate"), "kind": "score", "baseline": base.employee_score,
         "current": now.employee_score, "baseline_withheld": base.employee_withheld,
         "current_withheld": now.employee_withheld,
         "change": delta(base.employee_score, now.employee_score)},
        {"label": _("Gap"), "kind": "gap", "baseline": base.gap, "current": now.gap,
         "change": progress.change.gap_change},
        {"label": _("p-value of the gap"), "kind": "p", "baseline": base.p_value,
         "current": now.p_value},
        {"label": _("Customer answers"), "kind": "n", "baseline": base.customer_n,
         "current": now.customer_n},
        {"label": _("Staff answers"), "kind": "n", "baseline": base.employee_n,
         "current": now.employee_n, "baseline_withheld": base.employee_withheld,
         "current_withheld": now.employee_withheld},
    ]  # fmt: skip


def _labelled(events: list[Any]) -> list[Any]:
    """Status and field names as the page shows them."""
    labels = dict(ActionStatus.choices)
    fields = {"title": _("Title"), "description": _("What will be done"),
              "owner_id": _("Owner"), "due_date": _("Due date")}  # fmt: skip
    for event in events:
        event.status_from = labels.get(event.status_from, event.status_from)
        event.status_to = labels.get(event.status_to, event.status_to)
        # In the form's order: jsonb does not keep the keys' order.
        event.changed = ", ".join(str(label) for name, label in fields.items()
                                  if name in (event.changes or {}))  # fmt: skip
    return events


class ActionDetailView(ActionsBase):
    def get(self, request: HttpRequest, action_id: int) -> HttpResponse:
        action = self.action(action_id)
        return self._render(request, action, ActionStatusForm(current=action.status))

    def post(self, request: HttpRequest, action_id: int) -> HttpResponse:
        """The status workflow and notes."""
        action = self.action(action_id, Action.ACTIONS_WORK)
        form = ActionStatusForm(request.POST, current=action.status)
        if form.is_valid():
            _action, ok = call_service(
                services.action_update,
                form=form,
                action=action,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
                **self.service_kwargs(),
            )
            if ok:
                messages.success(request, _("Action saved."))
                return redirect("actions:detail", org_slug=self.organization.slug,
                                action_id=action.pk)  # fmt: skip
        return self._render(request, action, form, status=400)

    def _render(
        self, request: HttpRequest, action: ImprovementAction, form: Any, status: int = 200
    ) -> HttpResponse:
        today = organization_today(self.organization)
        progress = selectors.action_progress(
            organization=self.organization, action=action, today=today
        )
        code, sentence = verdict(progress)
        context = self.get_context_data(
            action=action,
            progress=progress,
            verdict_code=code,
            verdict=sentence,
            figures=_figure_rows(progress),
            chart=progress_chart(action, progress),
            dimension=capfirst(dimension_label(action.dimension)) if action.dimension else "",
            events=_labelled(
                selectors.action_events(organization=self.organization, action=action)
            ),
            overdue=action.is_open and action.due_date < today,
            today=today,
            form=form,
            can_work=can(self.principal, Action.ACTIONS_WORK, action) and action.is_open,
            can_edit=can(self.principal, Action.ACTIONS_MANAGE, action),
        )
        return render(request, "actions/detail.html", context, status=status)


class ActionEditView(ActionsBase):
    def _form(self, action: ImprovementAction, data: Any = None) -> ActionEditForm:
        initial = {
            "title": action.title,
            "description": action.description,
            "owner": action.owner_id,
            "due_date": action.due_date,
        }
        return ActionEditForm(data, initial=initial, owners=self.owners())

    def get(self, request: HttpRequest, action_id: int) -> HttpResponse:
        action = self.action(action_id, Action.ACTIONS_MANAGE)
        return self._render(request, action, self._form(action))

    def post(self, request: HttpRequest, action_id: int) -> HttpResponse:
        action = self.action(action_id, Action.ACTIONS_MANAGE)
        form = self._form(action, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            due: date = data["due_date"]
            _action, ok = call_service(
                services.action_update,
                form=form,
                action=action,
                title=data["title"],
                description=data["description"],
                owner_id=data["owner"],
                due_date=due,
                **self.service_kwargs(),
            )
            if ok:
                messages.success(request, _("Action saved."))
                return redirect("actions:detail", org_slug=self.organization.slug,
                                action_id=action.pk)  # fmt: skip
        return self._render(request, action, form, status=400)

    def _render(
        self, request: HttpRequest, action: ImprovementAction, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(action=action, form=form)
        return render(request, "actions/form.html", context, status=status)

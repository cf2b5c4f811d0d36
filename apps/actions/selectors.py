"""Reads for improvement actions: lists with filters, counts by status, the baseline cell of a
touchpoint (or one of its dimensions) and the action's progress against its baseline.

Every figure comes from the scoring selectors (the gap report and the touchpoint series, read
from the aggregates); nothing here reads answers.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.journeys.models import Journey
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Action, Principal, can
from apps.organizations.selectors import members
from apps.scoring import arithmetic
from apps.scoring import selectors as scoring
from apps.scoring.figures import CellStats, GapReport, GapStats, Moments, ScoringSettings
from apps.scoring.filters import ReportFilter, organization_today

from .models import OPEN_STATUSES, ActionEvent, ActionStatus, ImprovementAction

# The baseline is the gap report over this many days before the action starts.
BASELINE_DAYS = 90


def actions(
    *,
    organization: Organization,
    journey_id: int | None = None,
    touchpoint_id: int | None = None,
    status: str | None = None,
    owner_id: int | None = None,
    overdue: bool | None = None,
    today: date | None = None,
) -> QuerySet[ImprovementAction]:
    """The organisation's actions, soonest due first, with journey, touchpoint and owner (one
    query when evaluated). `overdue`: open and due before today (the organisation's day)."""
    queryset = ImprovementAction.objects.for_organization(organization).select_related(
        "journey", "touchpoint", "owner"
    )
    if journey_id is not None:
        queryset = queryset.filter(journey_id=journey_id)
    if touchpoint_id is not None:
        queryset = queryset.filter(touchpoint_id=touchpoint_id)
    if status:
        queryset = queryset.filter(status=status)
    if owner_id is not None:
        queryset = queryset.filter(owner_id=owner_id)
    if overdue is not None:
        late = Q(status__in=OPEN_STATUSES, due_date__lt=today or organization_today(organization))
        queryset = queryset.filter(late) if overdue else queryset.exclude(late)
    return queryset.order_by("due_date", "id")


def action_get(*, organization: Organization, action_id: int) -> ImprovementAction | None:
    return actions(organization=organization).filter(pk=action_id).first()


def action_events(*, organization: Organization, action: ImprovementAction) -> list[ActionEvent]:
    return list(
        ActionEvent.objects.for_organization(organization)
        .filter(action=action)
        .order_by("-created_at", "-id")
    )


def action_counts(
    *, organization: Organization, journey: Journey | None = None, today: date | None = None
) -> dict[str, int]:
    """Actions per status, and how many open ones are overdue (`"overdue"`): one query."""
    queryset = ImprovementAction.objects.for_organization(organization)
    if journey is not None:
        queryset = queryset.filter(journey=journey)
    late = Q(status__in=OPEN_STATUSES, due_date__lt=today or organization_today(organization))
    totals = queryset.aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in ActionStatus.values},
        overdue=Count("pk", filter=late),
    )
    return {name: int(value or 0) for name, value in totals.items()}


@dataclass(frozen=True)
class ActionsPanel:
    """The journey dashboard's "actions by status" panel."""

    rows: list[tuple[str, str, int]]  # (status, label, count)
    overdue: int
    total: int
    can_create: bool
    open_touchpoints: frozenset[int]  # touchpoints with a planned or in-progress action


def dashboard_action_counts(*, organization: Organization, journey: Journey) -> QuerySet[Any]:
    """The journey's actions counted per status and touchpoint (`status`, `touchpoint_id`,
    `actions`, `late`: past their due date and still open), what the dashboard panel is made
    of; the dashboard reads them in one query with the alerts' figures."""
    late = Q(status__in=OPEN_STATUSES, due_date__lt=organization_today(organization))
    return (
        ImprovementAction.objects.for_organization(organization)
        .filter(journey=journey)
        .order_by()
        .values("status", "touchpoint_id")
        .annotate(actions=Count("pk"), late=Count("pk", filter=late))
    )


def dashboard_panel(
    *,
    organization: Organization,
    principal: Principal,
    journey: Journey,
    groups: Iterable[tuple[str, int, int, int]] | None = None,
) -> ActionsPanel | None:
    """None for whom may not read actions; one query otherwise (counts per status and
    touchpoint, from which the totals, the overdue and the touchpoints with open actions),
    none when the caller passes those counts read already as (status, touchpoint id, actions,
    late) rows of `dashboard_action_counts`."""
    if not can(principal, Action.ACTIONS_VIEW, journey):
        return None
    if groups is None:
        groups = [
            (group["status"], group["touchpoint_id"], group["actions"], group["late"])
            for group in dashboard_action_counts(organization=organization, journey=journey)
        ]
    counts = dict.fromkeys(ActionStatus.values, 0)
    overdue = 0
    open_touchpoints: set[int] = set()
    for status, touchpoint_id, actions, late in groups:
        counts[status] = counts.get(status, 0) + actions
        overdue += late
        if status in OPEN_STATUSES:
            open_touchpoints.add(touchpoint_id)
    rows = [(str(value), str(label), counts[value]) for value, label in ActionStatus.choices]
    return ActionsPanel(
        rows=rows,
        overdue=overdue,
        total=sum(count for _, _, count in rows),
        can_create=can(principal, Action.ACTIONS_MANAGE, journey),
        open_touchpoints=frozenset(open_touchpoints),
    )


def action_owner_candidates(*, organization: Organization) -> QuerySet[Membership]:
    """Members who may own an action: every member of the organisation."""
    return members(organization=organization)


# --- figures of one cell ----------------------------------------------------------------------


@dataclass(frozen=True)
class CellFigures:
    """One touchpoint's (or dimension's) figures over a period, as an action reads them."""

    date_from: date
    date_to: date
    customer_n: int
    customer_score: float | None
    customer_variance: float | None
    employee_n: int | None
    employee_score: float | None
    employee_withheld: bool
    gap: float | None
    p_value: float | None
    classification: str


def _empty(date_from: date, date_to: date) -> CellFigures:
    return CellFigures(date_from, date_to, 0, None, None, 0, None, False, None, None,
                       "insufficient_data")  # fmt: skip


def _figures(
    date_from: date, date_to: date, customer: CellStats, employee: CellStats, gap: GapStats
) -> CellFigures:
    return CellFigures(
        date_from=date_from,
        date_to=date_to,
        customer_n=customer.n or 0,
        customer_score=customer.mean,
        customer_variance=customer.variance,
        employee_n=None if employee.suppressed else (employee.n or 0),
        employee_score=None if employee.suppressed else employee.mean,
        employee_withheld=employee.suppressed,
        gap=gap.gap,
        p_value=gap.p_value,
        classification=gap.classification,
    )


def cell_of(
    report: GapReport, touchpoint_id: int, dimension: str, date_from: date, date_to: date
) -> CellFigures:
    """The touchpoint's row of a gap report, or its dimension's when one is named."""
    row = next((r for r in report.touchpoints if r.touchpoint_id == touchpoint_id), None)
    if row is None:
        return _empty(date_from, date_to)
    if not dimension:
        return _figures(date_from, date_to, row.customer, row.employee, row.gap)
    cell = next((d for d in row.dimensions if d.dimension == dimension), None)
    if cell is None:
        return _empty(date_from, date_to)
    return _figures(date_from, date_to, cell.customer, cell.employee, cell.gap)


def cell_figures(
    *,
    organization: Organization,
    journey: Journey,
    touchpoint_id: int,
    dimension: str,
    date_from: date,
    date_to: date,
) -> CellFigures:
    """The gap report's cell for the touchpoint (or dimension) over date_from..date_to: the
    scoring selectors' queries (five, six without cached importance), nothing else."""
    report = scoring.gap_report(
        organization=organization,
        journey=journey,
        report_filter=ReportFilter(date_from=date_from, date_to=date_to),
    )
    return cell_of(report, touchpoint_id, dimension, date_from, date_to)


def baseline_window(started_on: date) -> tuple[date, date]:
    """The BASELINE_DAYS days before the start (the start day itself is "since")."""
    return started_on - timedelta(days=BASELINE_DAYS), started_on - timedelta(days=1)


def stored_baseline(action: ImprovementAction) -> CellFigures:
    return CellFigures(
        date_from=action.baseline_from,
        date_to=action.baseline_to,
        customer_n=action.baseline_customer_n,
        customer_score=action.baseline_customer_score,
        customer_variance=action.baseline_customer_variance,
        employee_n=action.baseline_employee_n,
        employee_score=action.baseline_employee_score,
        employee_withheld=action.baseline_employee_withheld,
        gap=action.baseline_gap,
        p_value=action.baseline_p_value,
        classification=action.baseline_classification or "insufficient_data",
    )


# --- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Customers' score since the start against the baseline (SCORING.md section 7's trend
    rule): improved / declined when Welch's p < alpha and the change is at least half the gap
    threshold, else stable; insufficient_data below min_n on either side."""

    score_change: float | None
    gap_change: float | None
    p_value: float | None
    status: str  # improved, declined, stable, insufficient_data


def _moments(n: int, mean: float | None, variance: float | None) -> Moments:
    """The additive moments behind a stored (n, mean, sample variance), so that the trend rule
    and Welch's test of `apps.scoring.arithmetic` apply to the baseline as to any period."""
    if not n or mean is None:
        return Moments()
    spread = (variance or 0.0) * (n - 1) if n > 1 else 0.0
    return Moments(n=n, total=n * mean, total_sq=spread + n * mean * mean)


def change_between(
    baseline: CellFigures, current: CellFigures, settings: ScoringSettings
) -> Change:
    gap_change = (
        current.gap - baseline.gap if current.gap is not None and baseline.gap is not None else None
    )
    trend = arithmetic.trend(
        _moments(current.customer_n, current.customer_score, current.customer_variance),
        _moments(baseline.customer_n, baseline.customer_score, baseline.customer_variance),
        settings,
    )
    return Change(
        score_change=trend.change, gap_change=gap_change, p_value=trend.p_value,
        status=trend.status,
    )  # fmt: skip


@dataclass(frozen=True)
class ActionProgress:
    baseline: CellFigures
    current: CellFigures  # since the start, to today
    change: Change
    series: list[scoring.SeriesPoint]  # the touchpoint's score, baseline window to today
    settings: ScoringSettings


def series_interval(days: int) -> scoring.Interval:
    return "day" if days <= 31 else "week" if days <= 370 else "month"


def action_progress(
    *, organization: Organization, action: ImprovementAction, today: date | None = None
) -> ActionProgress:
    """The action's cell since it started against its stored baseline, and the touchpoint's
    series over both periods: the scoring selectors' queries, a fixed number (at most eight)."""
    today = today or organization_today(organization)
    until = max(today, action.started_on)
    current = cell_figures(
        organization=organization,
        journey=action.journey,
        touchpoint_id=action.touchpoint_id,
        dimension=action.dimension,
        date_from=action.started_on,
        date_to=until,
    )
    baseline = stored_baseline(action)
    settings = scoring.scoring_settings(organization)
    series_from = action.baseline_from
    series = scoring.touchpoint_series(
        organization=organization,
        journey=action.journey,
        touchpoint=action.touchpoint,
        report_filter=ReportFilter(date_from=series_from, date_to=until),
        interval=series_interval((until - series_from).days + 1),
    )
    return ActionProgress(
        baseline=baseline,
        current=current,
        change=change_between(baseline, current, settings),
        series=series,
        settings=settings,
    )

"""The journey dashboard and the touchpoint drill-down: the gap report at a glance.

Read-only pages for anyone who may see results. Every figure comes from the scoring selectors
(aggregates, never raw answers) and every chart from apps.reports.charts, so the page and the
PDF show the same numbers.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import CharField, DateTimeField, IntegerField, Value
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from apps.actions import selectors as action_selectors
from apps.alerts import selectors as alert_selectors
from apps.core.errors import ValidationFailed
from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey
from apps.organizations.base import OrganizationView
from apps.organizations.models import Organization
from apps.organizations.permissions import Action, Principal, can
from apps.responses import selectors as response_selectors
from apps.scoring import comparison
from apps.scoring import selectors as scoring
from apps.scoring.figures import GapReport, TouchpointRow
from apps.scoring.filters import (
    ATTRIBUTE_PREFIX,
    ReportFilter,
    default_filter,
    organization_today,
    report_filter_parse,
)

from . import charts
from .narrative import dimension_label, priority_texts

PRESETS = ("7", "30", "90", "365")
DEFAULT_PRESET = "90"
COMMENTS_PER_PAGE = 20


@dataclass(frozen=True)
class StageColumn:
    name: str
    touchpoints: list[TouchpointRow]


def _stages(rows: Iterable[TouchpointRow]) -> list[StageColumn]:
    columns: list[StageColumn] = []
    for row in rows:
        if not columns or columns[-1].name != row.stage_name:
            columns.append(StageColumn(row.stage_name, []))
        columns[-1].touchpoints.append(row)
    return columns


class DashboardBase(OrganizationView):
    actions = {"GET": Action.RESULTS_VIEW}

    def journey(self, journey_id: int) -> Journey:
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=journey_id
        )
        if journey is None:
            raise Http404
        return journey

    def report_filter(
        self, journey: Journey, known_attributes: Iterable[str] | None = None
    ) -> tuple[ReportFilter, dict[str, list[str]], str]:
        """The filter of the query string (a preset or a custom range); bad input falls back to
        the default period with the errors shown next to the fields."""
        params: QueryDict = self.request.GET.copy()
        preset = params.get("preset") or ("custom" if params.get("from") else DEFAULT_PRESET)
        if preset in PRESETS:
            today = organization_today(self.organization)
            params["from"] = (today - timedelta(days=int(preset) - 1)).isoformat()
            params["to"] = today.isoformat()
        try:
            flt = report_filter_parse(
                organization=self.organization,
                journey=journey,
                params=params,
                known_attributes=known_attributes,
            )
            return flt, {}, preset
        except ValidationFailed as exc:
            return default_filter(self.organization), exc.fields, preset

    def filter_context(
        self,
        journey: Journey,
        flt: ReportFilter,
        values: dict[str, list[str]] | None = None,
        questionnaires: Sequence[Any] | None = None,
    ) -> dict[str, Any]:
        """The filter form's choices; `values` and `questionnaires` when read already."""
        if values is None:
            values = scoring.attribute_values(organization=self.organization, journey=journey)
        if questionnaires is None:
            questionnaires = scoring.journey_questionnaires(
                organization=self.organization, journey=journey
            )
        return {
            "attribute_choices": [
                (name, ATTRIBUTE_PREFIX + name, options, flt.attributes.get(name, []))
                for name, options in sorted(values.items())
            ],
            "questionnaires": questionnaires,
            "presets": [(p, _("Last %(days)s days") % {"days": p}) for p in PRESETS],
        }


class JourneyDashboard(DashboardBase):
    def get(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self.journey(journey_id)
        choices = comparison.segment_choices(organization=self.organization, journey=journey)
        flt, errors, preset = self.report_filter(journey, choices.values)
        # Read once for the report and the comparisons: every employee figure is released
        # through it (apps.scoring.anonymity).
        staff = scoring.staff_data(
            organization=self.organization, journey=journey, state=choices.state
        )
        compare = request.GET.get("compare", "")
        compare = compare if compare in choices.values and compare not in flt.attributes else ""
        report = scoring.gap_report(
            organization=self.organization,
            journey=journey,
            report_filter=flt,
            with_trend=True,
            known_sets=choices.sets,
            staff=staff,
            # Its importance read grouped as the comparison's: that one's then comes cached.
            importance_groups=comparison.compared_groups(choices, flt, compare),
        )
        nps = next((row for row in report.outcomes if row.item_key == "nps"), None)
        previous_nps = (
            comparison.customer_nps(
                organization=self.organization,
                journey=journey,
                report_filter=flt.previous(),
                choices=choices,
                settled_version=staff.settled_version,
            )
            if nps is not None
            else None
        )
        unit = request.GET.get("unit", "")
        compared = comparison.journey_comparison(
            organization=self.organization,
            journey=journey,
            report=report,
            report_filter=flt,
            choices=choices,
            compare=compare,
            unit=unit if unit in choices.values else "",
            staff=staff,
        )
        context = {
            "journey": journey,
            "report": report,
            "filter": flt,
            "filter_errors": errors,
            "preset": preset,
            "stages": _stages(report.touchpoints),
            "priorities": priority_texts(report),
            "nps": nps,
            "nps_change": _change(
                nps.customer_nps.nps if nps and nps.customer_nps else None,
                previous_nps.nps if previous_nps else None,
            ),
            "dual_curve": _dual_curve(report),
            "matrix": _matrix(report),
            "compare": compare,
            "segments": compared.segments,
            "unit": unit,
            "calibration": compared.calibration,
            "attribute_names": sorted(choices.values),
            "has_data": any(row.customer.n for row in report.touchpoints),
            **_closed_loop_panels(
                self.organization,
                self.principal,
                journey,
                [(row.touchpoint_id, row.name) for row in report.touchpoints],
            ),
            **self.filter_context(journey, flt, choices.values, choices.questionnaires),
        }
        return render(request, "reports/dashboard.html", self.get_context_data(**context))


def _closed_loop_panels(
    organization: Organization,
    principal: Principal,
    journey: Journey,
    touchpoints: list[tuple[int, str]],
) -> dict[str, Any]:
    """The alerts panel and the actions panel (None for whom may not read actions), from one
    query: the alerts' rows and the actions' counts per status and touchpoint, side by side
    (UNION ALL, each padded to the other's columns, the first column saying which is which)."""
    alerts = alert_selectors.dashboard_alerts(organization=organization, journey=journey)
    rows = alerts.values_list(
        Value("alert", output_field=CharField()),
        *alert_selectors.DASHBOARD_ALERT_COLUMNS,
        Value(0, output_field=IntegerField()),
        Value(0, output_field=IntegerField()),
    )
    may_see_actions = can(principal, Action.ACTIONS_VIEW, journey)
    if may_see_actions:
        nothing = Value(None, output_field=DateTimeField())
        counts = action_selectors.dashboard_action_counts(
            organization=organization, journey=journey
        ).values_list(
            Value("action", output_field=CharField()),
            "touchpoint_id",
            "status",
            nothing,
            nothing,
            nothing,
            Value("", output_field=CharField()),
            "actions",
            "late",
        )
        rows = rows.union(counts, all=True).order_by()
    alert_rows, action_groups = [], []
    for panel, touchpoint_id, status, created, first_action, due, outcome, n, late in rows:
        if panel == "alert":
            alert_rows.append((touchpoint_id, status, created, first_action, due, outcome))
        else:
            action_groups.append((status, touchpoint_id, n, late))
    return {
        "alerts_panel": alert_selectors.dashboard_figures(
            organization=organization, journey=journey, touchpoints=touchpoints, rows=alert_rows
        ),
        "actions_panel": action_selectors.dashboard_panel(
            organization=organization,
            principal=principal,
            journey=journey,
            groups=action_groups if may_see_actions else [],
        ),
    }


def _change(current: float | None, previous: float | None) -> float | None:
    return None if current is None or previous is None else current - previous


def _dual_curve(report: GapReport) -> charts.Chart:
    return charts.dual_curve(
        [
            charts.CurvePoint(
                row.name, row.customer.mean, row.employee.mean, row.gap.classification
            )
            for row in report.touchpoints
        ],
        title=_("Customers and staff along the journey"),
        description=_(
            "Customer score and the staff's estimate for each touchpoint in journey order, "
            "0-100. Blind spots are shaded."
        ),
    )


def _matrix(report: GapReport) -> charts.Chart:
    return charts.blind_spot_matrix(
        [
            charts.MatrixPoint(
                row.name, row.customer.mean, row.gap.gap, row.importance, row.gap.classification
            )
            for row in report.touchpoints
        ],
        title=_("Blind-spot matrix"),
        description=_(
            "Each touchpoint by customer score (across) and gap between staff and customers "
            "(up: staff rate it higher); larger circles matter more to customers."
        ),
        gap_threshold=report.settings.gap_threshold,
    )


class TouchpointDashboard(DashboardBase):
    def get(self, request: HttpRequest, journey_id: int, touchpoint_id: int) -> HttpResponse:
        journey = self.journey(journey_id)
        flt, errors, preset = self.report_filter(journey)
        staff = scoring.staff_data(organization=self.organization, journey=journey)
        report = scoring.gap_report(
            organization=self.organization,
            journey=journey,
            report_filter=flt,
            with_trend=True,
            staff=staff,
        )
        row = next((r for r in report.touchpoints if r.touchpoint_id == touchpoint_id), None)
        if row is None:
            raise Http404
        touchpoint = journey_selectors.touchpoints(organization=self.organization).get(
            pk=touchpoint_id
        )
        interval = request.GET.get("interval", "week")
        if interval not in ("day", "week", "month"):
            interval = "week"
        series = scoring.touchpoint_series(
            organization=self.organization,
            journey=journey,
            touchpoint=touchpoint,
            report_filter=flt,
            interval=interval,  # type: ignore[arg-type]
            staff=staff,
        )
        search = request.GET.get("q", "").strip()[:100]
        comments = response_selectors.touchpoint_comments(
            organization=self.organization,
            touchpoint_id=touchpoint_id,
            date_from=flt.date_from,
            date_to=flt.date_to,
            search=search,
            page=_page(request.GET.get("page")),
            per_page=COMMENTS_PER_PAGE,
        )
        context = {
            "journey": journey,
            "row": row,
            "report": report,
            "filter": flt,
            "filter_errors": errors,
            "preset": preset,
            "interval": interval,
            "intervals": [("day", _("Days")), ("week", _("Weeks")), ("month", _("Months"))],
            "dimension_bars": _dimension_bars(row),
            "distributions": _distributions(row),
            "trend": _trend(row, series),
            "comments": comments,
            "search": search,
            **self.filter_context(journey, flt),
        }
        return render(request, "reports/touchpoint.html", self.get_context_data(**context))


def _page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _dimension_bars(row: TouchpointRow) -> charts.Chart:
    groups = [
        charts.BarGroup(
            capfirst(dimension_label(d.dimension)),
            charts.Interval(d.customer.mean, d.customer.ci_low, d.customer.ci_high),
            charts.Interval(d.employee.mean, d.employee.ci_low, d.employee.ci_high),
            employee_suppressed=d.employee.suppressed,
        )
        for d in row.dimensions
    ]
    return charts.interval_bars(
        groups,
        title=_("%(touchpoint)s by dimension") % {"touchpoint": row.name},
        description=_("Mean score 0-100 with its confidence interval (95%) for both audiences."),
    )


def _distributions(row: TouchpointRow) -> list[charts.Chart]:
    result = []
    for d in row.dimensions:
        points = sorted(set(d.customer.distribution or {}) | set(d.employee.distribution or {}))
        if not points:
            continue
        result.append(
            charts.distribution_bars(
                points,
                d.customer.distribution,
                None if d.employee.suppressed else d.employee.distribution,
                title=_("Answers on %(dimension)s") % {"dimension": dimension_label(d.dimension)},
                description=_("Share of answers at every point of the scale, both audiences."),
            )
        )
    return result


def _trend(row: TouchpointRow, series: list[scoring.SeriesPoint]) -> charts.Chart:
    return charts.trend_lines(
        [
            charts.TrendPoint(
                point.period_start.isoformat(),
                charts.Interval(point.customer.mean, point.customer.ci_low, point.customer.ci_high),
                charts.Interval(point.employee.mean, point.employee.ci_low, point.employee.ci_high),
            )
            for point in series
        ],
        title=_("%(touchpoint)s over time") % {"touchpoint": row.name},
        description=_("Touchpoint score per period with its confidence band (95%)."),
    )

"""The gap report as a PDF: cover, summary with the top priorities, journey map, dual curve,
blind-spot matrix, one page per touchpoint and method notes, in English or Finnish.

`gap_report_context` shapes a GapReport (apps.scoring.figures) for the template; the charts come
from apps.reports.charts, the same SVG the web pages show.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from typing import Any

from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.scoring.figures import CellStats, DimensionRow, GapReport, OutcomeRow, TouchpointRow

from . import charts, narrative
from .pdf import render_pdf

TEMPLATE = "reports/gap_report_pdf.html"


def _dimension_label(dimension: str) -> str:
    return capfirst(narrative.dimension_label(dimension))


def _score(cell: CellStats) -> str:
    if cell.suppressed:
        return _("withheld")
    return charts.score_text(cell.mean)


def _ci(cell: CellStats) -> str:
    if cell.suppressed or cell.ci_low is None or cell.ci_high is None:
        return ""
    return f"{cell.ci_low:.0f}-{cell.ci_high:.0f}"


@dataclass
class FigureRow:
    """One line of a figures table: a touchpoint or one of its dimensions."""

    label: str
    customer_n: str
    customer: str
    customer_ci: str
    employee_n: str
    employee: str
    employee_ci: str
    gap: str
    p: str
    classification: str
    classification_label: str


def _figure_row(
    label: str, customer: CellStats, employee: CellStats, gap: Any, min_n: int
) -> FigureRow:
    suppressed_n = _("under %(min)s") % {"min": min_n}
    return FigureRow(
        label=label,
        customer_n="-" if customer.n is None else str(customer.n),
        customer=_score(customer),
        customer_ci=_ci(customer),
        employee_n=suppressed_n
        if employee.suppressed
        else ("-" if employee.n is None else str(employee.n)),
        employee=_score(employee),
        employee_ci=_ci(employee),
        gap=charts.gap_text(gap.gap),
        p="" if gap.p_value is None else narrative.p_text(gap.p_value),
        classification=gap.classification,
        classification_label=charts.classification_label(gap.classification),
    )


@dataclass
class TouchpointPage:
    row: TouchpointRow
    name: str
    stage: str
    figures: list[FigureRow]
    bars: charts.Chart
    distributions: list[tuple[str, charts.Chart]]
    answers: dict[str, Any] | None
    importance_note: str
    trend_note: str
    summary: str


@dataclass
class StageGroup:
    name: str
    touchpoints: list[dict[str, Any]] = field(default_factory=list)


def _names(
    organization: Organization, journey: Journey, language: str
) -> dict[int, tuple[str, str]]:
    """Touchpoint id -> (name, stage name) in the report's language."""
    touchpoints = (
        Touchpoint.objects.for_organization(organization)
        .filter(journey=journey)
        .select_related("stage")
    )
    return {tp.pk: (tp.name_in(language), tp.stage.name_in(language)) for tp in touchpoints}


def _importance_note(row: TouchpointRow, outcome: str) -> str:
    if row.importance_source == "derived":
        if outcome == "nps":
            return _(
                "Importance %(importance)s: correlation with recommendation (rho %(rho)s) over "
                "%(pairs)s customers."
            ) % {
                "importance": narrative.decimal(f"{row.importance:.2f}"),
                "rho": narrative.rho_text(row.spearman_rho),
                "pairs": row.importance_pairs,
            }
        return _(
            "Importance %(importance)s: correlation with overall satisfaction (rho %(rho)s) over "
            "%(pairs)s customers."
        ) % {
            "importance": narrative.decimal(f"{row.importance:.2f}"),
            "rho": narrative.rho_text(row.spearman_rho),
            "pairs": row.importance_pairs,
        }
    return _(
        "Importance %(importance)s: declared %(declared)s of 5 (too few answers to derive it)."
    ) % {
        "importance": narrative.decimal(f"{row.importance:.2f}"),
        "declared": f"{1 + 4 * row.importance:.0f}",
    }


def _trend_note(row: TouchpointRow) -> str:
    trend = row.trend
    if trend is None:
        return ""
    labels = {
        "improved": _("improved"),
        "declined": _("declined"),
        "stable": _("stable"),
        "insufficient_data": _("too few answers to compare"),
    }
    if trend.change is None:
        return _("Compared with the previous period: %(status)s.") % {
            "status": labels[trend.status]
        }
    return _("Compared with the previous period: %(change)s points, %(status)s (%(p)s).") % {
        "change": charts.gap_text(trend.change),
        "status": labels.get(trend.status, trend.status),
        "p": narrative.p_text(trend.p_value),
    }


def _touchpoint_summary(row: TouchpointRow, name: str) -> str:
    gap = row.gap
    if row.employee.suppressed and row.employee.suppressed_reason == "difference":
        return _(
            "Staff figures are withheld: compared with another view they would reveal a few "
            "employees by difference."
        )
    if row.employee.suppressed:
        return _("Staff figures are withheld: too few employees answered for their anonymity.")
    if gap.classification == "insufficient_data" or gap.gap is None:
        return _("Too few answers on one side to compare customers and staff.")
    if gap.classification == "blind_spot":
        return _("Staff rate %(touchpoint)s %(gap)s points higher than customers do (%(p)s).") % {
            "touchpoint": name,
            "gap": narrative.points(gap.gap),
            "p": narrative.p_text(gap.p_value),
        }
    if gap.classification == "hidden_strength":
        return _(
            "Customers rate %(touchpoint)s %(gap)s points higher than staff think (%(p)s)."
        ) % {
            "touchpoint": name,
            "gap": narrative.points(gap.gap),
            "p": narrative.p_text(gap.p_value),
        }
    return _("Staff see %(touchpoint)s about as customers do (gap %(gap)s, %(p)s).") % {
        "touchpoint": name,
        "gap": charts.gap_text(gap.gap),
        "p": narrative.p_text(gap.p_value),
    }


def _distribution_chart(dimension: DimensionRow, name: str) -> charts.Chart | None:
    customer = dimension.customer.distribution
    employee = None if dimension.employee.suppressed else dimension.employee.distribution
    keys = set(customer or {}) | set(employee or {})
    if not keys:
        return None
    points = list(range(min(keys), max(keys) + 1))
    label = _dimension_label(dimension.dimension)
    return charts.distribution_bars(
        points,
        customer,
        employee,
        title=_("%(touchpoint)s, %(dimension)s: answers")
        % {"touchpoint": name, "dimension": label},
        description=_(
            "Share of answers at each point of the scale, customers and the staff's estimate."
        ),
        width=320,
        height=210,
    )


def _answers_table(row: TouchpointRow) -> dict[str, Any] | None:
    """One table of every dimension's distribution (the charts' data, side by side)."""
    columns = [d for d in row.dimensions if d.customer.distribution or d.employee.distribution]
    if not columns:
        return None
    keys: set[int] = set()
    for d in columns:
        keys |= set(d.customer.distribution or {}) | set(d.employee.distribution or {})
    body = []
    for point in range(min(keys), max(keys) + 1):
        cells = []
        for d in columns:
            for cell in (d.customer, d.employee):
                if cell.suppressed or cell.distribution is None:
                    cells.append(_("withheld") if cell.suppressed else "-")
                    continue
                total = sum(cell.distribution.values())
                count = cell.distribution.get(point, 0)
                share = 100 * count / total if total else 0.0
                cells.append(f"{count} ({share:.0f}%)")
        body.append((str(point), cells))
    return {
        "dimensions": [_dimension_label(d.dimension) for d in columns],
        "rows": body,
    }


def _touchpoint_page(
    row: TouchpointRow, name: str, stage: str, settings_min_n: int, outcome: str
) -> TouchpointPage:
    figures = [
        _figure_row(_("Touchpoint score"), row.customer, row.employee, row.gap, settings_min_n)
    ]
    groups = [
        charts.BarGroup(
            _("Touchpoint score"),
            charts.Interval(row.customer.mean, row.customer.ci_low, row.customer.ci_high),
            charts.Interval(row.employee.mean, row.employee.ci_low, row.employee.ci_high),
            employee_suppressed=row.employee.suppressed,
        )
    ]
    distributions = []
    for dimension in row.dimensions:
        label = _dimension_label(dimension.dimension)
        figures.append(
            _figure_row(
                label, dimension.customer, dimension.employee, dimension.gap, settings_min_n
            )
        )
        groups.append(
            charts.BarGroup(
                label,
                charts.Interval(
                    dimension.customer.mean, dimension.customer.ci_low, dimension.customer.ci_high
                ),
                charts.Interval(
                    dimension.employee.mean, dimension.employee.ci_low, dimension.employee.ci_high
                ),
                employee_suppressed=dimension.employee.suppressed,
            )
        )
        chart = _distribution_chart(dimension, name)
        if chart is not None:
            distributions.append((label, chart))
    bars = charts.interval_bars(
        groups,
        title=_("%(touchpoint)s: scores with 95%% confidence intervals") % {"touchpoint": name},
        description=_(
            "Customers' scores and the staff's estimate (0-100) for the touchpoint and each "
            "dimension; whiskers show the confidence interval (95%)."
        ),
    )
    return TouchpointPage(
        row=row,
        name=name,
        stage=stage,
        figures=figures,
        bars=bars,
        distributions=distributions,
        answers=_answers_table(row),
        importance_note=_importance_note(row, outcome),
        trend_note=_trend_note(row),
        summary=_touchpoint_summary(row, name),
    )


def _nps(outcome: OutcomeRow | None) -> dict[str, str] | None:
    if outcome is None or outcome.customer_nps is None:
        return None
    staff = outcome.employee_nps
    return {
        "customer": charts.gap_text(outcome.customer_nps.nps),
        "customer_n": "-" if outcome.customer_nps.n is None else str(outcome.customer_nps.n),
        "employee": _("withheld")
        if staff is None or staff.suppressed
        else charts.gap_text(staff.nps),
    }


def _has_data(report: GapReport) -> bool:
    return any((row.customer.n or 0) > 0 or (row.employee.n or 0) > 0 for row in report.touchpoints)


def gap_report_context(
    *,
    organization: Organization,
    journey: Journey,
    report: GapReport,
    period: tuple[date, date],
    language: str,
    filters_description: str,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Everything the template shows; call it with `language` active."""
    names = _names(organization, journey, language)

    def name_of(row: TouchpointRow) -> str:
        return names.get(row.touchpoint_id, (row.name, row.stage_name))[0]

    def stage_of(row: TouchpointRow) -> str:
        return names.get(row.touchpoint_id, (row.name, row.stage_name))[1]

    settings = report.settings
    outcome = narrative.outcome_of(report)
    rows = report.touchpoints
    stages = []
    for stage_name, members in groupby(rows, key=stage_of):
        group = StageGroup(stage_name)
        for row in members:
            group.touchpoints.append(
                {
                    "row": row,
                    "name": name_of(row),
                    "customer": _score(row.customer),
                    "employee": _score(row.employee),
                    "gap": charts.gap_text(row.gap.gap),
                    "classification": row.gap.classification,
                    "label": charts.classification_label(row.gap.classification),
                }
            )
        stages.append(group)

    curve = charts.dual_curve(
        [
            charts.CurvePoint(
                name_of(row),
                row.customer.mean,
                None if row.employee.suppressed else row.employee.mean,
                row.gap.classification,
            )
            for row in rows
        ],
        title=_("Customers and staff along the journey"),
        description=_(
            "Customers' touchpoint scores (solid line) and the staff's estimate (dashed line), "
            "touchpoint by touchpoint, on 0-100; blind spots are shaded."
        ),
    )
    matrix = charts.blind_spot_matrix(
        [
            charts.MatrixPoint(
                name_of(row),
                row.customer.mean,
                row.gap.gap,
                row.importance,
                row.gap.classification,
            )
            for row in rows
        ],
        title=_("Blind-spot matrix"),
        description=_(
            "Each touchpoint placed by its customer score (across) and the gap between staff and "
            "customers (up: staff think it is better); bubble size is its importance. Blind "
            "spots sit in the shaded band at the top."
        ),
        gap_threshold=settings.gap_threshold,
    )
    nps_row = next((o for o in report.outcomes if o.item_key == "nps"), None)
    priorities = narrative.priority_texts(
        report, {tp_id: name for tp_id, (name, _stage) in names.items()}
    )
    blind_spots = [row for row in rows if row.gap.classification == "blind_spot"]
    date_from, date_to = period
    return {
        "title": _("Gap report: %(journey)s") % {"journey": journey.name_in(language)},
        "organization": organization,
        "journey_name": journey.name_in(language),
        "date_from": date_from,
        "date_to": date_to,
        "generated_at": timezone.localtime(generated_at or timezone.now()),
        "filters_description": filters_description,
        "has_data": _has_data(report),
        "report": report,
        "settings": settings,
        "priorities": priorities,
        "blind_spot_count": len(blind_spots),
        "journey_cx_customer": charts.score_text(report.journey_cx_customer),
        "journey_cx_employee": charts.score_text(report.journey_cx_employee),
        "consistency": charts.score_text(report.consistency),
        "nps": _nps(nps_row),
        "stages": stages,
        "curve": curve,
        "matrix": matrix,
        "pages": [
            _touchpoint_page(row, name_of(row), stage_of(row), settings.min_n, outcome)
            for row in rows
        ],
        "alpha": narrative.decimal(f"{settings.alpha:g}"),
        "gap_threshold": f"{settings.gap_threshold:g}",
        "derived_count": sum(1 for row in rows if row.importance_source == "derived"),
        "outcome": outcome,
        "legend": [
            (code, charts.classification_label(code))
            for code in ("blind_spot", "hidden_strength", "aligned", "insufficient_data")
        ],
    }


def gap_report_pdf(
    *,
    organization: Organization,
    journey: Journey,
    report: GapReport,
    period: tuple[date, date],
    language: str,
    filters_description: str,
    generated_at: datetime | None = None,
) -> bytes:
    """The gap report PDF in `language` ("en" or "fi"), the organisation's time zone."""
    import zoneinfo

    try:
        zone = zoneinfo.ZoneInfo(organization.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    with translation.override(language), timezone.override(zone):
        context = gap_report_context(
            organization=organization,
            journey=journey,
            report=report,
            period=period,
            language=language,
            filters_description=filters_description,
            generated_at=generated_at,
        )
        return render_pdf(TEMPLATE, context)

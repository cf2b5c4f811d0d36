"""Assemble the gap report and staff calibration of SCORING.md sections 4-7 from aggregates."""

import dataclasses
from collections.abc import Mapping
from statistics import fmean, pstdev
from typing import Any

import numpy as np

from apps.scoring import arithmetic
from apps.scoring.figures import (
    CellStats,
    DimensionRow,
    GapReport,
    GapReportInput,
    GapStats,
    ImportanceSource,
    ItemInfo,
    Moments,
    OutcomeRow,
    Priority,
    PriorityKind,
    ScoringSettings,
    TouchpointInfo,
    TouchpointRow,
    TrendRow,
    UnitCalibration,
    ValueCounts,
)

OUTCOME_KINDS = ("nps", "overall")


@dataclasses.dataclass
class _TouchpointWork:
    """What one touchpoint contributes before the journey-level figures are known."""

    info: TouchpointInfo
    customer_moments: Moments
    employee_moments: Moments
    customer: CellStats
    employee: CellStats
    gap: GapStats
    dimensions: list[DimensionRow]
    importance: float
    importance_source: ImportanceSource
    spearman_rho: float | None
    importance_pairs: int
    trend: TrendRow | None


class _SuppressionCounter:
    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.count = 0
        self.by_difference = 0

    def employee_cell(
        self, moments: Moments, counts: ValueCounts | None = None, withheld: str = ""
    ) -> CellStats:
        cell = arithmetic.employee_cell_stats(moments, self.settings, counts, withheld)
        if cell.suppressed:
            self.count += 1
            self.by_difference += cell.suppressed_reason == "difference"
        return cell


def _item_pair(
    inp: GapReportInput, item: ItemInfo, suppression: _SuppressionCounter
) -> tuple[CellStats, CellStats, GapStats, ValueCounts, ValueCounts]:
    customer_counts = inp.item_cells.get((item.key, "customer"), ValueCounts())
    employee_counts = inp.item_cells.get((item.key, "employee"), ValueCounts())
    customer_moments = arithmetic.moments_from_counts(customer_counts)
    employee_moments = arithmetic.moments_from_counts(employee_counts)
    withheld = inp.employee_withheld.get(("item", item.key), "")
    customer = arithmetic.cell_stats(customer_moments, customer_counts)
    employee = suppression.employee_cell(employee_moments, employee_counts, withheld)
    gap = arithmetic.gap_stats(
        customer_moments, employee_moments, inp.settings, withheld=bool(withheld)
    )
    return customer, employee, gap, customer_counts, employee_counts


def _touchpoint_work(
    inp: GapReportInput, tp: TouchpointInfo, suppression: _SuppressionCounter
) -> _TouchpointWork:
    settings = inp.settings
    customer_moments = inp.touchpoint_cells.get((tp.id, "customer"), Moments())
    employee_moments = inp.touchpoint_cells.get((tp.id, "employee"), Moments())
    dimensions = []
    for item in inp.items:
        if item.touchpoint_id != tp.id or item.kind != "rating":
            continue
        customer, employee, gap, _, _ = _item_pair(inp, item, suppression)
        dimensions.append(DimensionRow(item.key, item.dimension, customer, employee, gap))
    withheld = inp.employee_withheld.get(("touchpoint", tp.id), "")
    rho, pairs = inp.derived_importance.get(tp.id, (None, 0))
    weight, source = arithmetic.importance(tp.declared_importance, rho, pairs)
    trend = None
    if inp.previous_touchpoint_cells is not None:
        previous = inp.previous_touchpoint_cells.get((tp.id, "customer"), Moments())
        trend = arithmetic.trend(customer_moments, previous, settings)
    return _TouchpointWork(
        info=tp,
        customer_moments=customer_moments,
        employee_moments=employee_moments,
        customer=arithmetic.cell_stats(customer_moments),
        employee=suppression.employee_cell(employee_moments, withheld=withheld),
        gap=arithmetic.gap_stats(
            customer_moments, employee_moments, settings, withheld=bool(withheld)
        ),
        dimensions=dimensions,
        importance=weight,
        importance_source=source,
        spearman_rho=rho,
        importance_pairs=pairs,
        trend=trend,
    )


def _priority(work: _TouchpointWork, settings: ScoringSettings) -> Priority | None:
    kind: PriorityKind
    if work.gap.classification == "blind_spot" and work.gap.gap is not None:
        kind, value = "blind_spot", work.importance * work.gap.gap
    elif work.customer_moments.n >= settings.min_n and work.customer.mean is not None:
        kind, value = "opportunity", work.importance * (100.0 - work.customer.mean)
    else:
        return None
    return Priority(
        touchpoint_id=work.info.id,
        kind=kind,
        priority=value,
        gap=work.gap.gap,
        customer_score=work.customer.mean,
        importance=work.importance,
        importance_source=work.importance_source,
    )


def _top_priorities(
    priorities: list[tuple[int, Priority]], settings: ScoringSettings
) -> list[Priority]:
    """Blind spots first, then opportunities; within each by priority, the earlier touchpoint
    winning ties. `priorities` pairs each with its touchpoint's journey position."""

    def ordered(kind: PriorityKind) -> list[Priority]:
        chosen = [(position, p) for position, p in priorities if p.kind == kind]
        chosen.sort(key=lambda item: (-item[1].priority, item[0]))
        return [p for _, p in chosen]

    ranked = ordered("blind_spot") + ordered("opportunity")
    return ranked[: max(settings.top_priorities, 0)]


def _weighted_score(scored: list[tuple[float, float]]) -> float | None:
    """Importance-weighted mean of (score, importance) pairs."""
    if not scored:
        return None
    total_weight = sum(weight for _, weight in scored)
    if total_weight <= 0.0:
        # Every counted touchpoint weighs 0 (all negative correlations or declared 1): a
        # weighted mean is undefined, and each touchpoint counting equally is the neutral choice.
        return fmean(score for score, _ in scored)
    return sum(score * weight for score, weight in scored) / total_weight


def _outcome_row(
    inp: GapReportInput, item: ItemInfo, suppression: _SuppressionCounter
) -> OutcomeRow:
    customer, employee, gap, customer_counts, employee_counts = _item_pair(inp, item, suppression)
    customer_nps = employee_nps = None
    if item.kind == "nps":
        customer_nps = arithmetic.nps_stats(customer_counts)
        employee_nps = (
            arithmetic.suppressed_nps()
            if employee.suppressed
            else arithmetic.nps_stats(employee_counts)
        )
    return OutcomeRow(
        item_key=item.key,
        customer=customer,
        employee=employee,
        gap=gap,
        customer_nps=customer_nps,
        employee_nps=employee_nps,
    )


def build_gap_report(inp: GapReportInput) -> GapReport:
    settings = inp.settings
    suppression = _SuppressionCounter(settings)
    works = [_touchpoint_work(inp, tp, suppression) for tp in inp.touchpoints]

    counted_customer = [w for w in works if w.customer_moments.n >= settings.min_n]
    counted_employee = [
        w for w in works if w.employee_moments.n >= settings.min_n and not w.employee.suppressed
    ]
    journey_cx_customer = _weighted_score(
        [(w.customer.mean, w.importance) for w in counted_customer if w.customer.mean is not None]
    )
    journey_cx_employee = _weighted_score(
        [(w.employee.mean, w.importance) for w in counted_employee if w.employee.mean is not None]
    )
    customer_scores = [w.customer.mean for w in counted_customer if w.customer.mean is not None]
    journey_mean = fmean(customer_scores) if customer_scores else None
    consistency = pstdev(customer_scores) if customer_scores else None
    weak_link_ids: set[int] = set()
    if journey_mean is not None and consistency is not None:
        threshold = journey_mean - consistency
        weak_link_ids = {
            w.info.id
            for w in counted_customer
            if w.customer.mean is not None and w.customer.mean < threshold
        }

    rows = []
    priorities: list[tuple[int, Priority]] = []
    for work in works:
        priority = _priority(work, settings)
        if priority is not None:
            priorities.append((work.info.position, priority))
        rows.append(
            TouchpointRow(
                touchpoint_id=work.info.id,
                name=work.info.name,
                stage_name=work.info.stage_name,
                position=work.info.position,
                customer=work.customer,
                employee=work.employee,
                gap=work.gap,
                dimensions=work.dimensions,
                importance=work.importance,
                importance_source=work.importance_source,
                spearman_rho=work.spearman_rho,
                importance_pairs=work.importance_pairs,
                priority=priority.priority if priority else None,
                priority_kind=priority.kind if priority else None,
                weak_link=work.info.id in weak_link_ids,
                trend=work.trend,
            )
        )

    outcomes = [
        _outcome_row(inp, item, suppression)
        for item in inp.items
        if item.touchpoint_id is None and item.kind in OUTCOME_KINDS
    ]
    return GapReport(
        settings=settings,
        touchpoints=rows,
        outcomes=outcomes,
        journey_cx_customer=journey_cx_customer,
        journey_cx_employee=journey_cx_employee,
        consistency=consistency,
        journey_mean=journey_mean,
        top_priorities=_top_priorities(priorities, settings),
        suppressed_cells=suppression.count,
        withheld_by_difference=suppression.by_difference,
        employee_from=inp.employee_from,
        employee_to=inp.employee_to,
    )


def build_calibration(
    settings: ScoringSettings,
    touchpoints: list[TouchpointInfo],
    customer_cells: Mapping[int, Moments],
    unit_cells: Mapping[str, Mapping[int, Moments]],
) -> list[UnitCalibration]:
    """Per employee unit: mean |unit estimate - customer score| over touchpoints both sides may
    show (customers n >= min_n, the unit n >= employee_anonymity_min)."""
    calibrations = []
    for unit in sorted(unit_cells):
        cells = unit_cells[unit]
        unit_moments = {tp.id: cells.get(tp.id, Moments()) for tp in touchpoints}
        if all(arithmetic.is_suppressed(m, settings) for m in unit_moments.values()):
            calibrations.append(UnitCalibration(unit, None, 0, suppressed=True))
            continue
        gaps = []
        for tp in touchpoints:
            customer = customer_cells.get(tp.id, Moments())
            unit_cell = unit_moments[tp.id]
            if customer.n < settings.min_n or arithmetic.is_suppressed(unit_cell, settings):
                continue
            unit_mean, customer_mean = arithmetic.mean_of(unit_cell), arithmetic.mean_of(customer)
            if unit_mean is not None and customer_mean is not None:
                gaps.append(abs(unit_mean - customer_mean))
        calibrations.append(
            UnitCalibration(
                unit=unit,
                mean_abs_gap=fmean(gaps) if gaps else None,
                touchpoints_compared=len(gaps),
                suppressed=False,
            )
        )
    return calibrations


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def report_to_dict(report: GapReport) -> dict[str, Any]:
    """The report as JSON-ready data: exact figures (rounding is the renderer's job), the
    distribution's scale points as string keys."""
    data: dict[str, Any] = _json_ready(dataclasses.asdict(report))
    return data


def calibration_to_dict(calibrations: list[UnitCalibration]) -> list[dict[str, Any]]:
    return [_json_ready(dataclasses.asdict(c)) for c in calibrations]

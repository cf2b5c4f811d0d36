"""The shapes the gap-report arithmetic reads and produces: plain data, no database.

Selectors load aggregates into the input types; `apps.scoring.report.build_gap_report` turns
them into the output types following SCORING.md exactly; the API and the reports render those.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

AudienceName = Literal["customer", "employee"]
Classification = Literal["blind_spot", "hidden_strength", "aligned", "insufficient_data"]
ImportanceSource = Literal["derived", "declared"]
PriorityKind = Literal["blind_spot", "opportunity"]
TrendStatus = Literal["improved", "declined", "stable", "insufficient_data"]

# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class ScoringSettings:
    """An organisation's scoring settings (SCORING.md defaults)."""

    min_n: int = 10
    gap_threshold: float = 10.0
    alpha: float = 0.05
    employee_anonymity_min: int = 5
    top_priorities: int = 2


@dataclass(frozen=True)
class Moments:
    """Additive moments of normalised (0-100) values: any period is the sum of its days."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)


@dataclass(frozen=True)
class ValueCounts:
    """Answers per raw value of one item cell: {(scale_lo, scale_hi, value): count}.

    Usually one scale; a key whose scale changed between versions has several, and its moments
    combine the normalised values of all of them.
    """

    counts: dict[tuple[int, int, int], int] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemInfo:
    key: str  # "tp:<touchpoint id>:<dimension>", "nps", "overall"
    kind: str  # "rating", "nps", "overall"
    touchpoint_id: int | None
    dimension: str  # "effectiveness" | "ease" | "emotion" | ""


@dataclass(frozen=True)
class TouchpointInfo:
    id: int
    name: str
    stage_name: str
    position: int  # order along the journey, 0-based: ties in priorities go to the earlier one
    declared_importance: int  # 1-5


@dataclass(frozen=True)
class GapReportInput:
    settings: ScoringSettings
    touchpoints: list[TouchpointInfo]  # in journey order
    items: list[ItemInfo]  # rating items of the touchpoints, then outcome items
    # (item key, audience) -> counts under the filter.
    item_cells: dict[tuple[str, str], ValueCounts]
    # (touchpoint id, audience) -> moments of per-respondent touchpoint scores under the filter.
    touchpoint_cells: dict[tuple[int, str], Moments]
    # touchpoint id -> (Spearman rho, number of pairs) over customers under the filter;
    # absent or None rho when it could not be computed.
    derived_importance: dict[int, tuple[float | None, int]]
    # Same as touchpoint_cells for the previous period of equal length, when a trend is asked.
    previous_touchpoint_cells: dict[tuple[int, str], Moments] | None = None
    # Employee cells withheld by the differencing rule (apps.scoring.anonymity), with the
    # reason: ("item", item key) or ("touchpoint", touchpoint id) -> "too_few" | "difference".
    employee_withheld: dict[tuple[str, object], str] = field(default_factory=dict)
    # The days the employee figures cover (whole months and staff blocks), when known.
    employee_from: date | None = None
    employee_to: date | None = None


# ---------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True)
class CellStats:
    """SCORING.md section 3 for one cell. `suppressed` cells carry only their audience: every
    figure (n included) is None so that nothing of them can be read back."""

    n: int | None
    mean: float | None
    variance: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    # Raw scale point -> count (item cells only; None for touchpoint cells and when suppressed).
    distribution: dict[int, int] | None
    top_box: float | None
    bottom_box: float | None
    suppressed: bool = False
    # Why an employee cell is withheld: "too_few" (under the anonymity threshold), "difference"
    # (showing it would let a difference with another filter's figures single out fewer
    # employees than the threshold), "period" (a series period shorter than the staff blocks).
    suppressed_reason: str = ""


@dataclass(frozen=True)
class GapStats:
    gap: float | None  # employee mean - customer mean
    t: float | None
    df: float | None
    p_value: float | None
    ci_low: float | None  # 95% CI of the difference (employee - customer)
    ci_high: float | None
    classification: Classification


@dataclass(frozen=True)
class DimensionRow:
    item_key: str
    dimension: str
    customer: CellStats
    employee: CellStats
    gap: GapStats


@dataclass(frozen=True)
class TouchpointRow:
    touchpoint_id: int
    name: str
    stage_name: str
    position: int
    customer: CellStats  # over per-respondent touchpoint scores
    employee: CellStats
    gap: GapStats
    dimensions: list[DimensionRow]
    importance: float  # 0-1
    importance_source: ImportanceSource
    spearman_rho: float | None
    importance_pairs: int
    priority: float | None
    priority_kind: PriorityKind | None
    weak_link: bool
    trend: "TrendRow | None" = None


@dataclass(frozen=True)
class TrendRow:
    change: float | None  # current customer score - previous
    p_value: float | None
    status: TrendStatus


@dataclass(frozen=True)
class Priority:
    touchpoint_id: int
    kind: PriorityKind
    priority: float
    gap: float | None
    customer_score: float | None
    importance: float
    importance_source: ImportanceSource


@dataclass(frozen=True)
class NpsStats:
    n: int | None
    promoters: int | None
    passives: int | None
    detractors: int | None
    nps: float | None
    suppressed: bool = False


@dataclass(frozen=True)
class OutcomeRow:
    item_key: str  # "nps" or "overall"
    customer: CellStats
    employee: CellStats
    gap: GapStats
    customer_nps: NpsStats | None  # nps items only
    employee_nps: NpsStats | None  # the staff's estimate of NPS


@dataclass(frozen=True)
class GapReport:
    settings: ScoringSettings
    touchpoints: list[TouchpointRow]
    outcomes: list[OutcomeRow]
    # Importance-weighted mean of touchpoint scores over touchpoints with n >= min_n.
    journey_cx_customer: float | None
    journey_cx_employee: float | None  # None also when withheld for anonymity
    consistency: float | None  # population SD of the customer touchpoint scores counted
    journey_mean: float | None  # plain mean of those scores (the weak-link reference)
    top_priorities: list[Priority]
    suppressed_cells: int  # how many employee cells were withheld
    # Of those, how many because a difference with another filter's figures would single out
    # fewer employees than the threshold (apps.scoring.anonymity).
    withheld_by_difference: int = 0
    # The days the employee figures cover: the period snapped outwards to whole months and
    # staff blocks (apps.scoring.anonymity); None when the report was built without it.
    employee_from: date | None = None
    employee_to: date | None = None


@dataclass(frozen=True)
class UnitCalibration:
    """Staff calibration: how far one employee unit's estimates are from customers."""

    unit: str
    mean_abs_gap: float | None
    touchpoints_compared: int
    suppressed: bool  # fewer employees than the anonymity threshold: nothing shown

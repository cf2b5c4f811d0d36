"""Reads for the dashboard's comparisons: segments side by side, staff calibration and the
previous period's NPS, in a fixed number of grouped queries whatever the number of values.

The per-segment figures are exactly those of `selectors.gap_report` under the filter narrowed
to one value (the same SCORING.md arithmetic, `report.build_gap_report`, anonymity included):
only the reading differs. Instead of one report per value, the touchpoint moments are read once
grouped by attribute set and summed per value here (an organisation has tens or hundreds of
sets), and derived importance from the importance pairs counted per attribute set
(`selectors.pair_counts_by_set`), read once for all values and summed per value in the
database.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import (
    BigIntegerField,
    CharField,
    F,
    JSONField,
    Value,
    Window,
)
from django.db.models.functions import RowNumber

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.surveys import selectors as survey_selectors

from . import arithmetic
from .figures import (
    GapReport,
    GapReportInput,
    Moments,
    NpsStats,
    TouchpointInfo,
    UnitCalibration,
    ValueCounts,
)
from .filters import ReportFilter, organization_today
from .models import (
    AttributeSet,
    ScoringState,
)
from .report import build_calibration, build_gap_report
from .selectors import (
    IMPORTANCE_CACHE_SECONDS,
    NO_STATE,
    JourneyState,
    StaffData,
    customer_item_cells,
    customer_moment_parts,
    pair_counts_by_set,
    pair_plan,
    read_union,
    spearman_from_counts,
    staff_data,
    state_of,
    state_text,
    unit_cells,
    value_slices,
)

# Declared importance of a touchpoint without aggregates under the filter: it is not counted
# in any journey score (n = 0 < min_n), so the value never shows.
_UNSEEN_IMPORTANCE = 3


@dataclass(frozen=True)
class QuestionnaireChoice:
    """A questionnaire a report may be narrowed to, as the filter form shows it."""

    pk: int
    name: str


@dataclass(frozen=True)
class SegmentChoices:
    """The organisation's stored attribute sets and what a filter may choose from."""

    sets: dict[int, dict[str, Any]]  # attribute set id -> its values
    values: dict[str, list[str]]  # attribute name -> values, sorted (stored and allowed)
    # The journey's questionnaires (`selectors.journey_questionnaires`' ids and names, in its
    # order) and its ScoringState (`selectors.staff_data`'s `state`), read in the same query.
    questionnaires: tuple[QuestionnaireChoice, ...] = ()
    state: JourneyState | None = None

    def set_ids(self, report_filter: ReportFilter) -> list[int] | None:
        """The sets the filter's segments select (None: no segment filter, every set)."""
        if not report_filter.attributes:
            return None
        return [pk for pk, values in self.sets.items() if report_filter.matches(values)]


def segment_choices(*, organization: Organization, journey: Journey) -> SegmentChoices:
    """Attribute sets, and attribute name -> values stored responses carried or the journey's
    links allow (the same values as `selectors.attribute_values`), with the journey's
    questionnaires and its ScoringState riding along: one query."""
    from apps.distribution.models import ContextAttribute

    # One query for all: the stored sets (rank 0, no name), the context attributes declared
    # on the journey's links (an id of 0 and a name), the questionnaires (rank 1, 2, ... in
    # `journey_questionnaires`' order) and the state (rank -1: version, time as text).
    # (No ORDER BY inside: SQLite refuses it in the parts of a UNION.)
    zero = Value(0, output_field=BigIntegerField())
    stored = (
        AttributeSet.objects.for_organization(organization)
        .order_by()
        .values_list("pk", Value("", output_field=CharField()), "values", zero)
    )
    declared = (
        ContextAttribute.objects.for_organization(organization)
        .filter(questionnaire__journey=journey)
        .order_by()
        .values_list(zero, "name", "allowed_values", zero)
    )
    no_values = Value(None, output_field=JSONField())
    questionnaires = (
        survey_selectors.questionnaires_for_journey(organization=organization, journey=journey)
        .select_related(None)
        .order_by()
        .values_list(
            "pk",
            "name",
            no_values,
            Window(RowNumber(), order_by=[F("created_at").asc(), F("id").asc()]),
        )
    )
    state = (
        ScoringState.objects.for_organization(organization)
        .filter(journey=journey)
        .order_by()
        .values_list(
            "version",
            state_text(),
            no_values,
            Value(-1, output_field=BigIntegerField()),
        )
    )
    sets: dict[int, dict[str, Any]] = {}
    found: dict[str, set[str]] = defaultdict(set)
    ranked: list[tuple[int, QuestionnaireChoice]] = []
    journey_state: JourneyState = NO_STATE
    for pk, name, values, rank in stored.union(declared, questionnaires, state, all=True):
        if rank < 0:
            journey_state = state_of(pk, name)
        elif rank > 0:
            ranked.append((rank, QuestionnaireChoice(pk=pk, name=name)))
        elif name:
            found[name].update(str(value) for value in values or [])
        else:
            sets[pk] = values or {}
            for attribute, value in sets[pk].items():
                found[attribute].add(str(value))
    return SegmentChoices(
        sets=sets,
        values={name: sorted(values) for name, values in sorted(found.items())},
        questionnaires=tuple(choice for _rank, choice in sorted(ranked, key=lambda r: r[0])),
        state=journey_state,
    )


# --- previous period's NPS -------------------------------------------------------------------


def customer_nps(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    choices: SegmentChoices,
    settled_version: int | None = None,
) -> NpsStats:
    """Customers' NPS under the filter (one query, none when a segment filter's period is
    settled and cached): the gap report's `customer_nps` of its nps outcome row, without reading
    the rest of the report (`selectors.customer_item_cells`, the rollup over attribute sets
    without a segment filter). `settled_version`: see `customer_item_cells`."""
    cells = customer_item_cells(
        organization, journey, report_filter, choices.set_ids(report_filter), ["nps"],
        settled_version,
    )  # fmt: skip
    return arithmetic.nps_stats(cells.get(("nps", "customer"), ValueCounts()))


# --- segments side by side and staff calibration ---------------------------------------------


@dataclass(frozen=True)
class SegmentScore:
    """One value's journey CX scores: those of the gap report narrowed to that value."""

    value: str
    customer: float | None
    employee: float | None  # None also when withheld for anonymity

    @property
    def gap(self) -> float | None:
        if self.customer is None or self.employee is None:
            return None
        return self.employee - self.customer


@dataclass(frozen=True)
class Comparison:
    segments: list[SegmentScore]
    calibration: list[UnitCalibration]


def narrowed(report_filter: ReportFilter, attribute: str, value: str) -> ReportFilter:
    """The filter of one segment value, as the per-segment gap report reads it."""
    return ReportFilter(
        date_from=report_filter.date_from,
        date_to=report_filter.date_to,
        attributes={**report_filter.attributes, attribute: [value]},
        questionnaire_id=report_filter.questionnaire_id,
    )


def compared_groups(
    choices: SegmentChoices, report_filter: ReportFilter, compare: str
) -> dict[int, int] | None:
    """Each attribute set the comparison by `compare` reads importance pairs of -> the place of
    its value in `choices.values[compare]`, under a segment filter every set the filter selects
    (-1: one without a compared value, read for nothing but the filter's own importance). The
    report's derived importance reads its sets grouped so (`selectors.derived_importance`'s
    `groups`), and the comparison's read of the same groups then comes from the settled part
    that read has cached. None: no comparison, no segment filter (the report reads the pairs
    over all sets then, and nothing is shared), or `compare` one of the filter's attributes
    (its values' sets are not the filter's)."""
    values = choices.values.get(compare, []) if compare else []
    if not values or not report_filter.attributes or compare in report_filter.attributes:
        return None
    place = {value: index for index, value in enumerate(values)}
    return {
        pk: place.get(str(attrs[compare]), -1) if compare in attrs else -1
        for pk, attrs in choices.sets.items()
        if report_filter.matches(attrs)
    }


def _importance_key(
    organization: Organization, journey: Journey, version: int, report_filter: ReportFilter
) -> str:
    return (
        f"scoring:segment-importance:v1:{organization.pk}:{journey.pk}:{version}:"
        f"{report_filter.digest()}"
    )


def _segment_importance(
    organization: Organization,
    journey: Journey,
    versions: tuple[int, int],
    filters: dict[str, ReportFilter],
    set_ids: dict[str, list[int]],
    groups: dict[int, int] | None = None,
    compared: tuple[str, dict[int, dict[str, Any]]] | None = None,
) -> dict[str, dict[int, tuple[float | None, int]]]:
    """Value -> derived importance of its narrowed filter (as `selectors.derived_importance`
    computes it). Cached per value and journey ScoringState version, that is until new data
    arrives; the values not cached are read together in one query, summed per value in the
    database, whose settled days are cached until they change (`selectors.pair_counts_by_set`;
    `versions`: the journey's version and settled version). `groups`: `compared_groups`, the
    values' places in `filters` (read so when every value is missing). `compared`: the compared
    attribute and the organisation's attribute sets (id -> values): given, the values' months
    come from the attribute's pairs per value when those are exactly the values' sets'
    (`selectors.value_slices`: no segment filter besides)."""
    if not filters:
        return {}
    version, settled_version = versions
    keys = {
        value: _importance_key(organization, journey, version, f) for value, f in filters.items()
    }
    cached = cache.get_many(list(keys.values()))
    result: dict[str, dict[int, tuple[float | None, int]]] = {}
    for value, key in keys.items():
        if key in cached:
            result[value] = {int(tp): (rho, int(n)) for tp, rho, n in cached[key]}
    missing = [value for value in filters if value not in result and set_ids[value]]
    tables: dict[str, dict[int, dict[tuple[float, float], int]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    if missing:
        # The pairs summed per value in the database (a set has one value of the compared
        # attribute, so the values' sets do not overlap): as the report has read them
        # (`compared_groups`: every value's, and the filter's sets without one as -1) when
        # those groups give each missing value exactly its own sets and no value is cached,
        # else the missing values' own.
        values = list(filters)
        place = {value: index for index, value in enumerate(values)}
        own = {pk: place[value] for value in missing for pk in set_ids[value]}
        if groups is None or {pk: i for pk, i in groups.items() if i >= 0} != own:
            groups = own
        counts = pair_counts_by_set(
            organization=organization,
            journey=journey,
            report_filter=next(iter(filters.values())),
            set_ids=sorted(groups),
            settled_version=settled_version,
            groups=groups,
            values=value_slices(compared[1], groups, compared[0]) if compared else None,
        )
        for (index, tp_id, score, outcome), pairs in counts.items():
            if index >= 0 and values[index] in missing:
                tables[values[index]][tp_id][(score, outcome)] = pairs
    fresh = {}
    for value in filters:
        if value in result:
            continue
        result[value] = {
            tp_id: spearman_from_counts(table) for tp_id, table in tables[value].items()
        }
        fresh[keys[value]] = [(tp, rho, n) for tp, (rho, n) in sorted(result[value].items())]
    if fresh:
        cache.set_many(fresh, IMPORTANCE_CACHE_SECONDS)
    return result


def _customer_moments(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    touchpoint_ids: list[int],
    set_ids: list[int] | None,
) -> list[tuple[Any, ...]]:
    """(attribute set, touchpoint, its declared importance, "customer", n, total, total_sq,
    the journey's scoring version) of the customers' touchpoint moments in the filter's period,
    one grouped query: the weeks, months and quarters inside the period from
    TouchpointSpanAggregate and the days at its edges from TouchpointDayAggregate, only ever
    added (`selectors.pair_plan` without subtraction). The journey's scoring version (what
    cached importance is valid for) rides along as an uncorrelated scalar subquery: one round
    trip fewer than `selectors.scoring_version`."""
    if not touchpoint_ids or (set_ids is not None and not set_ids):
        return []  # no touchpoint shown, or a filter no set matches: nothing to read
    plan = pair_plan(
        report_filter.date_from,
        report_filter.date_to,
        organization_today(organization),
        subtract=False,
    )
    columns = ("attribute_set_id", "touchpoint_id", "audience", "n", "total", "total_sq")
    parts = [
        rows
        for rows, _ in customer_moment_parts(
            organization, journey, report_filter, [plan], set_ids, touchpoint_id__in=touchpoint_ids
        )
    ]
    touchpoints = Touchpoint._meta.db_table
    states = ScoringState._meta.db_table
    return read_union(
        parts,
        columns,
        # Fixed names; every value is a parameter.
        f"SELECT m.attribute_set_id, m.touchpoint_id, t.importance, m.audience, "  # noqa: S608
        f"SUM(m.n), SUM(m.total), SUM(m.total_sq), (SELECT s.version FROM {states} s "
        f"WHERE s.organization_id = %s AND s.journey_id = %s) "
        f"FROM ({{union}}) m JOIN {touchpoints} t ON t.id = m.touchpoint_id GROUP BY 1, 2, 3, 4",
        [organization.pk, journey.pk],
    )


def journey_comparison(
    *,
    organization: Organization,
    journey: Journey,
    report: GapReport,
    report_filter: ReportFilter,
    choices: SegmentChoices,
    compare: str = "",
    unit: str = "",
    staff: StaffData | None = None,
) -> Comparison:
    """The journey CX score per value of `compare` (customers and the staff's estimate, each
    value's scores equal to its own gap report's) and the staff calibration per value of
    `unit` (equal to `selectors.staff_calibration`), for the touchpoints of `report`.

    One grouped query of customers' touchpoint moments by attribute set serves both; derived
    importance per value adds, when not cached, one query grouped by value. Employee figures
    come from `staff` (`selectors.staff_data`, read when not given) under the differencing
    rule, per value as for its own report: so the shown values' sum against everyone cannot
    recover a withheld value.
    `compare` must not be one of the filter's attributes (each value would be the filter).
    """
    values = choices.values.get(compare, []) if compare else []
    filters = {value: narrowed(report_filter, compare, value) for value in values}
    segment_sets = {
        value: [pk for pk, attrs in choices.sets.items() if flt.matches(attrs)]
        for value, flt in filters.items()
    }
    customer_sets: list[int] | None = []
    if unit:
        customer_sets = choices.set_ids(report_filter.without(unit))
    if not filters and not unit:
        return Comparison([], [])
    if staff is None:
        staff = staff_data(organization=organization, journey=journey)

    touchpoint_ids = [row.touchpoint_id for row in report.touchpoints]
    rows = _customer_moments(
        organization, journey, report_filter, touchpoint_ids,
        None if customer_sets is None else sorted(
            {*customer_sets, *(pk for ids in segment_sets.values() for pk in ids)}
        ),
    )  # fmt: skip
    cells: dict[int, dict[tuple[int, str], Moments]] = defaultdict(dict)
    declared: dict[int, int] = {}
    scoring_version = 0
    for set_id, tp_id, importance, audience, n, total, total_sq, row_version in rows:
        scoring_version = row_version or 0
        cells[set_id][(tp_id, audience)] = Moments(
            int(n or 0), float(total or 0), float(total_sq or 0)
        )
        declared[tp_id] = importance
    touchpoints = [
        TouchpointInfo(
            id=row.touchpoint_id,
            name=row.name,
            stage_name=row.stage_name,
            position=row.position,
            declared_importance=declared.get(row.touchpoint_id, _UNSEEN_IMPORTANCE),
        )
        for row in report.touchpoints
    ]

    def summed(set_ids: list[int] | None, audience: str) -> dict[int, Moments]:
        total: dict[int, Moments] = defaultdict(Moments)
        for set_id in sorted(cells) if set_ids is None else set_ids:
            for (tp_id, cell_audience), moments in cells.get(set_id, {}).items():
                if cell_audience == audience:
                    total[tp_id] += moments
        return total

    # No aggregate rows: every value is empty, and its importance too (nothing read for it).
    importance = _segment_importance(
        organization,
        journey,
        (scoring_version, staff.settled_version),
        filters if cells else {},
        segment_sets,
        compared_groups(choices, report_filter, compare),
        (compare, choices.sets),
    )
    segments = []
    for value in values:
        touchpoint_cells = {
            (tp_id, "customer"): moments
            for tp_id, moments in summed(segment_sets[value], "customer").items()
        }
        staff_cells, _items, withheld = staff.report_cells(filters[value], touchpoint_ids, [])
        touchpoint_cells.update(staff_cells)
        segment = build_gap_report(
            GapReportInput(
                settings=report.settings,
                touchpoints=touchpoints,
                items=[],
                item_cells={},
                touchpoint_cells=touchpoint_cells,
                derived_importance=importance.get(value, {}),
                employee_withheld=withheld,
            )
        )
        segments.append(
            SegmentScore(value, segment.journey_cx_customer, segment.journey_cx_employee)
        )

    calibration: list[UnitCalibration] = []
    if unit:
        calibration = build_calibration(
            report.settings,
            touchpoints,
            summed(customer_sets, "customer"),
            unit_cells(staff, report_filter, unit, touchpoint_ids),
        )
    return Comparison(segments, calibration)

"""Reads for results: the gap report, touchpoint series, NPS and staff calibration.

Everything comes from the daily aggregates (a handful of grouped queries whose size depends on
the journey and the period, not on the number of answers); raw answers are never scanned. The
SCORING.md arithmetic, anonymity suppression included, is `report.py`/`arithmetic.py`: every
employee figure leaves through it.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import fsum, sqrt
from typing import Any, Literal

from django.core.cache import cache
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    DateField,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, TruncMonth

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.surveys import selectors as survey_selectors
from apps.surveys.models import Dimension, Item, ItemKind, Questionnaire

from . import anonymity, arithmetic
from .figures import (
    CellStats,
    GapReport,
    GapReportInput,
    ItemInfo,
    Moments,
    OutcomeRow,
    ScoringSettings,
    TouchpointInfo,
    UnitCalibration,
    ValueCounts,
)
from .filters import ReportFilter, organization_today
from .models import (
    VALUE_SLICE_NAME_MAX,
    VALUE_SLICE_VALUE_MAX,
    AttributeSet,
    ImportancePairDayCount,
    ImportancePairSetMonthCount,
    ImportancePairSetSpanCount,
    ImportancePairSpanCount,
    ImportancePairValueSpanCount,
    ItemDayCount,
    ItemDayTotal,
    ItemSpanCount,
    PairSpan,
    RespondentScore,
    ScoringState,
    TouchpointDayAggregate,
    TouchpointDayTotal,
    TouchpointSpanAggregate,
)
from .report import build_calibration, build_gap_report

Interval = Literal["day", "week", "month"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month")
OUTCOME_KEYS = ("nps", "overall")
# Derived importance is cached per journey, filter and ScoringState version; a new version
# (new data, a rescoring) makes a new key, so old entries only wait for this to expire.
IMPORTANCE_CACHE_SECONDS = 7 * 24 * 3600

# A journey's ScoringState as `journey_state` gives it: (version, its time as the database
# writes it as text, settled_version), or (0, None, 0) before any data.
JourneyState = tuple[int, str | None, int]
NO_STATE: JourneyState = (0, None, 0)
_DIMENSION_ORDER = {d: i for i, d in enumerate(Dimension.values)}


def scoring_settings(organization: Organization) -> ScoringSettings:
    return ScoringSettings(
        min_n=organization.min_n,
        gap_threshold=organization.gap_threshold,
        alpha=organization.alpha,
        employee_anonymity_min=organization.employee_anonymity_min,
        top_priorities=organization.top_priorities,
    )


# --- the journey's shape --------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyShape:
    """What a report has rows for: touchpoints in journey order and the items measured."""

    touchpoints: list[TouchpointInfo]
    items: list[ItemInfo]

    @property
    def outcome_key(self) -> str | None:
        """The outcome derived importance correlates with: nps if asked, else overall."""
        keys = {item.key for item in self.items if item.touchpoint_id is None}
        return next((key for key in OUTCOME_KEYS if key in keys), None)

    @property
    def item_keys(self) -> list[str]:
        return [item.key for item in self.items]


def journey_shape(
    *, organization: Organization, journey: Journey, questionnaire_id: int | None = None
) -> JourneyShape:
    """Touchpoints and scaled items of the journey's published questionnaire versions (two
    queries). Archived touchpoints stay while published items refer to them: their past
    answers still count."""
    items_qs = Item.objects.for_organization(organization).filter(
        version__questionnaire__journey=journey,
        version__published_at__isnull=False,
        kind__in=(ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL),
    )
    if questionnaire_id is not None:
        items_qs = items_qs.filter(version__questionnaire_id=questionnaire_id)
    raw_items = set(items_qs.values_list("key", "kind", "touchpoint_id", "dimension").distinct())
    touchpoints = list(
        Touchpoint.objects.for_organization(organization)
        .filter(journey=journey)
        .select_related("stage")
        .order_by("stage__position", "position", "id")
    )
    measured = {tp_id for _, kind, tp_id, _ in raw_items if kind == ItemKind.RATING and tp_id}
    shown = [
        tp for tp in touchpoints if tp.pk in measured or (tp.is_active and tp.archived_at is None)
    ]
    infos = [
        TouchpointInfo(
            id=tp.pk,
            name=tp.name,
            stage_name=tp.stage.name,
            position=index,
            declared_importance=tp.importance,
        )
        for index, tp in enumerate(shown)
    ]
    order = {tp.id: tp.position for tp in infos}
    ratings = sorted(
        (
            ItemInfo(key=key, kind=str(kind), touchpoint_id=tp_id, dimension=dimension)
            for key, kind, tp_id, dimension in raw_items
            if kind == ItemKind.RATING and tp_id in order and dimension
        ),
        key=lambda i: (order[i.touchpoint_id or 0], _DIMENSION_ORDER.get(i.dimension, 9), i.key),
    )
    outcome_kinds = {key: kind for key, kind, tp_id, _ in raw_items if tp_id is None}
    outcomes = [
        ItemInfo(key=key, kind=str(outcome_kinds[key]), touchpoint_id=None, dimension="")
        for key in OUTCOME_KEYS
        if outcome_kinds.get(key) == key
    ]
    return JourneyShape(touchpoints=infos, items=ratings + outcomes)


# --- filtering the aggregates ---------------------------------------------------------------


def attribute_set_ids(
    *,
    organization: Organization,
    report_filter: ReportFilter,
    known_sets: dict[int, dict[str, Any]] | None = None,
) -> list[int] | None:
    """The stored attribute sets the filter's segments select (None: no segment filter, all).

    Resolved in Python: an organisation has tens or hundreds of distinct sets, not millions.
    A caller that has read every set of the organisation already passes them as `known_sets`
    (id -> values) and saves the query.
    """
    if not report_filter.attributes:
        return None
    if known_sets is None:
        known_sets = dict(
            AttributeSet.objects.for_organization(organization).values_list("pk", "values")
        )
    return [pk for pk, values in known_sets.items() if report_filter.matches(values or {})]


def _touchpoint_moments(organization: Organization, set_ids: list[int] | None) -> QuerySet[Any]:
    model = TouchpointDayTotal if set_ids is None else TouchpointDayAggregate
    return model.objects.for_organization(organization)


def _under_filter(
    queryset: QuerySet[Any],
    *,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int] | None,
    date_from: date | None = None,
) -> QuerySet[Any]:
    queryset = queryset.filter(
        journey=journey,
        day__gte=date_from or report_filter.date_from,
        day__lte=report_filter.date_to,
    )
    if report_filter.questionnaire_id is not None:
        queryset = queryset.filter(questionnaire_id=report_filter.questionnaire_id)
    if set_ids is not None:
        queryset = queryset.filter(attribute_set_id__in=set_ids)
    return queryset.order_by()


def customer_item_cells(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int] | None,
    keys: list[str],
    settled_version: int | None = None,
) -> dict[tuple[str, str], ValueCounts]:
    """(item key, "customer") -> answers per raw value under the filter: one grouped query.
    Employee cells come from `staff_data` (they cover whole staff blocks, not the period).

    Without a segment filter: the daily counts over the sets (ItemDayTotal). A segment filter
    reads its sets' counts (`_set_item_counts`): per month, days only at the edges, the part
    of the period up to `settled_end` cached under `settled_version`."""
    counts: dict[tuple[Any, ...], int]
    if set_ids is None:
        rows = (
            _under_filter(
                ItemDayTotal.objects.for_organization(organization),
                journey=journey,
                report_filter=report_filter,
                set_ids=None,
            )
            .filter(item_key__in=keys, audience="customer")
            .values_list("item_key", "scale_lo", "scale_hi", "value")
            .annotate(answers=Sum("count"))
        )
        counts = {tuple(row[:-1]): int(row[-1] or 0) for row in rows}
    else:
        counts = _set_item_counts(
            organization, journey, report_filter, set_ids, keys, settled_version
        )
    cells: dict[tuple[str, str], dict[tuple[int, int, int], int]] = defaultdict(dict)
    for (key, lo, hi, value), answers in counts.items():
        if answers:
            cells[(key, "customer")][(lo, hi, value)] = answers
    return {cell: ValueCounts(counts=values) for cell, values in cells.items()}


def _set_item_counts(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int],
    keys: list[str],
    settled_version: int | None,
) -> dict[tuple[Any, ...], int]:
    """(item key, scale_lo, scale_hi, value) -> the sets' customers' answers in the filter's
    period, one grouped query: the months `pair_plan` chooses (ItemSpanCount) and the days at
    the edges (ItemDayCount), each added or subtracted as its part, so that its rows stop
    growing with the days once the sets' months hold every value.

    With `settled_version` the part of the period up to `settled_end` is cached under it,
    grouped (a few hundred counts at most), as the importance pairs are (`_settled_split`)."""
    if not set_ids:
        return {}
    # ItemSpanCount holds months only (what the batch can afford to keep: see its model).
    months = ("month",)

    def key(period: tuple[date, date]) -> str:
        what = [sorted(set_ids), report_filter.questionnaire_id, sorted(keys), *period]
        return _settled_key("items:v2", organization, journey, settled_version or 0, what)

    def read(plans: tuple[PairPlan | None, PairPlan | None]) -> list[tuple[Any, ...]]:
        sources: list[tuple[QuerySet[Any], Conditions]] = [
            (ItemSpanCount.objects.for_organization(organization), span_conditions(months)),
            (
                ItemDayCount.objects.for_organization(organization).filter(audience="customer"),
                {"days": day_condition},
            ),
        ]
        parts = [
            rows.annotate(**_plan_weights(plans, conditions, F("count")))
            for rows, conditions in plan_parts(
                plans,
                sources,
                journey=journey,
                attribute_set_id__in=set_ids,
                item_key__in=keys,
                **_questionnaire(report_filter),
            )
        ]
        return read_union(
            parts,
            ("item_key", "scale_lo", "scale_hi", "value", "pair_settled", "pair_live"),
            "SELECT item_key, scale_lo, scale_hi, value, SUM(pair_settled), SUM(pair_live) "
            "FROM ({union}) items GROUP BY 1, 2, 3, 4",
        )

    return _settled_split(organization, report_filter, settled_version, key, read, levels=months)


def _touchpoint_cells(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int] | None,
    *,
    with_previous: bool = False,
) -> tuple[dict[tuple[int, str], Moments], dict[tuple[int, str], Moments] | None]:
    """(touchpoint, "customer") -> moments under the filter, and for the previous period of
    equal length when asked: one grouped query over both periods. Employee cells come from
    `staff_data`. A segment filter reads its sets' weeks, months and quarters
    (`_set_touchpoint_rows`), the rollup over the sets otherwise."""
    previous = report_filter.previous() if with_previous else None
    if set_ids is not None:
        rows: Iterable[tuple[Any, ...]] = _set_touchpoint_rows(
            organization, journey, report_filter, set_ids, previous
        )
    else:
        rows = _daily_touchpoint_rows(organization, journey, report_filter, previous)
    current: dict[tuple[int, str], Moments] = {}
    earlier: dict[tuple[int, str], Moments] = {}
    for tp_id, audience, is_earlier, n, total, total_sq in rows:
        target = earlier if is_earlier else current
        target[(tp_id, audience)] = Moments(int(n or 0), float(total or 0), float(total_sq or 0))
    return current, (earlier if with_previous else None)


def _set_touchpoint_rows(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int],
    previous: ReportFilter | None,
) -> list[tuple[Any, ...]]:
    """(touchpoint, "customer", 1 for the previous period else 0, n, total, total_sq) of the
    sets' customers, one grouped query: the weeks, months and quarters inside each period from
    TouchpointSpanAggregate and the days at its edges from TouchpointDayAggregate, only ever
    added (`pair_plan` without subtraction: sums of floats), so that its rows stop growing with
    the customers once the sets' buckets hold every touchpoint."""
    if not set_ids:
        return []
    today = organization_today(organization)
    plans = (
        pair_plan(report_filter.date_from, report_filter.date_to, today, subtract=False),
        pair_plan(previous.date_from, previous.date_to, today, subtract=False)
        if previous
        else None,
    )
    # The periods do not overlap: a row is in one plan's parts, the previous one's weighs 1.
    parts = [
        rows.annotate(earlier=_plan_weights(plans, conditions, Value(1))["pair_live"])
        for rows, conditions in customer_moment_parts(
            organization, journey, report_filter, plans, set_ids
        )
    ]
    return read_union(
        parts,
        ("touchpoint_id", "audience", "earlier", "n", "total", "total_sq"),
        "SELECT touchpoint_id, audience, earlier, SUM(n), SUM(total), SUM(total_sq) "
        "FROM ({union}) m GROUP BY 1, 2, 3",
    )


def customer_moment_parts(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    plans: Iterable["PairPlan | None"],
    set_ids: list[int] | None,
    **filters: Any,
) -> list[tuple[QuerySet[Any], "Conditions"]]:
    """The customers' touchpoint moments per set that `plans` read (`plan_parts`): the weeks,
    months and quarters of TouchpointSpanAggregate and the days of TouchpointDayAggregate, of
    the journey, the filter's questionnaire, `set_ids` (None: every set) and `filters`."""
    sources: list[tuple[QuerySet[Any], Conditions]] = [
        (
            TouchpointSpanAggregate.objects.for_organization(organization),
            span_conditions(("week", "month", "quarter")),
        ),
        (TouchpointDayAggregate.objects.for_organization(organization), {"days": day_condition}),
    ]
    if set_ids is not None:
        filters["attribute_set_id__in"] = set_ids
    return plan_parts(
        plans,
        sources,
        journey=journey,
        audience="customer",
        **_questionnaire(report_filter),
        **filters,
    )


def _daily_touchpoint_rows(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    previous: ReportFilter | None,
) -> Iterable[tuple[Any, ...]]:
    """As `_set_touchpoint_rows`, over all sets: their daily rollup (TouchpointDayTotal)."""
    queryset = (
        _under_filter(
            TouchpointDayTotal.objects.for_organization(organization),
            journey=journey,
            report_filter=report_filter,
            set_ids=None,
            date_from=previous.date_from if previous else None,
        )
        .filter(audience="customer")
        .annotate(
            earlier=Case(
                When(day__lt=report_filter.date_from, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
    )
    return queryset.values_list("touchpoint_id", "audience", "earlier").annotate(
        n=Sum("n"), total=Sum("total"), total_sq=Sum("total_sq")
    )


# --- derived importance ---------------------------------------------------------------------


def spearman_from_counts(
    table: dict[tuple[float, float], int],
) -> tuple[float | None, int]:
    """Spearman's rho (average ranks for ties) of pairs given as {(x, y): how many}, and the
    number of pairs. Equal to `arithmetic.spearman` over the expanded pairs, in time that
    depends on the distinct values only: touchpoint scores and outcomes take few values."""
    n = sum(table.values())
    if n < 2:
        return None, n
    x_counts: dict[float, int] = defaultdict(int)
    y_counts: dict[float, int] = defaultdict(int)
    for (x, y), count in table.items():
        x_counts[x] += count
        y_counts[y] += count
    centre = (n + 1) / 2.0

    def centred_ranks(counts: dict[float, int]) -> dict[float, float]:
        ranks, below = {}, 0
        for value in sorted(counts):
            ranks[value] = below + (counts[value] + 1) / 2.0 - centre
            below += counts[value]
        return ranks

    x_ranks, y_ranks = centred_ranks(x_counts), centred_ranks(y_counts)
    x_spread = fsum(c * x_ranks[x] ** 2 for x, c in x_counts.items())
    y_spread = fsum(c * y_ranks[y] ** 2 for y, c in y_counts.items())
    if x_spread <= 0.0 or y_spread <= 0.0:
        return None, n
    covariance = fsum(c * x_ranks[x] * y_ranks[y] for (x, y), c in table.items())
    rho = covariance / sqrt(x_spread * y_spread)
    return max(-1.0, min(1.0, rho)), n


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# What reading a bucket costs, in days of customers' RespondentScore rows: what its rows came
# to in bench/dashboard_read.py at 10M answers (a day ~8k rows, a week ~16k, a month ~24k, a
# quarter ~30k), where the choice matters. A bucket's rows per set stop growing once its pairs
# are all seen; a day's customers never do.
_BUCKET_COST = {"quarter": 4, "month": 3, "week": 2}
# A month of the pairs per attribute value (ImportancePairValueSpanCount) for each set read:
# a value's month held ~1.5-1.9 times a set's month's rows at 10M answers (~700 rows for a
# store's 2 sets, ~900 for a channel's 25), so its cost is `_BUCKET_COST["month"]` x ~1.7 x
# values / sets. A filter on a value of 25 sets reads its months (0.2 each, a quarter's three
# 0.6 against 4); a comparison of 25 values of 2 sets each reads the sets' quarters (three of
# its months 7.5).
_VALUE_MONTH_COST = 5.0
_LEVELS = ("quarter", "month", "week")


def _bucket(kind: str, day: date) -> tuple[date, date]:
    """The first and last day of the bucket of `kind` holding `day` (weeks: PairSpan.WEEK)."""
    if kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return first, _next_month(_next_month(_next_month(first))) - timedelta(days=1)
    month = day.replace(day=1)
    month_end = _next_month(month) - timedelta(days=1)
    if kind == "month":
        return month, month_end
    first = month.replace(day=min(22, (day.day - 1) // 7 * 7 + 1))
    return first, month_end if first.day == 22 else first + timedelta(days=6)


@dataclass(frozen=True)
class PairPlan:
    """How a period's pairs per attribute set are read: `parts`, each (sign, kind, first,
    last), the pairs of a bucket (kind "quarter", "month" or "week", `first` its first day) or
    the customers' own rows of the days `first`..`last` (kind "days"), added (+1) or
    subtracted (-1). A bucket or day appears at most once."""

    parts: tuple[tuple[int, str, date, date], ...]

    def of(self, kind: str) -> list[tuple[int, date, date]]:
        return [(sign, first, last) for sign, k, first, last in self.parts if k == kind]


def _cover(
    first: date,
    last: date,
    today: date,
    levels: tuple[str, ...],
    subtract: bool = True,
    free: frozenset[tuple[str, date]] = frozenset(),
    costs: Mapping[str, float] = _BUCKET_COST,
) -> tuple[float, list[Any]]:
    """(cost, parts) of the cheapest reading of `first`..`last` from buckets of `levels[0]`,
    the finer `levels`, then days: a bucket inside the period whole; one it covers in part
    either by its part inside (finer) or, when `subtract`, whole less its parts outside
    (finer), whichever costs less. Days after `today` hold no answers: they cost nothing and
    need no subtracting. Buckets in `free` ((kind, first day)) are read anyway, for another
    plan: they cost nothing. `costs`: what a bucket of each kind costs, in days."""
    last = min(last, today)
    if first > last:
        return 0, []
    if not levels:
        return (last - first).days + 1, [(1, "days", first, last)]
    kind, finer = levels[0], levels[1:]
    cost: float = 0
    parts: list[Any] = []
    start = first
    while start <= last:
        bucket_first, bucket_last = _bucket(kind, start)
        bucket_cost = 0 if (kind, bucket_first) in free else costs[kind]
        inside = (start, min(last, bucket_last))
        if inside[0] == bucket_first and inside[1] >= min(bucket_last, today):
            # Whole, unless it is past and its finer buckets cost less (a value's months
            # against the sets' quarter, `_VALUE_MONTH_COST`; with `_BUCKET_COST` a bucket
            # always costs less than its finer ones).
            past = finer and bucket_last <= today
            finer_cost, finer_parts = (
                _cover(*inside, today, finer, subtract, free, costs) if past else (0, [])
            )
            if past and finer_cost < bucket_cost:
                cost += finer_cost
                parts.extend(finer_parts)
            else:
                cost += bucket_cost
                parts.append((1, kind, bucket_first, bucket_last))
        elif not subtract:
            inside_cost, inside_parts = _cover(*inside, today, finer, False, free, costs)
            cost += inside_cost
            parts.extend(inside_parts)
        else:
            by_parts = _cover(*inside, today, finer, True, free, costs)
            whole_cost, whole = bucket_cost, [(1, kind, bucket_first, bucket_last)]
            for outside in ((bucket_first, inside[0] - timedelta(days=1)),
                            (inside[1] + timedelta(days=1), bucket_last)):  # fmt: skip
                outside_cost, outside_parts = _cover(*outside, today, finer, True, free, costs)
                whole_cost += outside_cost
                whole.extend((-sign, k, a, b) for sign, k, a, b in outside_parts)
            chosen = by_parts if by_parts[0] <= whole_cost else (whole_cost, whole)
            cost += chosen[0]
            parts.extend(chosen[1])
        start = bucket_last + timedelta(days=1)
    return cost, parts


def pair_plan(
    date_from: date,
    date_to: date,
    today: date,
    *,
    subtract: bool = True,
    beside: "PairPlan | None" = None,
    levels: tuple[str, ...] = _LEVELS,
    costs: Mapping[str, float] = _BUCKET_COST,
) -> PairPlan:
    """The cheapest reading of a period's pairs per set (`_cover`): quarters, months and weeks
    inside it whole, the rest as finer buckets or customers' rows of days, or a bucket less
    what lies outside, by `_BUCKET_COST`. Which is chosen changes only the cost, never the
    counts. Without `subtract` every part is added (sums of floats: never a difference).
    `beside`: a plan read in the same statement (each row read once for both): its buckets
    cost this one nothing, so that e.g. a settled part ending where the live month begins
    reads its quarter less that month rather than the quarter's other months. `levels`: the
    buckets the source holds, coarsest first (a subset of quarter, month, week). `costs`:
    what a bucket of each kind costs its source, in days of customers' rows."""
    shared = beside.parts if beside else ()
    free = frozenset((kind, first) for _sign, kind, first, _last in shared)
    return PairPlan(tuple(_cover(date_from, date_to, today, levels, subtract, free, costs)[1]))


PairCounts = dict[tuple[int, int, float, float], int]


_SPANS = {"week": PairSpan.WEEK, "month": PairSpan.MONTH, "quarter": PairSpan.QUARTER}


# kind of a plan's part -> the condition of a table's rows in such a part (its first, last day)
Conditions = dict[str, Callable[[date, date], Q]]


def span_conditions(kinds: Iterable[str]) -> Conditions:
    """kind -> the condition of a row of a span table (ImportancePairSetSpanCount,
    ImportancePairSpanCount, TouchpointSpanAggregate) in a plan's part of that kind."""

    def condition(span: str) -> Callable[[date, date], Q]:
        return lambda first, _last: Q(span=span, start=first)

    return {kind: condition(_SPANS[kind]) for kind in kinds}


def day_condition(first: date, last: date) -> Q:
    """The condition of a daily row in a plan's part of kind "days"."""
    return Q(day__gte=first, day__lte=last)


def plan_parts(
    plans: Iterable[PairPlan | None],
    sources: list[tuple[QuerySet[Any], Conditions]],
    **filters: Any,
) -> list[tuple[QuerySet[Any], Conditions]]:
    """Each source (rows, the conditions of its kinds) the plans read, narrowed to the rows
    their parts name and to `filters`; the sources they read nothing of are left out."""
    parts = []
    for rows, conditions in sources:
        which = Q()
        for kind, condition in conditions.items():
            for first, last in sorted(
                {(first, last) for plan in plans if plan for _sign, first, last in plan.of(kind)}
            ):
                which |= condition(first, last)
        if which:
            parts.append((rows.filter(which, **filters), conditions))
    return parts


def _questionnaire(report_filter: ReportFilter) -> dict[str, int]:
    """The filter's questionnaire as a filter of aggregate rows (none: every questionnaire)."""
    if report_filter.questionnaire_id is None:
        return {}
    return {"questionnaire_id": report_filter.questionnaire_id}


def union_all(parts: list[QuerySet[Any]], columns: Iterable[str]) -> tuple[str, list[Any]]:
    """The parts' `columns` as one compound SELECT (SQL and parameters) of the ORM's compiled
    queries. No parentheses around the parts: SQLite refuses them in a compound SELECT."""
    statements: list[str] = []
    params: list[Any] = []
    for part in parts:
        query = part.order_by().values_list(*columns).query
        sql, part_params = query.get_compiler(using=part.db).as_sql()
        statements.append(sql)
        params.extend(part_params)
    return " UNION ALL ".join(statements), params


def read_union(
    parts: list[QuerySet[Any]],
    columns: Iterable[str],
    select: str,
    params_before: Iterable[Any] = (),
    params_after: Iterable[Any] = (),
) -> list[tuple[Any, ...]]:
    """The rows of `select`, a statement of fixed names reading `{union}`: the parts' `columns`
    as one compound SELECT (`union_all`), every value a parameter (`params_before` and
    `params_after` those of `select` around it). Plain tuples, as they come: no ORM
    converters. None for no parts."""
    if not parts:
        return []
    compound, params = union_all(parts, columns)
    with connections[parts[0].db].cursor() as cursor:
        cursor.execute(
            select.replace("{union}", compound), [*params_before, *params, *params_after]
        )
        return cursor.fetchall()


def _plan_weights(
    plans: tuple[PairPlan | None, PairPlan | None],
    kinds: Conditions,
    weight: Any,
) -> dict[str, Any]:
    """`pair_settled` and `pair_live`: each plan's weight of a row of a source holding `kinds`
    (kind -> the condition of a part of that kind): `weight` (a count, or 1) signed as the
    plan's part the row falls in, 0 outside them."""
    zero = Value(0, output_field=IntegerField())
    weights: dict[str, Any] = {}
    for label, plan in zip(("settled", "live"), plans, strict=True):
        whens = [
            When(condition(first, last), then=weight if sign > 0 else -weight)
            for kind, condition in kinds.items()
            for sign, first, last in (plan.of(kind) if plan else [])
        ]
        weights[f"pair_{label}"] = (
            Case(*whens, default=zero, output_field=IntegerField()) if whens else zero
        )
    return weights


_PAIR_COLUMNS = ("pair_set", "pair_tp", "pair_score", "pair_outcome")

# A read of pairs per attribute value (`value_slices`): the attribute, each value -> its group,
# and the newest attribute set the caller knew of (its id).
ValueGroups = tuple[str, dict[str, int], int]


def value_slices(
    sets: Mapping[int, Mapping[str, Any]],
    groups: Mapping[int, int],
    attribute: str,
) -> ValueGroups | None:
    """(attribute, value -> group, the newest set's id) when `attribute`'s pairs per value
    (ImportancePairValueSpanCount) give exactly the pairs of the sets `groups` names, grouped
    so: each of them has a value of `attribute` the table holds (a string within its bounds),
    the sets of one value share a group, and no other set of `sets` (the organisation's, id ->
    values) has one of those values. None otherwise (read per set). A set created since `sets`
    were read is noticed by the read itself (`pair_counts_by_set`)."""
    if len(attribute) > VALUE_SLICE_NAME_MAX:
        return None
    by_value: dict[str, int] = {}
    for pk, group in groups.items():
        value = (sets.get(pk) or {}).get(attribute)
        if not isinstance(value, str) or len(value) > VALUE_SLICE_VALUE_MAX:
            return None
        if by_value.setdefault(value, group) != group:
            return None
    for pk, values in sets.items():
        other = (values or {}).get(attribute)
        if pk not in groups and isinstance(other, str) and other in by_value:
            return None
    return (attribute, by_value, max(sets)) if by_value else None


def _pair_rows(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int],
    plans: tuple[PairPlan | None, PairPlan | None],
    groups: dict[int, int] | None,
    values: "ValueGroups | None" = None,
) -> list[tuple[Any, ...]]:
    """The rows of one statement for two plans (the settled part's and the live part's, either
    absent): the monthly counts, the weekly and quarterly ones and
    the customers' RespondentScore rows of the days their parts name, side by side (UNION ALL,
    each row weighted by its plan: a bucket's count or a day's 1, signed as its part), summed
    per (set, touchpoint, score, outcome) in one grouping, so that a cell comes back once with
    both plans' pairs and a row both plans read is read once. With `groups` (set -> group),
    summed per group instead of per set (a VALUES list joined on the set: portable to SQLite,
    and one hash lookup a row where a CASE over the sets would compare each row with every
    set).

    With `values` (`value_slices`: the sets grouped as their values of one attribute are), the
    months come from that attribute's pairs per value (ImportancePairValueSpanCount), joined on
    the value to its group, and the quarters, weeks and days from the sets'."""
    sources_of = (F("attribute_set_id"), F("touchpoint_id"), F("score"), F("outcome"))
    columns: dict[str, Any] = dict(zip(_PAIR_COLUMNS, sources_of, strict=True))
    if values is not None:
        columns = {"pair_value": Cast(Value(None), output_field=CharField()), **columns}
    respondents = RespondentScore.objects.for_organization(organization)
    sources: list[tuple[QuerySet[Any], Conditions]] = [
        (
            ImportancePairSetSpanCount.objects.for_organization(organization),
            span_conditions(("week", "quarter")),
        ),
        (respondents.filter(outcome__isnull=False), {"days": day_condition}),
    ]
    if values is None:
        sources.insert(
            0,
            (
                ImportancePairSetMonthCount.objects.for_organization(organization),
                {"month": lambda first, _last: Q(month=first)},
            ),
        )

    def weighted(
        rows: QuerySet[Any], conditions: Conditions, columns: dict[str, Any]
    ) -> QuerySet[Any]:
        # A bucket's count; a customer's own row counts 1.
        weight = Value(1) if "days" in conditions else F("count")
        return rows.annotate(**columns, **_plan_weights(plans, conditions, weight))

    questionnaire = _questionnaire(report_filter)
    parts = [
        weighted(rows, conditions, columns)
        for rows, conditions in plan_parts(
            plans, sources, journey=journey, attribute_set_id__in=set_ids, **questionnaire
        )
    ]
    pairs, key, grouped, newest = "({union}) pairs", "pair_set", [], ""
    if values is not None:
        attribute, value_groups, _known = values
        by_value = {
            **columns,
            "pair_value": F("value"),
            # Typed: a read of whole months and quarters has no set part to type it.
            "pair_set": Cast(Value(None), output_field=IntegerField()),
        }
        parts += [
            weighted(rows, conditions, by_value)
            for rows, conditions in plan_parts(
                plans,
                [
                    (
                        ImportancePairValueSpanCount.objects.for_organization(organization),
                        span_conditions(("month",)),
                    )
                ],
                journey=journey,
                attribute=attribute,
                value__in=sorted(value_groups),
                **questionnaire,
            )
        ]
        groups = groups or {}
        pairs += " LEFT JOIN (VALUES " + ", ".join(["(%s, %s)"] * len(groups)) + ") grouped"
        pairs += " ON grouped.column1 = pairs.pair_set"
        pairs += " LEFT JOIN (VALUES " + ", ".join(["(%s, %s)"] * len(value_groups))
        pairs += ") valued ON valued.column1 = pairs.pair_value"
        grouped = [
            value
            for item in (*sorted(groups.items()), *sorted(value_groups.items()))
            for value in item
        ]
        key = "COALESCE(grouped.column2, valued.column2)"
        # ...and one row more, of no group: the organisation's newest attribute set, which
        # `pair_counts_by_set` compares with the newest the caller knew of.
        newest = (
            " UNION ALL SELECT NULL, NULL, NULL, NULL, (SELECT MAX(id) "  # noqa: S608
            f"FROM {AttributeSet._meta.db_table} WHERE organization_id = %s), 0"
        )
        grouped.append(organization.pk)
    elif groups:
        pairs += " JOIN (VALUES " + ", ".join(["(%s, %s)"] * len(groups)) + ") grouped"
        pairs += " ON grouped.column1 = pairs.pair_set"
        grouped = [value for item in sorted(groups.items()) for value in item]
        key = "grouped.column2"
    return read_union(
        parts,
        ("pair_value", *_PAIR_COLUMNS, "pair_settled", "pair_live")
        if values is not None
        else (*_PAIR_COLUMNS, "pair_settled", "pair_live"),
        # Fixed names; every value is a parameter.
        f"SELECT {key}, pair_tp, pair_score, pair_outcome, SUM(pair_settled), SUM(pair_live) "  # noqa: S608
        f"FROM {pairs} GROUP BY 1, 2, 3, 4{newest}",
        params_after=grouped,
    )


def _settled_key(
    kind: str, organization: Organization, journey: Journey, settled_version: int, what: Any
) -> str:
    """The cache key of a settled part (`_settled_split`): `kind` names the read, `what` (JSON)
    everything else its rows depend on (sets, questionnaire, period...)."""
    digest = hashlib.sha256(json.dumps(what, default=str).encode()).hexdigest()[:32]
    return f"scoring:settled-{kind}:{organization.pk}:{journey.pk}:{settled_version}:{digest}"


def _pairs_key(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int],
    settled_version: int,
    period: tuple[date, date],
    groups: dict[int, int] | None = None,
) -> str:
    what: list[Any] = sorted(groups.items()) if groups else sorted(set_ids)
    return _settled_key(
        "pairs:by-group" if groups else "pairs:v1",
        organization,
        journey,
        settled_version,
        [what, report_filter.questionnaire_id, *period],
    )


def _settled_split(
    organization: Organization,
    report_filter: ReportFilter,
    settled_version: int | None,
    key: Callable[[tuple[date, date]], str],
    read: Callable[[tuple[PairPlan | None, PairPlan | None]], list[tuple[Any, ...]]],
    *,
    levels: tuple[str, ...] = _LEVELS,
    costs: Mapping[str, float] = _BUCKET_COST,
) -> dict[tuple[Any, ...], int]:
    """cell -> count in the filter's period, from the rows `read` gives for two plans (the
    settled part's and the live part's, either absent; `pair_plan` over `levels`), each row
    (*cell, its count in the settled part, in the live part), a cell once.

    With `settled_version` (the journey's ScoringState.settled_version, which every change to a
    day before the organisation's today bumps) the part of the period up to `settled_end` is
    cached under it (`key` of that part), across new batches of today's answers, and only the
    rest is read; when both are read, in one statement, the settled part planned beside the
    live one (`pair_plan`'s `beside`: the month the live part reads anyway makes e.g. a
    quarter less that month cheaper than the quarter's other months). Without it the whole
    period is read each time."""
    today = organization_today(organization)
    end = settled_end(report_filter, today)
    settled: dict[tuple[Any, ...], int] | None = None
    cache_key = None
    live = (report_filter.date_from, report_filter.date_to)
    if settled_version is not None and report_filter.date_from <= end:
        period = (report_filter.date_from, end)
        cache_key = key(period)
        settled = cache.get(cache_key)
        live = (end + timedelta(days=1), report_filter.date_to)
    live_plan = pair_plan(*live, today, levels=levels, costs=costs) if live[0] <= live[1] else None
    settled_plan = (
        pair_plan(report_filter.date_from, end, today, beside=live_plan, levels=levels, costs=costs)
        if cache_key is not None and settled is None
        else None
    )
    # (A settled part always has days up to yesterday to read; a live part after today none.)
    if settled_plan is None and not (live_plan and live_plan.parts):
        return dict(settled or {})
    # Plain tuples, as they come (no ORM converters: tens of thousands of rows at 10M answers).
    # Every part's count is a count (never negative): a cell is in a part's dict when that part
    # holds it, and a sum of parts is never 0 for a cell they hold.
    rows = read((settled_plan, live_plan))
    if settled_plan is not None:
        settled = {row[:-2]: row[-2] for row in rows if row[-2]}
        cache.set(cache_key, settled, IMPORTANCE_CACHE_SECONDS)
        return {row[:-2]: row[-2] + row[-1] for row in rows if row[-2] or row[-1]}
    if not settled:
        return {row[:-2]: row[-1] for row in rows if row[-1]}
    total = dict(settled)
    for row in rows:
        if row[-1]:
            total[row[:-2]] = total.get(row[:-2], 0) + row[-1]
    return total


def settled_end(report_filter: ReportFilter, today: date) -> date:
    """The last day of a period's part that `pair_counts_by_set` caches across new batches:
    the day before the month of yesterday begins (a day before yesterday at the latest, as
    ScoringState.settled_version covers; up to a month earlier), so that what it reads
    afresh on each new batch of today's answers is that month, and on a month's first day
    the one before, as whole months' counts (the days after today hold nothing), whose rows
    stop growing with the customers, rather than customers' own rows."""
    return min(
        report_filter.date_to, (today - timedelta(days=1)).replace(day=1) - timedelta(days=1)
    )


def pair_counts_by_set(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int],
    settled_version: int | None = None,
    groups: dict[int, int] | None = None,
    values: ValueGroups | None = None,
) -> PairCounts:
    """(attribute set, touchpoint, score, outcome) -> how many customers of the sets gave that
    touchpoint score with that outcome in the filter's period: one query, the counts per set of
    the quarters, months and weeks `pair_plan` chooses (ImportancePairSetSpanCount,
    ImportancePairSetMonthCount) and the customers' RespondentScore rows of at most three days
    at each edge, each added or subtracted as its part, summed per cell.

    Its cost follows touchpoints x sets x (score, outcome) pairs per bucket, which stops growing
    with the customers once a set's buckets see most pairs (a quarter sooner than a month),
    plus at most three days of customers' rows at each edge of the period (none after today).

    `groups` (each of `set_ids` -> a group number): counted per group instead of per set, the
    sets' pairs summed in the database (a comparison's values, or a segment filter's sets all
    in one: fewer rows to read back, to hold and to cache).

    `values` (`value_slices` of `groups`): the same counts, their months read per value of one
    attribute (ImportancePairValueSpanCount) rather than per set, and costed so
    (`_VALUE_MONTH_COST`).

    `settled_version`: the part of the period up to `settled_end` is cached under it
    (`_settled_split`), per grouping (whichever way it was read)."""
    if groups is not None:  # the rows read: the sets in both (the key names them all)
        wanted = set(set_ids)
        restricted = {pk: group for pk, group in groups.items() if pk in wanted}
        if len(restricted) < len(groups):
            values = None  # the values' sets are no longer all read
        groups, set_ids = restricted, sorted(restricted)
    else:
        values = None
    if not set_ids:
        return {}

    def key(period: tuple[date, date]) -> str:
        return _pairs_key(
            organization, journey, report_filter, set_ids, settled_version or 0, period, groups
        )

    def read(plans: tuple[PairPlan | None, PairPlan | None]) -> list[tuple[Any, ...]]:
        rows = _pair_rows(organization, journey, report_filter, set_ids, plans, groups, values)
        if values is None:
            return rows
        # A set created since the caller read the sets (a batch's) may hold one of the values:
        # the months per value count it, the sets' quarters, weeks and days cannot. Then per set.
        newest = max((row[-2] or 0 for row in rows if row[0] is None), default=0)
        if newest > values[2]:
            return _pair_rows(organization, journey, report_filter, set_ids, plans, groups)
        return [row for row in rows if row[0] is not None]

    costs: Mapping[str, float] = _BUCKET_COST
    if values:
        costs = {**_BUCKET_COST, "month": _VALUE_MONTH_COST * len(values[1]) / len(set_ids)}
    return _settled_split(organization, report_filter, settled_version, key, read, costs=costs)


def _pair_totals(
    organization: Organization, journey: Journey, report_filter: ReportFilter
) -> list[tuple[int, float, float, int]]:
    """(touchpoint, score, outcome, pairs) of all customers in the filter's period, one grouped
    query: the buckets `pair_plan` chooses from ImportancePairSpanCount, the days at the edges
    from ImportancePairDayCount, each signed as its part. Its rows are bounded by the pairs of
    values a bucket can hold, whatever the number of customers."""
    plan = pair_plan(
        report_filter.date_from, report_filter.date_to, organization_today(organization)
    )
    plans: tuple[PairPlan | None, PairPlan | None] = (plan, None)
    columns = {
        "pair_tp": F("touchpoint_id"),
        "pair_score": F("score"),
        "pair_outcome": F("outcome"),
    }
    sources: list[tuple[QuerySet[Any], Conditions]] = [
        (
            ImportancePairSpanCount.objects.for_organization(organization),
            span_conditions(("week", "month", "quarter")),
        ),
        (ImportancePairDayCount.objects.for_organization(organization), {"days": day_condition}),
    ]
    parts = [
        rows.annotate(**columns, **_plan_weights(plans, conditions, F("count")))
        for rows, conditions in plan_parts(
            plans, sources, journey=journey, **_questionnaire(report_filter)
        )
    ]
    rows = read_union(
        parts,
        (*columns, "pair_settled"),
        "SELECT pair_tp, pair_score, pair_outcome, SUM(pair_settled) "
        "FROM ({union}) pairs GROUP BY 1, 2, 3",
    )
    return [row for row in rows if row[3]]


def scoring_version(*, organization: Organization, journey: Journey) -> int:
    return (
        ScoringState.objects.for_organization(organization)
        .filter(journey=journey)
        .values_list("version", flat=True)
        .first()
    ) or 0


def importance_cache_key(
    organization: Organization, journey: Journey, report_filter: ReportFilter, version: int
) -> str:
    return (
        f"scoring:importance:v1:{organization.pk}:{journey.pk}:{version}:{report_filter.digest()}"
    )


def derived_importance(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    set_ids: list[int] | None,
    version: int | None = None,
    settled_version: int | None = None,
    groups: dict[int, int] | None = None,
    sets: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[int, tuple[float | None, int]]:
    """Touchpoint -> (Spearman rho, pairs) of customers' touchpoint score against their outcome
    answer under the filter (SCORING.md section 6). `version`: the journey's scoring version
    when the caller has read it already (else one query more).

    One grouped query by (touchpoint, score, outcome): the pairs arrive as counts of distinct
    values, ready for ranking. Without a segment filter it reads their counts over the sets
    (`_pair_totals`), whose size does not grow with the customers; a segment filter reads
    those of its sets (`pair_counts_by_set`), summed over the sets in the database (a few
    hundred cells a touchpoint, where the sets' own ran to tens of thousands at 10M answers).
    `groups` (each of `set_ids` -> a group): summed per group there instead, then here, as a
    comparison on the same page groups them (`comparison.compared_groups`), whose read then
    comes from the settled pairs this one has cached. `sets` (the organisation's attribute
    sets, id -> values): given, a filter on one attribute reads its months from that
    attribute's pairs per value (`value_slices`). Cached until the journey's
    ScoringState version changes, that is until new data arrives.
    """
    if version is None:
        version = scoring_version(organization=organization, journey=journey)
    key = importance_cache_key(organization, journey, report_filter, version)
    cached = cache.get(key)
    if cached is not None:
        return {int(tp): (rho, int(n)) for tp, rho, n in cached}
    if set_ids is None:
        rows = _pair_totals(organization, journey, report_filter)
    else:
        if groups is None or set(groups) != set(set_ids):
            groups = dict.fromkeys(set_ids, 0)
        values = None
        if sets is not None and len(report_filter.attributes) == 1:
            values = value_slices(sets, groups, next(iter(report_filter.attributes)))
        rows = [
            (tp_id, score, outcome, pairs)
            for (_group, tp_id, score, outcome), pairs in pair_counts_by_set(
                organization=organization,
                journey=journey,
                report_filter=report_filter,
                set_ids=set_ids,
                settled_version=settled_version,
                groups=groups,
                values=values,
            ).items()
        ]
    tables: dict[int, dict[tuple[float, float], int]] = defaultdict(lambda: defaultdict(int))
    for tp_id, score, outcome, pairs in rows:
        tables[tp_id][(float(score), float(outcome))] += int(pairs)
    result = {tp_id: spearman_from_counts(table) for tp_id, table in tables.items()}
    cache.set(
        key,
        [(tp, rho, n) for tp, (rho, n) in sorted(result.items())],
        IMPORTANCE_CACHE_SECONDS,
    )
    return result


# --- employee figures: whole staff blocks, atoms no difference can split ---------------------


def _add_counts(a: ValueCounts, b: ValueCounts) -> ValueCounts:
    counts = dict(a.counts)
    for point, count in b.counts.items():
        counts[point] = counts.get(point, 0) + count
    return ValueCounts(counts=counts)


MOMENTS = anonymity.Summer[Moments](n=lambda m: m.n, add=lambda a, b: a + b, zero=Moments)
COUNTS = anonymity.Summer[ValueCounts](
    n=lambda c: sum(c.counts.values()), add=_add_counts, zero=ValueCounts
)


@dataclass(frozen=True)
class StaffData:
    """A journey's employee answers per (questionnaire, attribute set, month), all of its
    history, and the atoms they are partitioned into (apps.scoring.anonymity). Every employee
    figure a report, a comparison, a series or an export shows is released through it."""

    version: int  # the journey's ScoringState version it was read at (0 before any data)
    partition: anonymity.StaffPartition
    set_values: dict[int, dict[str, Any]]
    touchpoints: dict[anonymity.UnitMonth, dict[int, Moments]]
    items: dict[anonymity.UnitMonth, dict[str, ValueCounts]]
    # Each unit-month's atom (`partition.atom`), computed once per version and cached with the
    # rest: a request then only sums the unit-months of its window.
    atoms: dict[anonymity.UnitMonth, Hashable] = field(default_factory=dict)
    # The journey's ScoringState settled_version read with `version`.
    settled_version: int = 0

    def window(self, report_filter: ReportFilter) -> tuple[date, date]:
        return self.partition.window(report_filter.date_from, report_filter.date_to)

    def selector(self, report_filter: ReportFilter) -> Callable[[int, int], bool]:
        def selected(questionnaire_id: int, set_id: int) -> bool:
            if report_filter.questionnaire_id not in (None, questionnaire_id):
                return False
            return report_filter.matches(self.set_values.get(set_id) or {})

        return selected

    def touchpoint_cells(
        self,
        report_filter: ReportFilter,
        touchpoint_ids: Iterable[int],
        window: tuple[date, date] | None = None,
    ) -> tuple[dict[int, Moments], dict[int, anonymity.WithheldReason]]:
        return anonymity.release(
            partition=self.partition,
            window=window or self.window(report_filter),
            selected=self.selector(report_filter),
            unit_cells=self.touchpoints,
            summer=MOMENTS,
            cells=touchpoint_ids,
            atoms=self.atoms,
        )

    def item_cells(
        self, report_filter: ReportFilter, keys: Iterable[str]
    ) -> tuple[dict[str, ValueCounts], dict[str, anonymity.WithheldReason]]:
        wanted = set(keys)
        return anonymity.release(
            partition=self.partition,
            window=self.window(report_filter),
            selected=self.selector(report_filter),
            unit_cells=self.items,
            summer=COUNTS,
            cells=wanted,
            atoms=self.atoms,
            only=wanted,
        )

    def report_cells(
        self, report_filter: ReportFilter, touchpoint_ids: Iterable[int], keys: Iterable[str]
    ) -> tuple[
        dict[tuple[int, str], Moments],
        dict[tuple[str, str], ValueCounts],
        dict[tuple[str, object], str],
    ]:
        """The employee cells of a gap report under the filter, as GapReportInput takes them:
        touchpoint cells, item cells, and the withheld ones with their reason."""
        moments, withheld_tps = self.touchpoint_cells(report_filter, touchpoint_ids)
        counts, withheld_items = self.item_cells(report_filter, keys)
        withheld: dict[tuple[str, object], str] = {
            ("touchpoint", tp_id): reason for tp_id, reason in withheld_tps.items()
        }
        withheld.update({("item", key): reason for key, reason in withheld_items.items()})
        return (
            {(tp_id, "employee"): m for tp_id, m in moments.items()},
            {(key, "employee"): c for key, c in counts.items()},
            withheld,
        )


def staff_data(
    *,
    organization: Organization,
    journey: Journey,
    state: JourneyState | None = None,
) -> StaffData:
    """The journey's employee units and their atoms (`StaffData`), cached until the journey's
    ScoringState changes, that is until new data arrives: one query when cached (the state),
    two after new data (`_staff_data_read`). `state`: the journey's (version, time as text),
    `journey_state`, when the caller has read it already (then one query less)."""
    if state is None:
        state = journey_state(organization=organization, journey=journey)
    version, updated_at, settled_version = state
    # The state's time too: ids (and so versions) are reused after a rolled-back transaction.
    key = (
        f"scoring:staff:v3:{organization.pk}:{journey.pk}:{version}:"
        f"{(updated_at or '-').replace(' ', 'T')}:{organization.employee_anonymity_min}"
    )
    cached = cache.get(key)
    if isinstance(cached, StaffData):
        return cached
    staff = _staff_data_read(
        organization=organization,
        journey=journey,
        version=version,
        settled_version=settled_version,
    )
    cache.set(key, staff, IMPORTANCE_CACHE_SECONDS)
    return staff


def state_text() -> Concat:
    """The state's time and settled version as one text column ("<time>|<settled>"), so that
    the state rides along in another query's (version, text) columns (`segment_choices`)."""
    return Concat(
        Cast("updated_at", output_field=CharField()),
        Value("|"),
        Cast("settled_version", output_field=CharField()),
        output_field=CharField(),
    )


def state_of(version: Any, text: str | None) -> JourneyState:
    if text is None:
        return NO_STATE
    updated_at, _bar, settled = text.rpartition("|")
    return int(version), updated_at, int(settled)


def journey_state(*, organization: Organization, journey: Journey) -> JourneyState:
    """The journey's ScoringState version, time (as the database writes it as text) and
    settled version, or (0, None, 0) before any data: what `staff_data`'s cache key is made
    of."""
    state = (
        ScoringState.objects.for_organization(organization)
        .filter(journey=journey)
        .values_list("version", state_text())
        .first()
    )
    return state_of(*state) if state else NO_STATE


def _staff_data_read(
    *, organization: Organization, journey: Journey, version: int, settled_version: int = 0
) -> StaffData:
    """The journey's employee aggregates per questionnaire, attribute set and month, touchpoint
    moments and item counts together: one query (a union of the two per-set tables, employees
    only, grouped by month), whose size grows with the employee units and months, not with the
    customers. The partition reads the whole history: atoms must not depend on the period."""
    zero = Value(0, output_field=IntegerField())
    nothing = Value(0.0, output_field=FloatField())

    def employee_rows(model: Any) -> QuerySet[Any]:
        return (
            model.objects.for_organization(organization)
            .filter(journey=journey, audience="employee")
            .order_by()
            .annotate(month=TruncMonth("day", output_field=DateField()))
        )

    touchpoint_rows = (
        employee_rows(TouchpointDayAggregate)
        .values_list(
            "questionnaire_id",
            "attribute_set_id",
            "attribute_set__values",
            "month",
            "touchpoint_id",
            Value("", output_field=CharField()),
            zero,
            zero,
            zero,
        )
        .annotate(answers=Sum("n"), total=Sum("total"), total_sq=Sum("total_sq"))
    )
    item_rows = (
        employee_rows(ItemDayCount)
        .values_list(
            "questionnaire_id",
            "attribute_set_id",
            "attribute_set__values",
            "month",
            zero,
            "item_key",
            "scale_lo",
            "scale_hi",
            "value",
        )
        .annotate(answers=Sum("count"), total=nothing, total_sq=nothing)
    )
    set_values: dict[int, dict[str, Any]] = {}
    touchpoints: dict[anonymity.UnitMonth, dict[int, Moments]] = defaultdict(dict)
    items: dict[anonymity.UnitMonth, dict[str, dict[tuple[int, int, int], int]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    cell_counts: dict[anonymity.UnitMonth, dict[Any, int]] = defaultdict(dict)
    for row in touchpoint_rows.union(item_rows, all=True):
        q_id, set_id, values, month, tp_id, key, lo, hi, value, answers, total, total_sq = row
        if isinstance(month, datetime):
            month = month.date()
        unit = (int(q_id), int(set_id), month)
        if isinstance(values, str):
            values = json.loads(values)
        set_values[int(set_id)] = values or {}
        if not answers:
            continue
        if key:
            items[unit][key][(lo, hi, value)] = int(answers)
            cell = ("item", key)
            cell_counts[unit][cell] = cell_counts[unit].get(cell, 0) + int(answers)
        else:
            touchpoints[unit][tp_id] = Moments(
                int(answers), float(total or 0), float(total_sq or 0)
            )
            cell_counts[unit][("touchpoint", tp_id)] = int(answers)
    partition = anonymity.build_partition(
        k=organization.employee_anonymity_min, unit_cells=cell_counts, set_values=set_values
    )
    return StaffData(
        version=version,
        settled_version=settled_version,
        partition=partition,
        atoms={unit: partition.atom(unit) for unit in (*touchpoints, *items)},
        set_values=set_values,
        touchpoints=dict(touchpoints),
        items={
            unit: {key: ValueCounts(counts=dict(c)) for key, c in cells.items()}
            for unit, cells in items.items()
        },
    )


# --- the gap report -------------------------------------------------------------------------


def gap_report_input(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    with_trend: bool = False,
    known_sets: dict[int, dict[str, Any]] | None = None,
    staff: StaffData | None = None,
    importance_groups: dict[int, int] | None = None,
) -> GapReportInput:
    shape = journey_shape(
        organization=organization, journey=journey, questionnaire_id=report_filter.questionnaire_id
    )
    if staff is None:
        staff = staff_data(organization=organization, journey=journey)
    if known_sets is None and report_filter.attributes:  # as `attribute_set_ids` would read
        known_sets = dict(
            AttributeSet.objects.for_organization(organization).values_list("pk", "values")
        )
    set_ids = attribute_set_ids(
        organization=organization, report_filter=report_filter, known_sets=known_sets
    )
    item_cells = customer_item_cells(
        organization, journey, report_filter, set_ids, shape.item_keys, staff.settled_version
    )
    touchpoint_cells, previous = _touchpoint_cells(
        organization, journey, report_filter, set_ids, with_previous=with_trend
    )
    importance = derived_importance(
        organization=organization,
        journey=journey,
        report_filter=report_filter,
        set_ids=set_ids,
        version=staff.version,
        settled_version=staff.settled_version,
        groups=importance_groups,
        sets=known_sets,
    )
    staff_touchpoints, staff_items, withheld = staff.report_cells(
        report_filter, [tp.id for tp in shape.touchpoints], shape.item_keys
    )
    item_cells.update(staff_items)
    touchpoint_cells.update(staff_touchpoints)
    employee_from, employee_to = staff.window(report_filter)
    return GapReportInput(
        settings=scoring_settings(organization),
        touchpoints=shape.touchpoints,
        items=shape.items,
        item_cells=item_cells,
        touchpoint_cells=touchpoint_cells,
        derived_importance=importance,
        previous_touchpoint_cells=previous,
        employee_withheld=withheld,
        employee_from=employee_from,
        employee_to=employee_to,
    )


def gap_report(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    with_trend: bool = False,
    known_sets: dict[int, dict[str, Any]] | None = None,
    staff: StaffData | None = None,
    importance_groups: dict[int, int] | None = None,
) -> GapReport:
    """The gap report of SCORING.md for a journey under a filter, from the aggregates:
    five queries (the journey's shape, `staff_data` with the scoring version, customers' item
    counts and moments; six with segment attributes unless `known_sets` holds every attribute
    set of the organisation, see `attribute_set_ids`; four when the caller passes `staff`), one
    more when importance is not cached. Employee figures follow the differencing rule
    (apps.scoring.anonymity). `importance_groups`: see `derived_importance`'s `groups`."""
    return build_gap_report(
        gap_report_input(
            organization=organization,
            journey=journey,
            report_filter=report_filter,
            with_trend=with_trend,
            known_sets=known_sets,
            staff=staff,
            importance_groups=importance_groups,
        )
    )


# --- touchpoint series ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesPoint:
    period_start: date
    period_end: date  # last day, included (clipped to the filter's period)
    customer: CellStats
    employee: CellStats  # suppressed under the anonymity threshold


def period_start(day: date, interval: Interval) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_period(start: date, interval: Interval) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def touchpoint_series(
    *,
    organization: Organization,
    journey: Journey,
    touchpoint: Touchpoint,
    report_filter: ReportFilter,
    interval: Interval = "week",
    staff: StaffData | None = None,
) -> list[SeriesPoint]:
    """The touchpoint's customer and employee score per day, week (from Monday) or month over
    the filter's period, every period present (empty ones with n = 0): two queries.

    Employee figures follow the differencing rule (apps.scoring.anonymity): a point shows them
    only when its period is a whole month made of whole staff blocks (they then cover that
    whole month, past the filter's edges); days, weeks and months inside a longer block are
    withheld ("period")."""
    set_ids = attribute_set_ids(organization=organization, report_filter=report_filter)
    rows = (
        _under_filter(
            _touchpoint_moments(organization, set_ids),
            journey=journey,
            report_filter=report_filter,
            set_ids=set_ids,
        )
        .filter(touchpoint=touchpoint, audience="customer")
        .values_list("day", "audience")
        .annotate(n=Sum("n"), total=Sum("total"), total_sq=Sum("total_sq"))
    )
    cells: dict[tuple[date, str], Moments] = defaultdict(Moments)
    for day, audience, n, total, total_sq in rows:
        cells[(period_start(day, interval), audience)] += Moments(
            int(n or 0), float(total or 0), float(total_sq or 0)
        )
    settings = scoring_settings(organization)
    if staff is None:
        staff = staff_data(organization=organization, journey=journey)
    points = []
    start = period_start(report_filter.date_from, interval)
    while start <= report_filter.date_to:
        following = _next_period(start, interval)
        employee = arithmetic.suppressed_cell(anonymity.PERIOD)
        month = (start, following - timedelta(days=1))
        if interval == "month" and staff.partition.aligned(*month):
            released, withheld = staff.touchpoint_cells(report_filter, [touchpoint.pk], month)
            employee = arithmetic.employee_cell_stats(
                released.get(touchpoint.pk, Moments()),
                settings,
                withheld=withheld.get(touchpoint.pk, ""),
            )
        points.append(
            SeriesPoint(
                period_start=start,
                period_end=min(following - timedelta(days=1), report_filter.date_to),
                customer=arithmetic.cell_stats(cells.get((start, "customer"), Moments())),
                employee=employee,
            )
        )
        start = following
    return points


# --- NPS --------------------------------------------------------------------------------------


def nps_summary(
    *, organization: Organization, journey: Journey, report_filter: ReportFilter
) -> OutcomeRow | None:
    """Customers' NPS with its promoter/passive/detractor split, and the employees' estimate
    (withheld under the anonymity threshold); None when the journey asks no NPS. The same
    figures as the gap report's nps outcome row, from one grouped query."""
    shape = journey_shape(
        organization=organization, journey=journey, questionnaire_id=report_filter.questionnaire_id
    )
    nps_items = [item for item in shape.items if item.key == "nps"]
    if not nps_items:
        return None
    set_ids = attribute_set_ids(organization=organization, report_filter=report_filter)
    staff = staff_data(organization=organization, journey=journey)
    _tps, staff_items, withheld = staff.report_cells(report_filter, [], ["nps"])
    employee_from, employee_to = staff.window(report_filter)
    report = build_gap_report(
        GapReportInput(
            settings=scoring_settings(organization),
            touchpoints=[],
            items=nps_items,
            item_cells={
                **customer_item_cells(
                    organization, journey, report_filter, set_ids, ["nps"], staff.settled_version
                ),
                **staff_items,
            },
            touchpoint_cells={},
            derived_importance={},
            employee_withheld=withheld,
            employee_from=employee_from,
            employee_to=employee_to,
        )
    )
    return report.outcomes[0]


# --- what a filter may choose from -----------------------------------------------------------


def attribute_names(*, organization: Organization) -> set[str]:
    """Names of the segment attributes responses of the organisation carried."""
    names: set[str] = set()
    for values in AttributeSet.objects.for_organization(organization).values_list(
        "values", flat=True
    ):
        names.update(values or {})
    return names


def attribute_values(*, organization: Organization, journey: Journey) -> dict[str, list[str]]:
    """Segment attribute name -> its values, sorted: those stored responses carried and those
    the journey's questionnaires allow on their links (two queries)."""
    from apps.distribution.models import ContextAttribute

    found: dict[str, set[str]] = defaultdict(set)
    for values in AttributeSet.objects.for_organization(organization).values_list(
        "values", flat=True
    ):
        for name, value in (values or {}).items():
            found[name].add(str(value))
    for name, allowed in (
        ContextAttribute.objects.for_organization(organization)
        .filter(questionnaire__journey=journey)
        .values_list("name", "allowed_values")
    ):
        found[name].update(str(value) for value in allowed or [])
    return {name: sorted(values) for name, values in sorted(found.items())}


def journey_questionnaires(*, organization: Organization, journey: Journey) -> list[Questionnaire]:
    """The journey's questionnaires a report may be narrowed to, oldest first."""
    return list(
        survey_selectors.questionnaires_for_journey(
            organization=organization, journey=journey
        ).order_by("created_at", "id")
    )


# --- staff calibration ----------------------------------------------------------------------


def staff_calibration(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    attribute: str,
) -> list[UnitCalibration]:
    """Per employee unit (each value of `attribute` among the employees' attribute sets): the
    mean absolute gap between the unit's touchpoint estimates and customers' scores.

    Customers rarely carry an employee unit attribute, so the customer side is every customer
    under the filter without that attribute. Units under the anonymity threshold, and units
    whose figures would let a difference single out fewer employees, are withheld
    (`unit_cells`, build_calibration). Four queries.
    """
    sets = dict(AttributeSet.objects.for_organization(organization).values_list("pk", "values"))
    shape = journey_shape(
        organization=organization, journey=journey, questionnaire_id=report_filter.questionnaire_id
    )

    def matching(flt: ReportFilter) -> list[int] | None:
        if not flt.attributes:
            return None
        return [pk for pk, values in sets.items() if flt.matches(values or {})]

    customer_filter = report_filter.without(attribute)
    customer_set_ids = matching(customer_filter)
    customer_rows = (
        _under_filter(
            _touchpoint_moments(organization, customer_set_ids),
            journey=journey,
            report_filter=customer_filter,
            set_ids=customer_set_ids,
        )
        .filter(audience="customer")
        .values_list("touchpoint_id")
        .annotate(n=Sum("n"), total=Sum("total"), total_sq=Sum("total_sq"))
    )
    customer_cells = {
        tp_id: Moments(int(n or 0), float(total or 0), float(total_sq or 0))
        for tp_id, n, total, total_sq in customer_rows
    }
    staff = staff_data(organization=organization, journey=journey)
    return build_calibration(
        scoring_settings(organization),
        shape.touchpoints,
        customer_cells,
        unit_cells(staff, report_filter, attribute, [tp.id for tp in shape.touchpoints]),
    )


def unit_cells(
    staff: StaffData, report_filter: ReportFilter, attribute: str, touchpoint_ids: list[int]
) -> dict[str, dict[int, Moments]]:
    """Per value of `attribute` among the employees' attribute sets: the unit's touchpoint
    moments under the filter narrowed to it, each released by the differencing rule (a unit
    whose cells are all withheld comes out empty, hence withheld)."""
    units = sorted(
        {str(values[attribute]) for values in staff.set_values.values() if attribute in values}
    )
    if attribute in report_filter.attributes:
        units = [unit for unit in units if unit in report_filter.attributes[attribute]]
    first, last = staff.window(report_filter)
    others = staff.selector(report_filter.without(attribute))
    answered = {
        str(staff.set_values[set_id][attribute])
        for (q_id, set_id, month), by_tp in staff.touchpoints.items()
        if first <= month <= last
        and attribute in staff.set_values.get(set_id, {})
        and others(q_id, set_id)
        and any(m.n for m in by_tp.values())
    }
    cells = {}
    for unit in (u for u in units if u in answered):
        narrowed = ReportFilter(
            date_from=report_filter.date_from,
            date_to=report_filter.date_to,
            attributes={**report_filter.attributes, attribute: [unit]},
            questionnaire_id=report_filter.questionnaire_id,
        )
        cells[unit], _withheld = staff.touchpoint_cells(narrowed, touchpoint_ids)
    return cells

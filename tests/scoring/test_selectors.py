"""Result selectors: figures read from the aggregates equal figures computed from the raw answers,
in a fixed, small number of queries that never touch the answers; report filters."""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import fmean, variance

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import stats

from apps.core.errors import ValidationFailed
from apps.distribution.services import context_attribute_set
from apps.responses.models import Answer, Response
from apps.scoring import selectors
from apps.scoring.arithmetic import spearman
from apps.scoring.filters import ReportFilter, report_filter_parse
from apps.scoring.models import (
    AttributeSet,
    ImportancePairDayCount,
    ImportancePairSetMonthCount,
    ImportancePairSetSpanCount,
    ImportancePairSpanCount,
    ImportancePairValueSpanCount,
    ItemSpanCount,
    RespondentScore,
    TouchpointSpanAggregate,
)
from apps.scoring.services import responses_process
from apps.surveys.services import questionnaire_generate, questionnaire_publish
from tests.factories import JourneyFactory, StageFactory, TouchpointFactory
from tests.journeys.helpers import principal
from tests.scoring.conftest import NA, ResponseRow, ResponseStore

pytestmark = pytest.mark.django_db

DIMENSIONS = ("effectiveness", "ease", "emotion")
PERIOD = ReportFilter(date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))
PREVIOUS_DAY = date(2025, 12, 15)  # inside the 90 days before PERIOD
LATER_DAY = date(2026, 4, 10)  # after PERIOD


@pytest.fixture(autouse=True)
def _empty_cache():
    """Derived importance is cached by ids and version; SQLite reuses ids after a rollback."""
    cache.clear()
    yield
    cache.clear()


# --- a small dataset, stored as responses and processed by the pipeline -----------------------


@dataclass
class Respondent:
    audience: str
    day: date
    segment: dict[str, str]
    answers: dict[str, int | None] = field(default_factory=dict)  # key -> value, None = n/a


@dataclass
class Dataset:
    org: object
    journey: object
    questionnaire: object
    touchpoints: list  # in journey order: blind spot, hidden strength, aligned
    respondents: list[Respondent]


def make_journey(org, analyst, touchpoints: int = 3):
    journey = JourneyFactory(organization=org)
    first = StageFactory(journey=journey, name="Buy", position=0)
    second = StageFactory(journey=journey, name="Use", position=1)
    tps = [
        TouchpointFactory(stage=first if i < 2 else second, name=f"TP{i}", position=i)
        for i in range(touchpoints)
    ]
    actor = principal(org, analyst)
    questionnaire = questionnaire_generate(organization=org, actor=actor, journey=journey)
    questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    return journey, tps, questionnaire


def store(org, questionnaire, respondents: list[Respondent]) -> None:
    """Write responses and answers as respondents would, then run the pipeline's batches."""
    ResponseStore(questionnaire).add_many(
        ResponseRow(r.audience, {k: NA if v is None else v for k, v in r.answers.items()},
                    r.segment, r.day)
        for r in respondents
    )  # fmt: skip
    while responses_process(organization_id=org.pk, limit=1000):
        pass


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def _rating(rng: random.Random, mean: float) -> int:
    return max(1, min(5, round(rng.gauss(mean, 0.9))))


# Mean raw rating (1-5) per touchpoint: customers, employees. TP0 is a blind spot (staff think
# it much better), TP1 a hidden strength, TP2 aligned.
PROFILE = [(2.3, 4.3), (4.2, 2.6), (3.5, 3.5)]


def generate(tps, rng: random.Random) -> list[Respondent]:
    respondents = []
    stores = ["Helsinki", "Tampere", "Turku"]

    def customer(day: date) -> Respondent:
        store_name = rng.choice(stores)
        segment = {"store": store_name, "region": "west" if store_name == "Tampere" else "south"}
        r = Respondent("customer", day, segment)
        scores = []
        for tp, (mean, _) in zip(tps, PROFILE, strict=True):
            values = []
            for dim in DIMENSIONS:
                value = None if rng.random() < 0.1 else _rating(rng, mean)
                r.answers[f"tp:{tp.pk}:{dim}"] = value
                if value is not None:
                    values.append(value)
            if values:
                scores.append(fmean(values))
        base = fmean(scores) if scores else 3
        r.answers["nps"] = max(0, min(10, round((base - 1) * 2.5 + rng.gauss(0, 1.5))))
        r.answers["overall"] = _rating(rng, base)
        return r

    for _ in range(80):
        respondents.append(customer(PERIOD.date_from + timedelta(days=rng.randrange(90))))
    for _ in range(40):
        respondents.append(customer(PREVIOUS_DAY + timedelta(days=rng.randrange(5))))
    for _ in range(5):
        respondents.append(customer(LATER_DAY))
    teams = ["logistics"] * 3 + ["service"] * 12 + ["sales"] * 15
    for index, team in enumerate(teams):
        day = PERIOD.date_from + timedelta(days=(index * 7) % 90)
        r = Respondent("employee", day, {"team": team})
        for tp, (_, mean) in zip(tps, PROFILE, strict=True):
            for dim in DIMENSIONS:
                r.answers[f"tp:{tp.pk}:{dim}"] = _rating(rng, mean)
        r.answers["nps"] = max(0, min(10, round(rng.gauss(8, 1.5))))
        r.answers["overall"] = _rating(rng, 4)
        respondents.append(r)
    return respondents


@pytest.fixture
def data(org, analyst) -> Dataset:
    journey, tps, questionnaire = make_journey(org, analyst)
    respondents = generate(tps, seeded(7))
    store(org, questionnaire, respondents)
    return Dataset(org, journey, questionnaire, tps, respondents)


# --- the same figures straight from the raw answers -------------------------------------------


def normalised(value: int, lo: int = 1, hi: int = 5) -> float:
    return 100 * (value - lo) / (hi - lo)


def chosen(respondents, flt: ReportFilter, audience: str) -> list[Respondent]:
    return [
        r
        for r in respondents
        if r.audience == audience
        and flt.date_from <= r.day <= flt.date_to
        and all(r.segment.get(k) in v for k, v in flt.attributes.items())
    ]


def raw_item(respondents, flt, audience, key) -> list[float]:
    scale = (0, 10) if key == "nps" else (1, 5)
    return [
        normalised(r.answers[key], *scale)
        for r in chosen(respondents, flt, audience)
        if r.answers.get(key) is not None
    ]


def raw_touchpoint(respondents, flt, audience, tp_id) -> list[float]:
    scores = []
    for r in chosen(respondents, flt, audience):
        values = [r.answers.get(f"tp:{tp_id}:{d}") for d in DIMENSIONS]
        values = [normalised(v) for v in values if v is not None]
        if values:
            scores.append(fmean(values))
    return scores


def assert_cell(cell, values: list[float]) -> None:
    assert not cell.suppressed
    assert cell.n == len(values)
    assert cell.mean == pytest.approx(fmean(values), abs=1e-9)
    assert cell.variance == pytest.approx(variance(values), abs=1e-9)


# --- the gap report ---------------------------------------------------------------------------


def test_gap_report_equals_figures_from_the_raw_answers(data):
    report = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=PERIOD)

    assert [row.touchpoint_id for row in report.touchpoints] == [tp.pk for tp in data.touchpoints]
    assert [row.stage_name for row in report.touchpoints] == ["Buy", "Buy", "Use"]
    for row, tp in zip(report.touchpoints, data.touchpoints, strict=True):
        customer = raw_touchpoint(data.respondents, PERIOD, "customer", tp.pk)
        employee = raw_touchpoint(data.respondents, PERIOD, "employee", tp.pk)
        assert_cell(row.customer, customer)
        assert_cell(row.employee, employee)
        assert row.gap.gap == pytest.approx(fmean(employee) - fmean(customer), abs=1e-9)
        welch = stats.ttest_ind(employee, customer, equal_var=False)
        assert row.gap.p_value == pytest.approx(welch.pvalue, rel=1e-6, abs=1e-12)
        assert [d.dimension for d in row.dimensions] == list(DIMENSIONS)
        for dimension in row.dimensions:
            assert_cell(
                dimension.customer,
                raw_item(data.respondents, PERIOD, "customer", dimension.item_key),
            )
            assert_cell(
                dimension.employee,
                raw_item(data.respondents, PERIOD, "employee", dimension.item_key),
            )
            answers = [
                r.answers[dimension.item_key]
                for r in chosen(data.respondents, PERIOD, "customer")
                if r.answers.get(dimension.item_key) is not None
            ]
            assert dimension.customer.distribution == {v: answers.count(v) for v in range(1, 6)}
    kinds = [row.gap.classification for row in report.touchpoints]
    assert kinds == ["blind_spot", "hidden_strength", "aligned"]
    assert report.suppressed_cells == 0

    nps = next(o for o in report.outcomes if o.item_key == "nps")
    raw = [r.answers["nps"] for r in chosen(data.respondents, PERIOD, "customer")]
    promoters = sum(v >= 9 for v in raw)
    detractors = sum(v <= 6 for v in raw)
    assert (nps.customer_nps.promoters, nps.customer_nps.detractors) == (promoters, detractors)
    assert nps.customer_nps.nps == pytest.approx(100 * (promoters - detractors) / len(raw))
    assert [o.item_key for o in report.outcomes] == ["nps", "overall"]


def _sql(queries) -> str:
    return "\n".join(q["sql"] for q in queries)


def test_gap_report_reads_a_fixed_number_of_queries_and_never_the_answers(data):
    with CaptureQueriesContext(connection) as cold:
        selectors.gap_report(organization=data.org, journey=data.journey, report_filter=PERIOD)
    # items, touchpoints, scoring state and employee units (staff_data, cached until new data
    # arrives), item counts, touchpoint moments, respondent scores
    assert len(cold) == 7
    with CaptureQueriesContext(connection) as warm:
        selectors.gap_report(organization=data.org, journey=data.journey, report_filter=PERIOD)
    assert len(warm) == 5  # importance and the employee units from the cache
    segmented = ReportFilter(PERIOD.date_from, PERIOD.date_to, {"store": ["Helsinki"]})
    with CaptureQueriesContext(connection) as filtered:
        selectors.gap_report(
            organization=data.org, journey=data.journey, report_filter=segmented, with_trend=True
        )
    # + the attribute sets and this filter's importance pairs; the trend shares the moments'
    # query
    assert len(filtered) == 7
    # A period without moments: the warm reads and its importance pairs.
    empty = ReportFilter(
        PERIOD.date_from - timedelta(days=400), PERIOD.date_from - timedelta(days=300)
    )
    with CaptureQueriesContext(connection) as nothing:
        selectors.gap_report(organization=data.org, journey=data.journey, report_filter=empty)
    assert len(nothing) == 6
    for queries in (cold, warm, filtered, nothing):
        assert Answer._meta.db_table not in _sql(queries)
        assert Response._meta.db_table not in _sql(queries)


def test_segments_are_or_within_an_attribute_and_and_across(data):
    flt = ReportFilter(
        PERIOD.date_from, PERIOD.date_to, {"store": ["Helsinki", "Tampere"], "region": ["south"]}
    )
    report = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=flt)
    for row, tp in zip(report.touchpoints, data.touchpoints, strict=True):
        customers = raw_touchpoint(data.respondents, flt, "customer", tp.pk)
        assert {r.segment["store"] for r in chosen(data.respondents, flt, "customer")} == {
            "Helsinki"
        }
        assert_cell(row.customer, customers)
        # No employee carries a store: the segment narrows them to none, withheld, not zero.
        assert row.employee.suppressed and row.employee.n is None
        assert row.gap.classification == "insufficient_data"
    assert report.suppressed_cells > 0


def test_a_segment_narrowing_employees_under_the_threshold_withholds_them(data):
    flt = ReportFilter(PERIOD.date_from, PERIOD.date_to, {"team": ["logistics"]})  # 3 people
    report = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=flt)
    cells = [row.employee for row in report.touchpoints] + [
        d.employee for row in report.touchpoints for d in row.dimensions
    ]
    assert all(c.suppressed and c.n is None and c.mean is None for c in cells)
    nps = next(o for o in report.outcomes if o.item_key == "nps")
    assert nps.employee_nps.suppressed and nps.employee_nps.nps is None
    assert report.journey_cx_employee is None


def test_days_outside_the_period_do_not_count(data):
    late = ReportFilter(LATER_DAY, LATER_DAY)
    report = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=late)
    assert report.touchpoints[2].customer.n == len(
        raw_touchpoint(data.respondents, late, "customer", data.touchpoints[2].pk)
    )
    assert 0 < report.touchpoints[2].customer.n <= 5


def test_questionnaire_filter(data, org, analyst):
    actor = principal(org, analyst)
    second = questionnaire_generate(organization=org, actor=actor, journey=data.journey)
    questionnaire_publish(organization=org, actor=actor, questionnaire=second)
    second.refresh_from_db()
    tp = data.touchpoints[0]
    extra = [
        Respondent("customer", PERIOD.date_from, {}, {f"tp:{tp.pk}:ease": 5}) for _ in range(4)
    ]
    store(org, second, extra)
    everyone = selectors.gap_report(organization=org, journey=data.journey, report_filter=PERIOD)
    first_only = ReportFilter(
        PERIOD.date_from, PERIOD.date_to, questionnaire_id=data.questionnaire.pk
    )
    only = selectors.gap_report(organization=org, journey=data.journey, report_filter=first_only)
    assert everyone.touchpoints[0].customer.n == only.touchpoints[0].customer.n + 4
    assert only.touchpoints[0].customer.n == len(
        raw_touchpoint(data.respondents, PERIOD, "customer", tp.pk)
    )


def test_trend_compares_with_the_previous_period_of_equal_length(data):
    report = selectors.gap_report(
        organization=data.org, journey=data.journey, report_filter=PERIOD, with_trend=True
    )
    previous = PERIOD.previous()
    assert previous.date_to == date(2025, 12, 31) and previous.days == PERIOD.days
    for row, tp in zip(report.touchpoints, data.touchpoints, strict=True):
        now = raw_touchpoint(data.respondents, PERIOD, "customer", tp.pk)
        before = raw_touchpoint(data.respondents, previous, "customer", tp.pk)
        assert row.trend.change == pytest.approx(fmean(now) - fmean(before), abs=1e-9)
    plain = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=PERIOD)
    assert plain.touchpoints[0].trend is None


@pytest.mark.parametrize(
    "period",
    [
        PERIOD,  # a quarter: its previous period the quarter before
        ReportFilter(date(2026, 1, 20), date(2026, 3, 10)),  # weeks and days at both edges
        ReportFilter(date(2025, 12, 9), date(2026, 2, 26)),  # across the new year
    ],
)
def test_a_segment_filters_touchpoints_and_trend_equal_its_customers_answers(data, period):
    """Under a segment filter the moments of both periods come from the sets' weeks, months
    and quarters and the days at the edges: every customer of the segment counted once, in
    the right period."""
    flt = ReportFilter(period.date_from, period.date_to, {"region": ["south"]})
    report = selectors.gap_report(
        organization=data.org, journey=data.journey, report_filter=flt, with_trend=True
    )
    previous = flt.previous()
    for row, tp in zip(report.touchpoints, data.touchpoints, strict=True):
        now = raw_touchpoint(data.respondents, flt, "customer", tp.pk)
        before = raw_touchpoint(data.respondents, previous, "customer", tp.pk)
        assert row.customer.n == len(now) and now, tp.name
        assert row.customer.mean == pytest.approx(fmean(now), abs=1e-9)
        if before:
            assert row.trend.change == pytest.approx(fmean(now) - fmean(before), abs=1e-9)
        else:
            assert row.trend is None or row.trend.change is None


# --- derived importance -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    # No segment: the pairs over all sets; a segment of two attribute sets (Helsinki and Turku
    # are south): the pairs per set, summed.
    [{}, {"region": ["south"]}],
)
def test_derived_importance_is_spearman_over_the_customers_pairs(data, attributes):
    flt = ReportFilter(PERIOD.date_from, PERIOD.date_to, attributes)
    report = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=flt)
    for row, tp in zip(report.touchpoints, data.touchpoints, strict=True):
        pairs = []
        for r in chosen(data.respondents, flt, "customer"):
            values = [r.answers.get(f"tp:{tp.pk}:{d}") for d in DIMENSIONS]
            values = [normalised(v) for v in values if v is not None]
            if values:
                pairs.append((fmean(values), normalised(r.answers["nps"], 0, 10)))
        expected = stats.spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
        assert row.importance_pairs == len(pairs) >= 30
        assert row.spearman_rho == pytest.approx(expected, abs=1e-9)
        assert row.importance_source == "derived"
        assert row.importance == pytest.approx(max(0.0, expected), abs=1e-9)


def _reads_respondent_scores(queries) -> bool:
    """Whether importance was computed: from the pairs' daily counts (no segment filter) or
    their counts per attribute set (a segment filter)."""
    sql = _sql(queries)
    return any(
        f'"{model._meta.db_table}"' in sql
        for model in (
            RespondentScore,
            ImportancePairDayCount,
            ImportancePairSetMonthCount,
            ImportancePairSetSpanCount,
            ImportancePairSpanCount,
            ImportancePairValueSpanCount,
        )
    )


def test_derived_importance_is_cached_until_new_data_arrives(data, org):
    def importance():
        with CaptureQueriesContext(connection) as queries:
            report = selectors.gap_report(
                organization=org, journey=data.journey, report_filter=PERIOD
            )
        return report.touchpoints[0].importance_pairs, _reads_respondent_scores(queries)

    pairs, computed = importance()
    assert computed
    assert importance() == (pairs, False)
    tp = data.touchpoints[0]
    store(org, data.questionnaire, [
        Respondent("customer", PERIOD.date_from, {}, {f"tp:{tp.pk}:ease": 2, "nps": 3})
    ])  # fmt: skip
    assert importance() == (pairs + 1, True)
    # Another filter is another entry.
    other = ReportFilter(PERIOD.date_from, PERIOD.date_to, {"store": ["Turku"]})
    with CaptureQueriesContext(connection) as queries:
        selectors.gap_report(organization=org, journey=data.journey, report_filter=other)
    assert _reads_respondent_scores(queries)


def test_declared_importance_below_thirty_pairs(data):
    one_week = ReportFilter(PERIOD.date_from, PERIOD.date_from + timedelta(days=6))
    report = selectors.gap_report(
        organization=data.org, journey=data.journey, report_filter=one_week
    )
    for row in report.touchpoints:
        assert row.importance_pairs < 30
        assert row.importance_source == "declared"
        assert row.importance == pytest.approx((3 - 1) / 4)


@pytest.mark.parametrize("seed", range(12))
def test_spearman_from_counts_equals_spearman_over_the_pairs(seed):
    rng = seeded(seed)
    xs = [rng.choice([0, 25, 37.5, 50, 100 / 3, 75, 100]) for _ in range(rng.randrange(2, 300))]
    pairs = [(x, rng.choice([0, 10, 50, 90, 100]) if rng.random() < 0.5 else x) for x in xs]
    table: dict[tuple[float, float], int] = {}
    for pair in pairs:
        table[pair] = table.get(pair, 0) + 1
    rho, n = selectors.spearman_from_counts(table)
    assert n == len(pairs)
    expected = spearman(pairs)
    if expected is None:
        assert rho is None
    else:
        assert rho == pytest.approx(expected, abs=1e-12)


def test_spearman_from_counts_without_spread():
    assert selectors.spearman_from_counts({(50.0, 10.0): 5}) == (None, 5)
    assert selectors.spearman_from_counts({(50.0, 10.0): 1}) == (None, 1)
    assert selectors.spearman_from_counts({}) == (None, 0)


# --- series, NPS, calibration -----------------------------------------------------------------


@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_touchpoint_series_equals_the_raw_answers_per_period(data, interval):
    tp = data.touchpoints[1]
    with CaptureQueriesContext(connection) as queries:
        points = selectors.touchpoint_series(
            organization=data.org, journey=data.journey, touchpoint=tp, report_filter=PERIOD,
            interval=interval,
        )  # fmt: skip
    assert len(queries) == 3  # customers' moments, scoring state, employee units (staff_data)
    expected_periods = {"day": 90, "week": 14, "month": 3}[interval]
    assert len(points) == expected_periods
    assert points[-1].period_end == PERIOD.date_to
    withheld = 0
    for point in points:
        flt = ReportFilter(max(point.period_start, PERIOD.date_from), point.period_end)
        customers = raw_touchpoint(data.respondents, flt, "customer", tp.pk)
        assert point.customer.n == len(customers)
        if customers:
            assert point.customer.mean == pytest.approx(fmean(customers), abs=1e-9)
        # Staff figures show only for whole staff blocks: ~10 staff a month in teams of 3, 12
        # and 15 make the blocks quarters here, so no day, week or month shows them.
        assert point.employee.suppressed and point.employee.n is None
        assert point.employee.suppressed_reason == "period"
        withheld += 1
    assert withheld == len(points)
    staff = selectors.staff_data(organization=data.org, journey=data.journey)
    assert staff.partition.blocks == ((date(2026, 1, 1), date(2026, 3, 1)),)


def test_nps_summary_splits_customers_and_gives_the_staff_estimate(data):
    with CaptureQueriesContext(connection) as queries:
        row = selectors.nps_summary(
            organization=data.org, journey=data.journey, report_filter=PERIOD
        )
    assert len(queries) == 5  # items, touchpoints, nps counts, scoring state, employee units
    for audience, stats_ in (("customer", row.customer_nps), ("employee", row.employee_nps)):
        raw = [r.answers["nps"] for r in chosen(data.respondents, PERIOD, audience)]
        assert stats_.n == len(raw)
        assert stats_.promoters == sum(v >= 9 for v in raw)
        assert stats_.passives == sum(7 <= v <= 8 for v in raw)
        assert stats_.detractors == sum(v <= 6 for v in raw)
        assert stats_.nps == pytest.approx(
            100 * (stats_.promoters - stats_.detractors) / len(raw), abs=1e-9
        )
    logistics = ReportFilter(PERIOD.date_from, PERIOD.date_to, {"team": ["logistics"]})
    row = selectors.nps_summary(
        organization=data.org, journey=data.journey, report_filter=logistics
    )
    assert row.employee_nps.suppressed and row.employee_nps.promoters is None
    assert row.employee.suppressed


def test_staff_calibration_per_team(data):
    with CaptureQueriesContext(connection) as queries:
        units = selectors.staff_calibration(
            organization=data.org, journey=data.journey, report_filter=PERIOD, attribute="team"
        )
    # attribute sets, items, touchpoints, customers, scoring state, employee units
    assert len(queries) == 6
    by_unit = {u.unit: u for u in units}
    assert set(by_unit) == {"logistics", "sales", "service"}
    assert by_unit["logistics"].suppressed and by_unit["logistics"].mean_abs_gap is None
    # Logistics (3) is pooled with the smaller other team: service alone would give it away
    # as everyone minus sales minus service.
    assert by_unit["service"].suppressed and by_unit["service"].mean_abs_gap is None
    for team in ("sales",):
        flt = ReportFilter(PERIOD.date_from, PERIOD.date_to, {"team": [team]})
        gaps = [
            abs(
                fmean(raw_touchpoint(data.respondents, flt, "employee", tp.pk))
                - fmean(raw_touchpoint(data.respondents, PERIOD, "customer", tp.pk))
            )
            for tp in data.touchpoints
        ]
        assert not by_unit[team].suppressed
        assert by_unit[team].touchpoints_compared == 3
        assert by_unit[team].mean_abs_gap == pytest.approx(fmean(gaps), abs=1e-9)
    # Filtering on the unit attribute keeps customers (who carry no team) on the other side.
    sales = ReportFilter(PERIOD.date_from, PERIOD.date_to, {"team": ["sales"]})
    only = selectors.staff_calibration(
        organization=data.org, journey=data.journey, report_filter=sales, attribute="team"
    )
    assert [u.unit for u in only] == ["sales"]
    # The same figure; the two queries may add the days' moments in another order.
    assert only[0].mean_abs_gap == pytest.approx(by_unit["sales"].mean_abs_gap, abs=1e-9)


def test_an_empty_journey_reports_nothing_without_failing(org, analyst):
    journey = JourneyFactory(organization=org)
    report = selectors.gap_report(organization=org, journey=journey, report_filter=PERIOD)
    assert report.touchpoints == [] and report.outcomes == [] and report.top_priorities == []
    assert selectors.nps_summary(organization=org, journey=journey, report_filter=PERIOD) is None


def test_another_organisations_aggregates_never_count(data, other_org):
    """The same journey shape in another organisation, with data on the same days."""
    from tests.factories import MembershipFactory

    analyst = MembershipFactory(organization=other_org, role="analyst").user
    _journey, tps, questionnaire = make_journey(other_org, analyst)
    store(other_org, questionnaire, generate(tps, seeded(8)))
    report = selectors.gap_report(organization=data.org, journey=data.journey, report_filter=PERIOD)
    assert report.touchpoints[0].customer.n == len(
        raw_touchpoint(data.respondents, PERIOD, "customer", data.touchpoints[0].pk)
    )


# --- the filter -------------------------------------------------------------------------------


def parse(org, journey, params, today=date(2026, 3, 31)):
    return report_filter_parse(organization=org, journey=journey, params=params, today=today)


def test_the_default_period_is_the_last_ninety_days(data):
    flt = parse(data.org, data.journey, {})
    assert (flt.date_from, flt.date_to) == (date(2026, 1, 1), date(2026, 3, 31))
    assert flt.days == 90 and flt.attributes == {} and flt.questionnaire_id is None


def test_the_default_period_ends_today_in_the_organisations_time_zone(org):
    from unittest import mock

    from apps.scoring.filters import default_filter

    org.time_zone = "Pacific/Kiritimati"  # UTC+14: already tomorrow at 11:00 UTC
    instant = datetime(2026, 3, 30, 11, 0, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=instant):
        flt = default_filter(org)
    assert flt.date_to == date(2026, 3, 31)


def test_parsed_filter(data):
    params = {"from": "2026-01-01", "to": "2026-02-01", "attr.store": ["Helsinki", "Turku"],
              "attr.region": "south", "questionnaire": str(data.questionnaire.pk)}  # fmt: skip
    flt = parse(data.org, data.journey, params)
    assert flt == ReportFilter(
        date(2026, 1, 1), date(2026, 2, 1), {"store": ["Helsinki", "Turku"], "region": ["south"]},
        data.questionnaire.pk,
    )  # fmt: skip
    assert flt.canonical()["attributes"] == {"region": ["south"], "store": ["Helsinki", "Turku"]}
    assert parse(data.org, data.journey, {"from": "2026-03-01"}).date_to == date(2026, 3, 31)
    assert parse(data.org, data.journey, {"to": "2026-02-28"}).date_from == date(2025, 12, 1)


def test_a_declared_context_attribute_is_known_before_any_response(org, analyst):
    journey, _tps, questionnaire = make_journey(org, analyst)
    context_attribute_set(organization=org, actor=principal(org, analyst),
                          questionnaire=questionnaire, name="channel")  # fmt: skip
    assert parse(org, journey, {"attr.channel": "web"}).attributes == {"channel": ["web"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"from": "01.02.2026"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "1999-12-31"}, "from"),
        ({"from": "2000-01-01", "to": "2026-01-01"}, "to"),
        ({"attr.colour": "red"}, "attr.colour"),
        ({"attr.store": ""}, "attr.store"),
        ({"attr.": "x"}, "attr."),
        ({"questionnaire": "abc"}, "questionnaire"),
        ({"questionnaire": "999999"}, "questionnaire"),
    ],
)
def test_bad_filters_name_the_parameter(data, params, field):
    with pytest.raises(ValidationFailed) as error:
        parse(data.org, data.journey, params)
    assert list(error.value.fields) == [field]


def test_a_questionnaire_of_another_journey_is_refused(data, org, analyst):
    _journey, _tps, other = make_journey(org, analyst)
    with pytest.raises(ValidationFailed) as error:
        parse(org, data.journey, {"questionnaire": str(other.pk)})
    assert list(error.value.fields) == ["questionnaire"]


def test_attribute_values_and_questionnaires_for_the_filter_form(data, org, analyst):
    context_attribute_set(organization=org, actor=principal(org, analyst),
                          questionnaire=data.questionnaire, name="channel",
                          allowed_values=["web", "kiosk"])  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        values = selectors.attribute_values(organization=org, journey=data.journey)
    assert len(queries) == 2
    assert values == {
        "channel": ["kiosk", "web"],
        "region": ["south", "west"],
        "store": ["Helsinki", "Tampere", "Turku"],
        "team": ["logistics", "sales", "service"],
    }
    assert selectors.journey_questionnaires(organization=org, journey=data.journey) == [
        data.questionnaire
    ]


# --- importance pairs per attribute set: whole months and the days at the edges -------------


def test_pair_plan_reads_the_coarsest_buckets_and_the_fewer_edge_days():
    today = date(2026, 12, 6)
    plan = selectors.pair_plan(date(2026, 9, 8), date(2026, 12, 6), today=today)
    # September as the month less its first week; the fourth quarter as it stands (no
    # answers after today, nothing to subtract).
    assert plan.parts == (
        (1, "month", date(2026, 9, 1), date(2026, 9, 30)),
        (-1, "week", date(2026, 9, 1), date(2026, 9, 7)),
        (1, "quarter", date(2026, 10, 1), date(2026, 12, 31)),
    )
    # The part of it cached across batches (`settled_end`) and the rest.
    assert selectors.pair_plan(date(2026, 9, 8), date(2026, 11, 30), today=today).parts == (
        (1, "month", date(2026, 9, 1), date(2026, 9, 30)),
        (-1, "week", date(2026, 9, 1), date(2026, 9, 7)),
        (1, "month", date(2026, 10, 1), date(2026, 10, 31)),
        (1, "month", date(2026, 11, 1), date(2026, 11, 30)),
    )
    assert selectors.pair_plan(date(2026, 12, 1), date(2026, 12, 6), today=today).parts == (
        (1, "month", date(2026, 12, 1), date(2026, 12, 31)),
    )
    # A year: whole quarters; December 2025 from the 7th as the month less its first week
    # plus the 7th itself.
    plan = selectors.pair_plan(date(2025, 12, 7), date(2026, 11, 30), today=today)
    assert plan.parts == (
        (1, "month", date(2025, 12, 1), date(2025, 12, 31)),
        (-1, "week", date(2025, 12, 1), date(2025, 12, 7)),
        (1, "days", date(2025, 12, 7), date(2025, 12, 7)),
        (1, "quarter", date(2026, 1, 1), date(2026, 3, 31)),
        (1, "quarter", date(2026, 4, 1), date(2026, 6, 30)),
        (1, "quarter", date(2026, 7, 1), date(2026, 9, 30)),
        (1, "month", date(2026, 10, 1), date(2026, 10, 31)),
        (1, "month", date(2026, 11, 1), date(2026, 11, 30)),
    )
    # A few days: the days themselves; the last week of February runs from the 22nd to its end.
    assert selectors.pair_plan(date(2026, 2, 20), date(2026, 2, 21), today=today).parts == (
        (1, "days", date(2026, 2, 20), date(2026, 2, 21)),
    )
    assert selectors.pair_plan(date(2026, 2, 22), date(2026, 2, 28), today=today).parts == (
        (1, "week", date(2026, 2, 22), date(2026, 2, 28)),
    )
    # After today: nothing to read.
    assert selectors.pair_plan(date(2026, 12, 7), date(2026, 12, 31), today=today).parts == ()


def test_a_plan_read_beside_another_reuses_its_buckets():
    """The settled part read in the same statement as the live month: the fourth quarter less
    December (read anyway for the live part) instead of October and November."""
    today = date(2026, 12, 6)
    live = selectors.pair_plan(date(2026, 12, 1), today, today=today)
    settled = selectors.pair_plan(date(2026, 9, 8), date(2026, 11, 30), today=today, beside=live)
    assert settled.parts == (
        (1, "month", date(2026, 9, 1), date(2026, 9, 30)),
        (-1, "week", date(2026, 9, 1), date(2026, 9, 7)),
        (1, "quarter", date(2026, 10, 1), date(2026, 12, 31)),
        (-1, "month", date(2026, 12, 1), date(2026, 12, 31)),
    )
    # Without a shared bucket to gain from, the plan is the one read alone.
    far = selectors.pair_plan(date(2026, 3, 1), date(2026, 3, 31), today=today, beside=live)
    assert far.parts == ((1, "month", date(2026, 3, 1), date(2026, 3, 31)),)


def test_pair_plan_counts_every_day_of_the_period_once_and_no_other():
    """Whatever the period: the signed parts add up to each day of it once, and to nothing
    for every other day up to today (days after today hold no answers)."""
    today = date(2026, 12, 6)
    first_day = date(2025, 10, 1)
    days = [first_day + timedelta(days=i) for i in range((today - first_day).days + 1)]
    lengths = (0, 1, 3, 6, 9, 13, 27, 29, 31, 45, 89, 91, 180, 364, 400)
    periods = [(a, a + timedelta(days=length)) for a in days[::5] for length in lengths]
    for date_from, date_to in periods:
        whole = selectors.pair_plan(date_from, date_to, today=today)
        # The settled part planned beside the live one, as `pair_counts_by_set` reads them.
        end = selectors.settled_end(ReportFilter(date_from, date_to), today)
        live = selectors.pair_plan(max(date_from, end + timedelta(days=1)), date_to, today=today)
        settled = selectors.pair_plan(date_from, end, today=today, beside=live)
        # ...and from months and days only (ItemSpanCount's buckets).
        months = selectors.pair_plan(date_from, date_to, today=today, levels=("month",))
        assert {kind for _sign, kind, _first, _last in months.parts} <= {"month", "days"}
        for plan, period in ((whole, (date_from, date_to)), (live, (end + timedelta(days=1),
                             date_to)), (settled, (date_from, end)),
                             (months, (date_from, date_to))):  # fmt: skip
            for day in days:
                seen = sum(sign for sign, _kind, first, last in plan.parts if first <= day <= last)
                inside = max(date_from, period[0]) <= day <= period[1]
                assert seen == (1 if inside else 0), (date_from, date_to, period, day)


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        (date(2026, 1, 3), date(2026, 3, 28)),  # whole months less a few days at both ends
        (date(2026, 1, 20), date(2026, 2, 10)),  # the days themselves at both ends
        (date(2025, 12, 1), date(2026, 3, 31)),  # whole months only, across the new year
        (date(2025, 12, 28), date(2026, 1, 30)),
        (date(2026, 2, 14), date(2026, 2, 14)),
        (date(2025, 12, 9), date(2026, 2, 26)),  # weeks at both ends, less a day or two
        (date(2025, 10, 2), date(2026, 6, 30)),  # a quarter whole, one less a month and days
    ],
)
def test_pair_counts_by_set_equal_the_customers_pairs(data, date_from, date_to):
    from collections import Counter

    sets = list(
        AttributeSet.objects.for_organization(data.org).values_list("pk", flat=True).order_by("pk")
    )
    for set_ids in (sets, sets[:1]):
        flt = ReportFilter(date_from, date_to)
        mine = selectors.pair_counts_by_set(
            organization=data.org, journey=data.journey, report_filter=flt, set_ids=set_ids
        )
        raw = Counter(
            RespondentScore.objects.for_organization(data.org)
            .filter(day__gte=date_from, day__lte=date_to, outcome__isnull=False,
                    attribute_set_id__in=set_ids)
            .values_list("attribute_set_id", "touchpoint_id", "score", "outcome")
        )  # fmt: skip
        assert mine == dict(raw)
        assert mine or date_from == date_to  # a single day may have no customers


def test_the_migration_backfills_the_buckets_the_pipeline_keeps(data):
    """scoring/0005 fills its three tables from the stored daily rows (an upgrade needs no
    rescoring): the same rows the scoring batches wrote, on either database."""
    import importlib
    import math

    backfill = importlib.import_module(
        "apps.scoring.migrations.0005_pairs_and_moments_per_week_month_and_quarter"
    ).backfill_sql
    tables = {
        ImportancePairSetSpanCount: ("attribute_set_id", "span", "start", "score", "outcome"),
        ImportancePairSpanCount: ("span", "start", "score", "outcome"),
        TouchpointSpanAggregate: ("audience", "attribute_set_id", "span", "start"),
    }
    values = {
        ImportancePairSetSpanCount: ("count",),
        ImportancePairSpanCount: ("count",),
        TouchpointSpanAggregate: ("n", "total", "total_sq"),
    }

    def stored() -> dict[type, dict[tuple, tuple]]:
        return {
            model: {
                tuple(row[: len(key) + 3]): tuple(row[len(key) + 3 :])
                for row in model.objects.for_organization(data.org).values_list(
                    "journey_id", "questionnaire_id", "touchpoint_id", *key, *values[model]
                )
            }
            for model, key in tables.items()
        }

    written = stored()
    assert all(written.values())
    for model in tables:
        model.objects.for_organization(data.org).delete()
    with connection.cursor() as cursor:
        for statement in backfill(connection.vendor):
            cursor.execute(statement)
    backfilled = stored()
    for model in tables:
        assert backfilled[model].keys() == written[model].keys(), model
        for row, figures in backfilled[model].items():
            for mine, theirs in zip(figures, written[model][row], strict=True):
                assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-9), (model, row)


def test_the_migration_backfills_the_item_counts_the_pipeline_keeps(data):
    """scoring/0006 fills ItemSpanCount from the stored daily item counts (an upgrade needs no
    rescoring): the same rows the scoring batches wrote, on either database."""
    import importlib

    backfill = importlib.import_module(
        "apps.scoring.migrations.0006_item_counts_per_set_and_month"
    ).backfill_sql
    spans = ItemSpanCount.objects.for_organization(data.org)

    def stored() -> set[tuple]:
        return set(
            spans.values_list(
                "journey_id", "questionnaire_id", "item_key", "attribute_set_id", "span",
                "start", "scale_lo", "scale_hi", "value", "count",
            )
        )  # fmt: skip

    written = stored()
    assert {row[4] for row in written} == {"month"}
    spans.delete()
    with connection.cursor() as cursor:
        for statement in backfill(connection.vendor):
            cursor.execute(statement)
    assert stored() == written

"""Importance pairs per attribute value (ImportancePairValueSpanCount): a segment filter on one
attribute, or a comparison of one attribute's values, reads its months there
(`selectors.value_slices`, `pair_counts_by_set`'s `values`) and its quarters, weeks and days per
set. The counts must equal the customers' own pairs (RespondentScore) and the read per set, for
any period, cold and cached; what the table cannot answer exactly is read per set."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.scoring import comparison, selectors
from apps.scoring.filters import ReportFilter, organization_today
from apps.scoring.models import (
    AttributeSet,
    ImportancePairValueSpanCount,
    RespondentScore,
    ScoringState,
)
from apps.scoring.services import journey_rescore, responses_process
from tests.scoring.conftest import ResponseRow, assert_rollups_match, rating_key

CHANNELS = ("web", "shop", "app")
REGIONS = ("north", "south")
VALUE_TABLE = ImportancePairValueSpanCount._meta.db_table


def _rows(journey, days, count, start=0):
    t1, t2, _ = journey.touchpoints_in_order
    rows = []
    for i in range(start, start + count):
        segment = {"channel": CHANNELS[i % 3]}
        if i % 5:  # some sets have no region
            segment["region"] = REGIONS[(i // 3) % 2]
        rows.append(
            ResponseRow(
                "customer",
                {rating_key(t1, "ease"): 1 + (i * 3) % 5, rating_key(t2, "emotion"): 1 + i % 5,
                 "nps": (i * 7) % 11},
                segment=segment,
                day=days[i % len(days)],
            )
        )  # fmt: skip
    return rows


@pytest.fixture
def year(org, scoring_journey, response_store):
    """Customers over more than a year (whole quarters, months and weeks, edges, today)."""
    today = organization_today(org)
    offsets = (0, 1, 2, 5, 9, 17, 31, 33, 47, 62, 80, 95, 120, 150, 181, 200, 240, 280, 320,
               360, 364, 365, 371, 400)  # fmt: skip
    response_store.add_many(_rows(scoring_journey, [today - timedelta(days=d) for d in offsets],
                                  240))  # fmt: skip
    responses_process(organization_id=org.pk)
    return scoring_journey


def _sets(org):
    return dict(AttributeSet.objects.for_organization(org).values_list("pk", "values"))


def _raw(org, flt, groups):
    counts: Counter = Counter()
    for set_id, tp_id, score, outcome in (
        RespondentScore.objects.for_organization(org)
        .filter(day__gte=flt.date_from, day__lte=flt.date_to, outcome__isnull=False,
                attribute_set_id__in=list(groups))
        .values_list("attribute_set_id", "touchpoint_id", "score", "outcome")
    ):  # fmt: skip
        counts[(groups[set_id], tp_id, score, outcome)] += 1
    return dict(counts)


def _stored(org):
    return sorted(
        ImportancePairValueSpanCount.objects.for_organization(org).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "attribute", "value", "span",
            "start", "score", "outcome", "count",
        )
    )  # fmt: skip


def _read(org, journey, flt, groups, values, settled_version):
    with CaptureQueriesContext(connection) as captured:
        counts = selectors.pair_counts_by_set(
            organization=org,
            journey=journey,
            report_filter=flt,
            set_ids=sorted(groups),
            settled_version=settled_version,
            groups=groups,
            values=values,
        )
    read_values = any(VALUE_TABLE in q["sql"] for q in captured.captured_queries)
    return counts, read_values


@pytest.mark.parametrize(
    "offsets", [(0, 0), (89, 0), (364, 0), (400, 0), (400, 30), (200, 100), (45, 3), (1, 1)]
)
def test_values_read_what_the_sets_give_for_any_period(org, year, offsets):
    today = organization_today(org)
    back, end = offsets
    period = (today - timedelta(days=back), today - timedelta(days=end))
    sets = _sets(org)
    settled = ScoringState.objects.for_organization(org).get(journey=year).settled_version
    cases = [
        ({"channel": ["web"]}, "channel", lambda attrs: 0),
        ({"channel": ["web", "app"]}, "channel", lambda attrs: 0),
        ({"region": ["south"]}, "region", lambda attrs: 0),
        # a comparison of the channels: each value its own group
        ({}, "channel", lambda attrs: CHANNELS.index(attrs["channel"])),
    ]
    for attributes, attribute, group_of in cases:
        flt = ReportFilter(*period, attributes)
        chosen = {
            pk: attrs
            for pk, attrs in sets.items()
            if flt.matches(attrs) and (attributes or attribute in attrs)
        }
        groups = {pk: group_of(attrs) for pk, attrs in chosen.items()}
        values = selectors.value_slices(sets, groups, attribute)
        assert values is not None and values[0] == attribute
        expected = _raw(org, flt, groups)
        per_set, read_values = _read(org, year, flt, groups, None, None)
        assert per_set == expected and not read_values
        cache.clear()
        for settled_version in (None, settled, settled):  # uncached, cold, cached
            counts, read_values = _read(org, year, flt, groups, values, settled_version)
            assert counts == expected, (attributes, attribute, settled_version)
        # A period with whole months reads them per value; a day or two, per set.
        cache.clear()
        _counts, read_values = _read(org, year, flt, groups, values, None)
        if back >= 89 or back - end < 2:
            assert read_values == (back >= 89), (attributes, offsets)


def test_value_slices_decline_what_the_table_cannot_read_exactly():
    sets = {
        1: {"channel": "web", "region": "north"},
        2: {"channel": "web", "region": "south"},
        3: {"channel": "shop", "region": "north"},
        4: {"channel": "app"},
        5: {"channel": 7},  # not a string (the pipeline stores strings; JSON allows others)
        6: {"channel": "x" * 201},  # longer than the table holds
    }
    assert selectors.value_slices(sets, {1: 0, 2: 0}, "channel") == ("channel", {"web": 0}, 6)
    assert selectors.value_slices(sets, {1: 0, 2: 0, 3: 1}, "channel") == (
        "channel",
        {"web": 0, "shop": 1},
        6,
    )
    # a value's sets not all read (a filter on another attribute besides)
    assert selectors.value_slices(sets, {1: 0}, "channel") is None
    # one value's sets in two groups (grouped by another attribute)
    assert selectors.value_slices(sets, {1: 0, 2: 1}, "channel") is None
    # a set without the attribute, with a number, with a value too long
    assert selectors.value_slices(sets, {1: 0, 2: 0, 4: 0}, "region") is None
    assert selectors.value_slices(sets, {5: 0}, "channel") is None
    assert selectors.value_slices(sets, {6: 0}, "channel") is None
    assert selectors.value_slices(sets, {}, "channel") is None
    assert selectors.value_slices({1: {"n" * 101: "v"}}, {1: 0}, "n" * 101) is None


def test_the_report_and_the_comparison_read_the_values(org, year):
    """derived_importance under a one-attribute filter and a comparison without a filter read
    the value table, and give what the same reads per set give."""
    today = organization_today(org)
    sets = _sets(org)
    state = ScoringState.objects.for_organization(org).get(journey=year)
    flt = ReportFilter(today - timedelta(days=364), today, {"channel": ["web"]})
    set_ids = [pk for pk, attrs in sets.items() if flt.matches(attrs)]

    def importance(known):
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            result = selectors.derived_importance(
                organization=org, journey=year, report_filter=flt, set_ids=set_ids,
                version=state.version, settled_version=state.settled_version, sets=known,
            )  # fmt: skip
        return result, any(VALUE_TABLE in q["sql"] for q in captured.captured_queries)

    by_values, read_values = importance(sets)
    assert read_values
    by_sets, read_values = importance(None)
    assert not read_values and by_values == by_sets and by_values

    plain = ReportFilter(today - timedelta(days=364), today)
    choices = comparison.segment_choices(organization=org, journey=year)
    filters = {v: comparison.narrowed(plain, "channel", v) for v in CHANNELS}
    value_sets = {v: choices.set_ids(f) for v, f in filters.items()}
    results = []
    for compared in (("channel", choices.sets), None):
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            results.append(
                comparison._segment_importance(
                    org, year, (state.version, state.settled_version), filters, value_sets,
                    None, compared,
                )
            )  # fmt: skip
        assert any(VALUE_TABLE in q["sql"] for q in captured.captured_queries) == bool(compared)
    assert results[0] == results[1]
    for v in CHANNELS:
        cache.clear()
        alone = selectors.derived_importance(
            organization=org, journey=year, report_filter=filters[v], set_ids=value_sets[v],
            version=state.version, settled_version=state.settled_version,
        )  # fmt: skip
        assert results[0][v] == alone and alone, v


def test_late_answers_and_rescoring_keep_the_values_exact(org, year, response_store):
    """A batch of old days adds to the values' months; a rescoring rebuilds them as the
    batches left them (and as the sets' summed)."""
    today = organization_today(org)
    response_store.add_many(
        _rows(year, [today - timedelta(days=d) for d in (3, 100, 300)], 30, start=1000)
    )
    responses_process(organization_id=org.pk)
    assert_rollups_match(org.pk)
    before = _stored(org)
    assert {row[3] for row in before} == {"channel", "region"}
    ImportancePairValueSpanCount.objects.for_organization(org).filter(attribute="region").delete()
    journey_rescore(organization=org, actor=None, journey=year)
    assert_rollups_match(org.pk)
    after = _stored(org)
    assert after == before


def test_the_migrations_backfill_gives_what_the_batches_wrote(org, year):
    """scoring/0008 fills the table from the pairs per set and month already stored, as the
    batches would have (on either database)."""
    from importlib import import_module

    migration = import_module("apps.scoring.migrations.0008_importance_pairs_per_attribute_value")
    written = _stored(org)
    assert written
    ImportancePairValueSpanCount.objects.for_organization(org).delete()
    with connection.cursor() as cursor:
        for statement in migration.backfill_sql(connection.vendor):
            cursor.execute(statement)
    assert_rollups_match(org.pk)
    backfilled = _stored(org)
    assert backfilled == written


def test_a_past_quarter_is_read_as_months_when_they_cost_less():
    """With a value's months cheaper than the sets' quarter (`_VALUE_MONTH_COST`), a past
    quarter is read as its three months; with the sets' own costs, as the quarter. A quarter
    that today cuts short stays whole (the live part's reading does not change)."""
    from datetime import date

    today = date(2026, 12, 6)
    cheap = {"quarter": 4, "month": 0.2, "week": 2}
    plan = selectors.pair_plan(date(2026, 1, 1), date(2026, 3, 31), today, costs=cheap)
    assert [(kind, first.month) for _sign, kind, first, _last in plan.parts] == [
        ("month", 1), ("month", 2), ("month", 3)
    ]  # fmt: skip
    plan = selectors.pair_plan(date(2026, 1, 1), date(2026, 3, 31), today)
    assert [kind for _sign, kind, _first, _last in plan.parts] == ["quarter"]
    plan = selectors.pair_plan(date(2026, 12, 1), today, today, costs=cheap)
    assert [kind for _sign, kind, _first, _last in plan.parts] == ["month"]

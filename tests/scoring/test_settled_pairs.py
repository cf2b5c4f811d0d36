"""Importance pairs of settled days (before yesterday) cached across batches of today's answers.

`selectors.pair_counts_by_set` caches the part of a period up to `selectors.settled_end` (the
day before the month of yesterday begins) under the journey's
ScoringState.settled_version, which a batch bumps only when it holds a response of a day before
the organisation's today (and a rescoring always). Whatever arrives, the read must equal the
customers' own pairs (RespondentScore).
"""

from collections import Counter
from datetime import timedelta

import pytest

from apps.scoring import selectors
from apps.scoring.filters import ReportFilter, organization_today
from apps.scoring.models import AttributeSet, RespondentScore, ScoringState
from apps.scoring.services import journey_rescore, responses_process
from tests.scoring.conftest import ResponseRow, rating_key


def _rows(journey, days, count):
    t1 = journey.touchpoints_in_order[0]
    return [
        ResponseRow(
            "customer",
            {rating_key(t1, "ease"): 1 + (i * 3) % 5, "nps": (i * 7) % 11},
            segment={"region": ("north", "south")[i % 2]},
            day=days[i % len(days)],
        )
        for i in range(count)
    ]


def _raw(org, flt, set_ids):
    return dict(
        Counter(
            RespondentScore.objects.for_organization(org)
            .filter(day__gte=flt.date_from, day__lte=flt.date_to, outcome__isnull=False,
                    attribute_set_id__in=set_ids)
            .values_list("attribute_set_id", "touchpoint_id", "score", "outcome")
        )
    )  # fmt: skip


def _read(org, journey, flt, set_ids, settled=None):
    if settled is None:
        settled = (
            ScoringState.objects.for_organization(org)
            .filter(journey=journey)
            .values_list("settled_version", flat=True)
            .first()
        ) or 0
    return selectors.pair_counts_by_set(
        organization=org,
        journey=journey,
        report_filter=flt,
        set_ids=set_ids,
        settled_version=settled,
    )


def _settled(org, journey):
    return ScoringState.objects.for_organization(org).get(journey=journey).settled_version


def test_settled_pairs_follow_every_change(
    org, scoring_journey, response_store, django_assert_num_queries
):
    today = organization_today(org)
    old, yesterday = today - timedelta(days=40), today - timedelta(days=1)
    response_store.add_many(_rows(scoring_journey, [old, today - timedelta(days=3), yesterday,
                                                    today], 24))  # fmt: skip
    responses_process(organization_id=org.pk)
    sets = sorted(AttributeSet.objects.for_organization(org).values_list("pk", flat=True))
    flt = ReportFilter(today - timedelta(days=89), today)
    first = _read(org, scoring_journey, flt, sets)
    assert first == _raw(org, flt, sets) and first
    # Cached now: the settled part comes from the cache, the month of yesterday is read.
    settled = _settled(org, scoring_journey)
    with django_assert_num_queries(1):
        assert _read(org, scoring_journey, flt, sets, settled) == first

    # Today's answers leave the settled days alone; the read sees them. (Yesterday's would
    # bump the settled version too: a batch begun before midnight may commit after it.)
    response_store.add_many(_rows(scoring_journey, [today], 6))
    responses_process(organization_id=org.pk)
    assert _settled(org, scoring_journey) == settled
    assert _read(org, scoring_journey, flt, sets) == _raw(org, flt, sets) != first

    # A late answer of a settled day makes the cached part stale: the batch says so.
    before = _read(org, scoring_journey, flt, sets)
    response_store.add_many(_rows(scoring_journey, [today - timedelta(days=3)], 5))
    responses_process(organization_id=org.pk)
    assert _settled(org, scoring_journey) == settled + 1
    after = _read(org, scoring_journey, flt, sets)
    assert after == _raw(org, flt, sets) != before

    # A rescoring may change any day: it bumps the settled version too.
    journey_rescore(organization=org, actor=None, journey=scoring_journey)
    assert _settled(org, scoring_journey) == settled + 2
    assert _read(org, scoring_journey, flt, sets) == _raw(org, flt, sets)


@pytest.mark.parametrize("offsets", [(0, 0), (89, 2), (89, 0), (30, 10), (1, 0), (5, 3)])
def test_settled_and_live_parts_add_up_for_any_period(org, scoring_journey, response_store,
                                                      offsets):  # fmt: skip
    """Periods wholly settled, wholly live, and across the boundary, read cold then cached."""
    today = organization_today(org)
    days = [today - timedelta(days=d) for d in (0, 1, 2, 3, 7, 31, 45, 88, 89, 90)]
    response_store.add_many(_rows(scoring_journey, days, 40))
    responses_process(organization_id=org.pk)
    sets = sorted(AttributeSet.objects.for_organization(org).values_list("pk", flat=True))
    back, end = offsets
    flt = ReportFilter(today - timedelta(days=back), today - timedelta(days=end))
    for set_ids in (sets, sets[:1]):
        expected = _raw(org, flt, set_ids)
        assert _read(org, scoring_journey, flt, set_ids) == expected
        assert _read(org, scoring_journey, flt, set_ids) == expected


def test_a_batch_of_today_does_not_touch_the_settled_version(org, scoring_journey, response_store):
    today = organization_today(org)
    response_store.add_many(_rows(scoring_journey, [today], 3))
    responses_process(organization_id=org.pk)
    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    assert (state.version, state.settled_version) == (1, 1)  # a new row starts at 1
    response_store.add_many(_rows(scoring_journey, [today], 3))
    responses_process(organization_id=org.pk)
    state.refresh_from_db()
    assert (state.version, state.settled_version) == (2, 1)
    response_store.add_many(_rows(scoring_journey, [today - timedelta(days=1)], 1))
    responses_process(organization_id=org.pk)
    state.refresh_from_db()
    assert (state.version, state.settled_version) == (3, 2)


def _grouped(counts, groups):
    total: Counter = Counter()
    for (set_id, tp_id, score, outcome), n in counts.items():
        total[(groups[set_id], tp_id, score, outcome)] += n
    return dict(total)


@pytest.mark.parametrize("offsets", [(89, 0), (30, 10), (1, 0), (120, 40)])
def test_pairs_counted_per_group_are_the_sets_pairs_summed(
    org, scoring_journey, response_store, offsets, django_assert_num_queries
):
    """A comparison's read: the sets' pairs summed per group (value) in the database, equal to
    the customers' own pairs summed per group, read cold, then with the settled part cached."""
    today = organization_today(org)
    days = [today - timedelta(days=d) for d in (0, 1, 2, 3, 7, 15, 20, 31, 45, 88, 89, 90, 100)]
    response_store.add_many(_rows(scoring_journey, days, 52))
    responses_process(organization_id=org.pk)
    sets = sorted(AttributeSet.objects.for_organization(org).values_list("pk", flat=True))
    assert len(sets) == 2
    back, end = offsets
    flt = ReportFilter(today - timedelta(days=back), today - timedelta(days=end))
    version = _settled(org, scoring_journey)
    for groups in ({sets[0]: 0, sets[1]: 1}, {sets[0]: 0, sets[1]: 0}, {sets[1]: 3}):
        expected = _grouped(_raw(org, flt, sorted(groups)), groups)
        assert expected

        def read(groups=groups):
            return selectors.pair_counts_by_set(
                organization=org,
                journey=scoring_journey,
                report_filter=flt,
                set_ids=sorted(groups),
                settled_version=version,
                groups=groups,
            )

        assert read() == expected
        # Read again: the part up to `settled_end` comes from the cache, the rest is read.
        live = flt.date_to > selectors.settled_end(flt, today)
        with django_assert_num_queries(1 if live else 0):
            assert read() == expected


def test_the_reports_importance_read_grouped_as_the_comparison_serves_it(
    org, scoring_journey, response_store, django_assert_num_queries
):
    """Under a segment filter the report's derived importance reads its sets' pairs grouped as a
    comparison on the same page groups them (`comparison.compared_groups`): the comparison's
    read of the settled part then comes from the cache, and both equal the customers' own
    pairs (the filter's summed over the sets, each value's over its own)."""
    from django.core.cache import cache

    from apps.scoring import comparison

    today = organization_today(org)
    t1 = scoring_journey.touchpoints_in_order[0]
    days = [today - timedelta(days=d) for d in (50, 60, 70)]
    rows = [
        ResponseRow(
            "customer",
            {rating_key(t1, "ease"): 1 + (i * 3) % 5, "nps": (i * 7) % 11},
            segment={
                "region": ("north", "south", "east")[i % 3],
                "channel": ("web", "shop")[i % 2],
            },
            day=days[i % len(days)],
        )
        for i in range(60)
    ]
    response_store.add_many(rows)
    responses_process(organization_id=org.pk)
    flt = ReportFilter(today - timedelta(days=89), today - timedelta(days=40), {"channel": ["web"]})
    choices = comparison.segment_choices(organization=org, journey=scoring_journey)
    groups = comparison.compared_groups(choices, flt, "region")
    web = sorted(pk for pk, attrs in choices.sets.items() if attrs.get("channel") == "web")
    assert groups is not None and sorted(groups) == web and len(web) == 3
    assert comparison.compared_groups(choices, flt, "") is None
    assert (
        comparison.compared_groups(choices, ReportFilter(flt.date_from, flt.date_to), "region")
        is None
    )

    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    cache.clear()
    report = selectors.derived_importance(
        organization=org, journey=scoring_journey, report_filter=flt, set_ids=web,
        version=state.version, settled_version=state.settled_version, groups=groups,
    )  # fmt: skip
    filters = {
        region: comparison.narrowed(flt, "region", region) for region in choices.values["region"]
    }
    value_sets = {
        region: [pk for pk, attrs in choices.sets.items() if f.matches(attrs)]
        for region, f in filters.items()
    }
    with django_assert_num_queries(0):  # the whole period is settled and cached as grouped
        compared = comparison._segment_importance(
            org, scoring_journey, (state.version, state.settled_version), filters, value_sets,
            groups,
        )  # fmt: skip

    def own(set_ids):
        tables: dict = {}
        for (_set, tp_id, score, outcome), n in _raw(org, flt, set_ids).items():
            table = tables.setdefault(tp_id, Counter())
            table[(score, outcome)] += n
        return {tp_id: selectors.spearman_from_counts(table) for tp_id, table in tables.items()}

    assert report == own(web) and report[t1.pk][1] == 30
    for region, set_ids in value_sets.items():
        assert compared[region] == own(set_ids) and compared[region][t1.pk][1] == 10


def test_the_settled_part_ends_before_the_month_of_yesterday():
    from datetime import date

    flt = ReportFilter(date(2026, 9, 8), date(2026, 12, 6))
    # Read afresh after each batch of today's answers: December (whole months' counts).
    assert selectors.settled_end(flt, date(2026, 12, 6)) == date(2026, 11, 30)
    assert selectors.settled_end(flt, date(2026, 12, 2)) == date(2026, 11, 30)
    # On a month's first day yesterday is still the month before's: both are read afresh.
    assert selectors.settled_end(flt, date(2026, 12, 1)) == date(2026, 10, 31)
    # A period ending earlier is settled up to its end.
    past = ReportFilter(date(2026, 8, 1), date(2026, 10, 15))
    assert selectors.settled_end(past, date(2026, 12, 6)) == date(2026, 10, 15)


def _raw_items(org, flt, set_ids, keys):
    from apps.responses.models import Answer

    counts: Counter = Counter()
    answers = (
        Answer.objects.for_organization(org)
        .filter(response__audience="customer", response__submitted_on__gte=flt.date_from,
                response__submitted_on__lte=flt.date_to, item__key__in=keys,
                value__isnull=False)
        .values_list("response_id", "item__key", "item__scale_lo", "item__scale_hi", "value")
    )  # fmt: skip
    set_of = _response_sets(org, set_ids)
    for response_id, key, lo, hi, value in answers:
        if response_id in set_of:
            counts[(key, "customer", (lo, hi, value))] += 1
    return dict(counts)


def _response_sets(org, set_ids):
    """Responses of the sets: those whose customers' rows (RespondentScore) carry the set."""
    return set(
        RespondentScore.objects.for_organization(org)
        .filter(attribute_set_id__in=set_ids)
        .values_list("response_id", flat=True)
    )


def _items(org, journey, flt, set_ids, keys, settled=None):
    cells = selectors.customer_item_cells(
        org, journey, flt, set_ids, keys,
        _settled(org, journey) if settled is None else settled,
    )  # fmt: skip
    return {
        (key, audience, value): n
        for (key, audience), counts in cells.items()
        for value, n in counts.counts.items()
    }


def test_settled_item_counts_of_a_segment_follow_every_change(
    org, scoring_journey, response_store, django_assert_num_queries
):
    """A segment filter's item counts: the settled part cached across batches of today's
    answers, read again after a late answer or a rescoring; always equal to the answers."""
    today = organization_today(org)
    days = [today - timedelta(days=d) for d in (0, 1, 3, 40, 70)]
    response_store.add_many(_rows(scoring_journey, days, 30))
    responses_process(organization_id=org.pk)
    north = [
        pk for pk, values in AttributeSet.objects.for_organization(org).values_list("pk", "values")
        if values.get("region") == "north"
    ]  # fmt: skip
    keys = [rating_key(scoring_journey.touchpoints_in_order[0], "ease"), "nps"]
    flt = ReportFilter(today - timedelta(days=89), today)
    first = _items(org, scoring_journey, flt, north, keys)
    assert first == _raw_items(org, flt, north, keys) and first
    # The settled part comes from the cache: one query for the month of yesterday; none for a
    # period wholly settled.
    version = _settled(org, scoring_journey)
    with django_assert_num_queries(1):
        assert _items(org, scoring_journey, flt, north, keys, version) == first
    past = ReportFilter(today - timedelta(days=89), selectors.settled_end(flt, today))
    expected = _raw_items(org, past, north, keys)
    assert _items(org, scoring_journey, past, north, keys) == expected
    with django_assert_num_queries(0):
        assert _items(org, scoring_journey, past, north, keys, version) == expected

    # Today's answers: read; the cached part stays valid (a settled period: still no query).
    response_store.add_many(_rows(scoring_journey, [today], 8))
    responses_process(organization_id=org.pk)
    assert _settled(org, scoring_journey) == version
    with django_assert_num_queries(0):
        assert _items(org, scoring_journey, past, north, keys, version) == expected
    assert _items(org, scoring_journey, flt, north, keys) == _raw_items(org, flt, north, keys)
    assert _items(org, scoring_journey, flt, north, keys) != first

    # A late answer of a settled day, then a rescoring: the settled version moves on.
    response_store.add_many(_rows(scoring_journey, [today - timedelta(days=70)], 6))
    responses_process(organization_id=org.pk)
    assert _items(org, scoring_journey, past, north, keys) == _raw_items(org, past, north, keys)
    assert _raw_items(org, past, north, keys) != expected
    journey_rescore(organization=org, actor=None, journey=scoring_journey)
    assert _items(org, scoring_journey, flt, north, keys) == _raw_items(org, flt, north, keys)

"""The report's importance read under a segment filter, grouped as a comparison on the same page
groups its values (`comparison.compared_groups`), and the comparison's read (`_segment_importance`):
each equal to the customers' own pairs and to the value's importance read on its own, whatever the
sets (several allowed values, sets without the compared attribute, a value stored as a number, a
value with no set under the filter, a value cached already, the compared attribute one of the
filter's), and the comparison's settled part the report's cached one when the groups agree."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache

from apps.scoring import comparison, selectors
from apps.scoring.filters import ReportFilter, organization_today
from apps.scoring.models import AttributeSet, RespondentScore, ScoringState
from apps.scoring.services import responses_process
from tests.scoring.conftest import ResponseRow, rating_key

REGIONS = ("1", "2", "3")
CHANNELS = ("web", "shop", "app")


def _own(org, flt, set_ids):
    tables: dict = {}
    for tp_id, score, outcome in (
        RespondentScore.objects.for_organization(org)
        .filter(day__gte=flt.date_from, day__lte=flt.date_to, outcome__isnull=False,
                attribute_set_id__in=set_ids)
        .values_list("touchpoint_id", "score", "outcome")
    ):  # fmt: skip
        tables.setdefault(tp_id, Counter())[(float(score), float(outcome))] += 1
    return {tp: selectors.spearman_from_counts(t) for tp, t in tables.items()}


@pytest.fixture
def mixed(org, scoring_journey, response_store):
    """Sets with and without region; region "3" only on channel shop; days settled and live;
    one set's region stored as an int (1) besides sets with the string "1"."""
    today = organization_today(org)
    t1, t2, _ = scoring_journey.touchpoints_in_order
    days = [today - timedelta(days=d) for d in (0, 1, 45, 50, 60, 70)]
    rows = []
    for i in range(240):
        channel = CHANNELS[i % 3]
        region = REGIONS[(i // 3) % 3]
        segment = {"channel": channel}
        if i % 7:  # some sets lack the compared attribute
            if region == "3" and channel != "shop":
                region = "2"
            segment["region"] = region
        rows.append(
            ResponseRow(
                "customer",
                {rating_key(t1, "ease"): 1 + (i * 3) % 5, rating_key(t2, "ease"): 1 + (i * 5) % 5,
                 "nps": (i * 7) % 11},
                segment=segment,
                day=days[i % len(days)],
            )
        )  # fmt: skip
    response_store.add_many(rows)
    responses_process(organization_id=org.pk)
    # One set's region as a non-string (as JSON allows), others keep "1".
    target = next(
        s for s in AttributeSet.objects.for_organization(org)
        if s.values == {"channel": "web", "region": "1"}
    )  # fmt: skip
    AttributeSet.objects.for_organization(org).filter(pk=target.pk).update(
        values={"channel": "web", "region": 1}
    )
    return scoring_journey


def _check(org, journey, flt, compare, django_assert_num_queries, expect_hit):
    choices = comparison.segment_choices(organization=org, journey=journey)
    state = ScoringState.objects.for_organization(org).get(journey=journey)
    groups = comparison.compared_groups(choices, flt, compare)
    set_ids = choices.set_ids(flt)
    assert groups is not None and set(groups) == set(set_ids)
    cache.clear()
    report = selectors.derived_importance(
        organization=org, journey=journey, report_filter=flt, set_ids=set_ids,
        version=state.version, settled_version=state.settled_version, groups=groups,
    )  # fmt: skip
    assert report == _own(org, flt, set_ids)
    values = choices.values[compare]
    filters = {v: comparison.narrowed(flt, compare, v) for v in values}
    value_sets = {
        v: [pk for pk, attrs in choices.sets.items() if f.matches(attrs)]
        for v, f in filters.items()
    }
    if expect_hit:
        with django_assert_num_queries(0):
            compared = comparison._segment_importance(
                org, journey, (state.version, state.settled_version), filters, value_sets, groups
            )
    else:
        compared = comparison._segment_importance(
            org, journey, (state.version, state.settled_version), filters, value_sets, groups
        )
    for v in values:
        assert compared[v] == _own(org, filters[v], value_sets[v]), v
        # and equal to the report of the narrowed filter on its own
        cache.delete(selectors.importance_cache_key(org, journey, filters[v], state.version))
        alone = selectors.derived_importance(
            organization=org, journey=journey, report_filter=filters[v],
            set_ids=value_sets[v] if value_sets[v] else [],
            version=state.version, settled_version=state.settled_version,
        )  # fmt: skip
        assert compared[v] == alone, v
    return groups, value_sets, compared


def test_a_value_without_sets_under_the_filter_still_shares_the_read(
    org, mixed, django_assert_num_queries
):
    today = organization_today(org)
    flt = ReportFilter(today - timedelta(days=89), today - timedelta(days=40),
                       {"channel": ["web", "app"]})  # fmt: skip
    groups, value_sets, _compared = _check(
        org, mixed, flt, "region", django_assert_num_queries, expect_hit=True
    )
    assert -1 in groups.values()
    assert value_sets["3"] == []  # region 3 only on shop


def test_every_value_with_sets_shares_the_read(org, mixed, django_assert_num_queries):
    today = organization_today(org)
    flt = ReportFilter(today - timedelta(days=89), today - timedelta(days=40),
                       {"channel": ["web", "shop"]})  # fmt: skip
    groups, value_sets, _ = _check(
        org, mixed, flt, "region", django_assert_num_queries, expect_hit=True
    )
    assert -1 in groups.values() and all(value_sets.values())


def test_with_today_in_the_period_the_live_part_is_read(org, mixed, django_assert_num_queries):
    today = organization_today(org)
    flt = ReportFilter(today - timedelta(days=89), today, {"channel": ["web", "shop"]})
    _check(org, mixed, flt, "region", django_assert_num_queries, expect_hit=False)


def test_a_value_cached_already_leaves_the_others_read_on_their_own(org, mixed):
    """One value's importance cached already: the others read per missing value."""
    today = organization_today(org)
    flt = ReportFilter(today - timedelta(days=89), today, {"channel": ["web", "shop"]})
    choices = comparison.segment_choices(organization=org, journey=mixed)
    state = ScoringState.objects.for_organization(org).get(journey=mixed)
    groups = comparison.compared_groups(choices, flt, "region")
    values = choices.values["region"]
    filters = {v: comparison.narrowed(flt, "region", v) for v in values}
    value_sets = {
        v: [pk for pk, a in choices.sets.items() if f.matches(a)] for v, f in filters.items()
    }
    versions = (state.version, state.settled_version)
    first = comparison._segment_importance(
        org, mixed, versions, {values[1]: filters[values[1]]}, value_sets, None
    )
    both = comparison._segment_importance(org, mixed, versions, filters, value_sets, groups)
    assert both[values[1]] == first[values[1]]
    for v in values:
        assert both[v] == _own(org, filters[v], value_sets[v]), v


def test_comparing_one_of_the_filters_attributes_reads_each_value_on_its_own(org, mixed):
    """Not what the dashboard passes (it drops such a compare): its values' sets are not the
    filter's, so no grouping is shared and each value still gets its own sets' importance."""
    today = organization_today(org)
    flt = ReportFilter(today - timedelta(days=89), today - timedelta(days=40),
                       {"region": ["1", "2"]})  # fmt: skip
    choices = comparison.segment_choices(organization=org, journey=mixed)
    state = ScoringState.objects.for_organization(org).get(journey=mixed)
    values = choices.values["region"]
    filters = {v: comparison.narrowed(flt, "region", v) for v in values}
    value_sets = {
        v: [pk for pk, a in choices.sets.items() if f.matches(a)] for v, f in filters.items()
    }
    groups = comparison.compared_groups(choices, flt, "region")
    assert groups is None
    got = comparison._segment_importance(
        org, mixed, (state.version, state.settled_version), filters, value_sets, groups
    )
    assert value_sets["3"]
    assert got["3"] == _own(org, filters["3"], value_sets["3"])

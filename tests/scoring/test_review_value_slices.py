"""ImportancePairValueSpanCount (scoring.0008) where data changes under it:

- A personal-data erasure rewrites the address in every text column of the organisation's
  tables, the attribute sets' values included: the table, whose text columns are derived from
  those values, keyed and bounded, is counted afresh from them (two spellings of one address
  become one value; a value the pseudonym makes too long leaves it), and the erasure succeeds.
- `value_slices` ignores sets holding other JSON than strings (lists, objects, no values).
- A set a batch creates between the caller's read of the sets and the pairs' read counts in
  every part of the read alike (each row grouped by its set's value as the statement reads it).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apps.scoring import selectors
from apps.scoring.filters import ReportFilter, organization_today
from apps.scoring.models import AttributeSet, ImportancePairValueSpanCount
from apps.scoring.services import responses_process
from tests.scoring.conftest import ResponseRow, assert_rollups_match, rating_key

EMAIL = "maija@example.com"


def _process(org, journey, response_store, segments):
    t1, _t2, _t3 = journey.touchpoints_in_order
    today = organization_today(org)
    response_store.add_many(
        ResponseRow(
            "customer",
            {rating_key(t1, "ease"): 4, "nps": 9},  # one (score, outcome) pair for all
            segment=segment,
            day=today - timedelta(days=40),
        )
        for segment in segments
    )
    responses_process(organization_id=org.pk)
    assert_rollups_match(org.pk)


def _erase(org, admin):
    client = APIClient()
    client.force_authenticate(admin)
    url = reverse("api:privacy-erasure", kwargs={"org_slug": org.slug})
    return client.post(url, {"email": EMAIL, "confirm": True}, format="json")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "segments",
    [
        # one address in two spellings: after the scrub, two rows of one key
        [{"contact": "Maija@Example.com"}, {"contact": EMAIL}],
        # a value the table holds (<= 200 characters) that the pseudonym makes longer than that
        [{"note": "x" * 170 + " " + EMAIL}],
    ],
    ids=["two-spellings", "near-the-bound"],
)
def test_erasure_of_an_address_in_segment_values(
    org, admin, scoring_journey, response_store, segments
):
    _process(org, scoring_journey, response_store, segments)
    assert ImportancePairValueSpanCount.objects.for_organization(org).exists()
    answer = _erase(org, admin)  # IntegrityError / DataError here with the change as it is
    assert answer.status_code == 200, answer.content
    # ...and what the table holds is still its sets' months summed per value.
    assert_rollups_match(org.pk)


def test_value_slices_ignore_sets_holding_other_json():
    sets = {
        1: {"channel": "web"},
        2: {"channel": ["web"]},  # a list: unhashable
        3: {"channel": {"a": 1}},  # an object: unhashable
        4: None,  # a set without values (attribute_set_ids reads it as {})
    }
    # The table holds set 1's pairs under "web" and nothing of 2-4: "web" is exactly set 1.
    assert selectors.value_slices(sets, {1: 0}, "channel") in (("channel", {"web": 0}, 4), None)


def test_a_set_created_after_the_sets_were_read(org, scoring_journey, response_store):
    """The reader's sets are a snapshot (segment_choices, gap_report_input read them first);
    a batch committing before the pairs' read adds a new set of the value to the value table's
    months but not to the sets' quarters, weeks and days, and a plan "month less a day" would
    count the new set's customers of the subtracted day (outside the period). The statement
    reads the organisation's newest set too and the read then goes per set: it equals the
    per-set read of the same snapshot."""
    today = organization_today(org)
    # A past month, wholly settled, holding the customers `_process` writes (40 days ago).
    month = (today - timedelta(days=40)).replace(day=1)
    month_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    # web over ten regions: a month per value costs less than the sets' (`_VALUE_MONTH_COST`)
    _process(org, scoring_journey, response_store,
             [{"channel": "web", "region": f"r{i}"} for i in range(10)])  # fmt: skip
    sets = dict(AttributeSet.objects.for_organization(org).values_list("pk", "values"))
    groups = {pk: 0 for pk, attrs in sets.items() if attrs.get("channel") == "web"}
    values = selectors.value_slices(sets, groups, "channel")
    assert values == ("channel", {"web": 0}, max(sets))
    # ...a batch commits: a new set of the value, its customer on the month's first day.
    t1, _t2, _t3 = scoring_journey.touchpoints_in_order
    response_store.add_many([
        ResponseRow("customer", {rating_key(t1, "ease"): 2, "nps": 3},
                    segment={"channel": "web", "region": "east"}, day=month),
    ])  # fmt: skip
    responses_process(organization_id=org.pk)
    flt = ReportFilter(month + timedelta(days=1), month_end, {"channel": ["web"]})

    def read(values):
        with CaptureQueriesContext(connection) as captured:
            counts = selectors.pair_counts_by_set(
                organization=org, journey=scoring_journey, report_filter=flt,
                set_ids=sorted(groups), groups=groups, values=values,
            )  # fmt: skip
        table = ImportancePairValueSpanCount._meta.db_table
        return counts, any(table in q["sql"] for q in captured.captured_queries)

    (per_set, _), (per_value, read_values) = read(None), read(values)
    assert read_values  # the months per value were read
    assert per_value == per_set

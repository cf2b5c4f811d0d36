"""Shared set-up for scoring tests: a small journey, its published paired questionnaire, a fast
way to store responses, and the aggregates both as stored and as computed from raw answers.

    def test_something(scoring_journey, scoring_questionnaire, response_store):
        tp = scoring_journey.touchpoints_in_order[0]
        response_store.add("customer", {rating_key(tp, "ease"): 4, "nps": 9}, segment={"r": "s"})
        responses_process(organization_id=response_store.organization_id)

Answers map item keys to an integer value, NA ("not applicable") or a text; keys left out are
unanswered. `response_store` bypasses the respondent form (no validation, one bulk insert per
call), so it is quick enough for thousands of responses.
"""

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.distribution.services import link_create
from apps.responses.models import Answer, PendingResponse, Response
from apps.responses.selectors import respondent_items
from apps.responses.services import Respondent, field_name, response_submit
from apps.scoring.models import (
    AttributeSet,
    ImportancePairDayCount,
    ImportancePairSetMonthCount,
    ImportancePairSetSpanCount,
    ImportancePairSpanCount,
    ImportancePairValueSpanCount,
    ItemDayCount,
    ItemDayTotal,
    ItemSpanCount,
    RespondentScore,
    TouchpointDayAggregate,
    TouchpointDayTotal,
    TouchpointSpanAggregate,
)
from apps.surveys.models import Audience, Item, ItemKind
from apps.surveys.services import questionnaire_generate, questionnaire_publish
from tests.factories import JourneyFactory, StageFactory, TouchpointFactory
from tests.journeys.helpers import principal

NA = "na"
DAY = date(2026, 3, 2)
DIMENSIONS = ("effectiveness", "ease", "emotion")


def rating_key(touchpoint, dimension: str) -> str:
    """The item key of a touchpoint's rating item for one dimension (shared by both audiences)."""
    return f"tp:{touchpoint.pk}:{dimension}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The debounce keys and the sweeper's notes live in the cache: none carried between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def scoring_journey(org):
    """A journey with three touchpoints in two stages: Web shop (importance 4), Support (3),
    Invoice (2). `journey.touchpoints_in_order` lists them in journey order."""
    journey = JourneyFactory(organization=org, name="Scoring journey")
    buy = StageFactory(journey=journey, name="Buy", position=0)
    use = StageFactory(journey=journey, name="Use", position=1)
    journey.touchpoints_in_order = [
        TouchpointFactory(stage=buy, name="Web shop", position=0, importance=4),
        TouchpointFactory(stage=use, name="Support", position=0, importance=3),
        TouchpointFactory(stage=use, name="Invoice", position=1, importance=2),
    ]
    return journey


@pytest.fixture
def scoring_questionnaire(org, analyst, scoring_journey):
    """The journey's generated paired questionnaire (ratings 1-5 with "not applicable", NPS
    0-10, overall 1-5), published."""
    actor = principal(org, analyst)
    questionnaire = questionnaire_generate(organization=org, actor=actor, journey=scoring_journey)
    questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    return questionnaire


@dataclass
class ResponseRow:
    audience: str
    answers: Mapping[str, int | str]
    segment: dict[str, str] = field(default_factory=dict)
    day: date = DAY


class ResponseStore:
    """Stores responses to one questionnaire's published version straight into the tables."""

    def __init__(self, questionnaire):
        self.questionnaire = questionnaire
        self.organization_id = questionnaire.organization_id
        self.version_id = questionnaire.published_version_id
        items = Item.objects.for_organization(self.organization_id).filter(
            version_id=self.version_id
        )
        self.items = {(item.audience, item.key): item for item in items}

    def item(self, audience: str, key: str) -> Item:
        return self.items[(audience, key)]

    def add(
        self,
        audience: str,
        answers: Mapping[str, int | str],
        *,
        segment: dict[str, str] | None = None,
        day: date = DAY,
    ) -> Response:
        return self.add_many([ResponseRow(audience, answers, segment or {}, day)])[0]

    def add_many(self, rows: Iterable[ResponseRow]) -> list[Response]:
        rows = list(rows)
        now = timezone.now()
        responses = Response.objects.bulk_create(
            [
                Response(
                    organization_id=self.organization_id,
                    questionnaire_id=self.questionnaire.pk,
                    version_id=self.version_id,
                    audience=row.audience,
                    segment=dict(row.segment),
                    idempotency_key=uuid.uuid4(),
                    submitted_on=row.day,
                    submitted_at=now if row.audience == Audience.CUSTOMER else None,
                    language="en",
                )
                for row in rows
            ]
        )
        # As the submission does: each stored response waits for the pipeline.
        PendingResponse.objects.bulk_create(
            PendingResponse(organization_id=self.organization_id, response=response)
            for response in responses
        )
        answers = []
        for response, row in zip(responses, rows, strict=True):
            for key, given in row.answers.items():
                item = self.item(row.audience, key)
                answer = Answer(organization_id=self.organization_id, response=response, item=item)
                if given == NA:
                    answer.not_applicable = True
                elif isinstance(given, str):
                    answer.text = given
                else:
                    answer.value = given
                answers.append(answer)
        Answer.objects.bulk_create(answers)
        return responses


@pytest.fixture
def response_store(scoring_questionnaire) -> ResponseStore:
    return ResponseStore(scoring_questionnaire)


@pytest.fixture
def survey_link(org, analyst, scoring_questionnaire):
    """make(audience="customer", context=None): a public link to one side of the questionnaire."""

    def make(audience: str = "customer", context: dict[str, str] | None = None):
        return link_create(
            organization=org, actor=principal(org, analyst), questionnaire=scoring_questionnaire,
            audience=audience, name=f"{audience} {uuid.uuid4().hex[:6]}", context=context,
        )  # fmt: skip

    return make


def submit_response(link, answers: Mapping[str, int | str], segment: dict[str, str] | None = None):
    """Store a response through the respondent service, as the form would post it: screening
    "yes" for the touchpoints answered, "no" for the others. Returns the Response (or None)."""
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    used = {item.touchpoint_id for item in items if item.key in answers}
    data: dict[str, list[str]] = {}
    for item in items:
        if item.kind == ItemKind.SCREENING:
            data[field_name(item)] = ["yes" if item.touchpoint_id in used else "no"]
        elif item.key in answers:
            data[field_name(item)] = [str(answers[item.key])]
    respondent = Respondent(
        idempotency_key=uuid.uuid4(), language="en",
        started_at=timezone.now() - timedelta(seconds=60), segment=dict(segment or {}),
    )  # fmt: skip
    return response_submit(link=link, items=items, data=data, respondent=respondent)


# --- aggregates: stored, and computed in Python from the raw answers -------------------------


def _segment_key(values) -> str:
    return json.dumps({str(k): str(v) for k, v in (values or {}).items()}, sort_keys=True)


@dataclass
class Aggregates:
    """Comparable contents of the three aggregate tables (attribute sets by their values)."""

    item_days: dict[tuple, int]
    touchpoint_days: dict[tuple, tuple[int, float, float]]
    respondents: dict[tuple, tuple[float, float | None]]

    def assert_equal(self, other: "Aggregates", tolerance: float = 1e-9) -> None:
        assert self.item_days == other.item_days
        assert self.touchpoint_days.keys() == other.touchpoint_days.keys()
        for key, (n, total, total_sq) in self.touchpoint_days.items():
            n2, total2, total_sq2 = other.touchpoint_days[key]
            assert n == n2, key
            assert math.isclose(total, total2, rel_tol=tolerance, abs_tol=tolerance), key
            assert math.isclose(total_sq, total_sq2, rel_tol=tolerance, abs_tol=tolerance), key
        assert self.respondents.keys() == other.respondents.keys()
        for key, (score, outcome) in self.respondents.items():
            score2, outcome2 = other.respondents[key]
            assert math.isclose(score, score2, rel_tol=tolerance, abs_tol=tolerance), key
            assert (outcome is None) == (outcome2 is None), key
            if outcome is not None:
                assert math.isclose(outcome, outcome2, rel_tol=tolerance, abs_tol=tolerance), key


def assert_rollups_match(organization_id: int) -> None:
    """The rollups over attribute sets equal the per-set rows summed over the sets, and the
    importance pairs (over all sets, and per set and month) equal the customers'
    RespondentScore rows with an outcome, counted."""
    scope = organization_id
    items: dict[tuple, int] = defaultdict(int)
    for *key, count in ItemDayCount.objects.for_organization(scope).values_list(
        "journey_id", "questionnaire_id", "item_key", "audience", "day", "scale_lo", "scale_hi",
        "value", "count",
    ):  # fmt: skip
        items[tuple(key)] += count
    item_totals = {
        tuple(key): count
        for *key, count in ItemDayTotal.objects.for_organization(scope).values_list(
            "journey_id",
            "questionnaire_id",
            "item_key",
            "audience",
            "day",
            "scale_lo",
            "scale_hi",
            "value",
            "count",
        )
    }
    assert item_totals == items
    moments: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for *key, n, total, total_sq in TouchpointDayAggregate.objects.for_organization(
        scope
    ).values_list(
        "journey_id", "questionnaire_id", "touchpoint_id", "audience", "day", "n", "total",
        "total_sq",
    ):  # fmt: skip
        cell = moments[tuple(key)]
        cell[0] += n
        cell[1] += total
        cell[2] += total_sq
    totals = {
        tuple(key): (n, total, total_sq)
        for *key, n, total, total_sq in TouchpointDayTotal.objects.for_organization(
            scope
        ).values_list(
            "journey_id",
            "questionnaire_id",
            "touchpoint_id",
            "audience",
            "day",
            "n",
            "total",
            "total_sq",
        )
    }
    assert totals.keys() == moments.keys()
    for key, (n, total, total_sq) in totals.items():
        expected_n, expected_total, expected_sq = moments[key]
        assert n == expected_n, key
        assert math.isclose(total, expected_total, rel_tol=1e-9, abs_tol=1e-9), key
        assert math.isclose(total_sq, expected_sq, rel_tol=1e-9, abs_tol=1e-9), key
    pairs: dict[tuple, int] = defaultdict(int)
    for key in (
        RespondentScore.objects.for_organization(scope)
        .filter(outcome__isnull=False)
        .values_list("journey_id", "questionnaire_id", "touchpoint_id", "day", "score", "outcome")
    ):
        pairs[key] += 1
    counted = {
        tuple(key): count
        for *key, count in ImportancePairDayCount.objects.for_organization(scope).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "day", "score", "outcome", "count"
        )
    }
    assert counted == pairs
    # ...and per attribute set and month.
    set_pairs: dict[tuple, int] = defaultdict(int)
    for *key, day, score, outcome in (
        RespondentScore.objects.for_organization(scope)
        .filter(outcome__isnull=False)
        .values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "attribute_set_id", "day",
            "score", "outcome",
        )
    ):  # fmt: skip
        set_pairs[(*key, day.replace(day=1), score, outcome)] += 1
    set_counted = {
        tuple(key): count
        for *key, count in ImportancePairSetMonthCount.objects.for_organization(
            scope
        ).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "attribute_set_id", "month",
            "score", "outcome", "count",
        )
    }  # fmt: skip
    assert set_counted == set_pairs
    # ...and per attribute set, week (days 1-7, 8-14, 15-21, 22-end) and quarter.
    span_pairs: dict[tuple, int] = defaultdict(int)
    for *key, day, score, outcome in (
        RespondentScore.objects.for_organization(scope)
        .filter(outcome__isnull=False)
        .values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "attribute_set_id", "day",
            "score", "outcome",
        )
    ):  # fmt: skip
        week = day.replace(day=min(22, (day.day - 1) // 7 * 7 + 1))
        quarter = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        span_pairs[(*key, "week", week, score, outcome)] += 1
        span_pairs[(*key, "quarter", quarter, score, outcome)] += 1
    span_counted = {
        tuple(key): count
        for *key, count in ImportancePairSetSpanCount.objects.for_organization(
            scope
        ).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "attribute_set_id", "span",
            "start", "score", "outcome", "count",
        )
    }  # fmt: skip
    assert span_counted == span_pairs
    # ...and per value of each attribute of the sets (strings only), per month.
    set_values = dict(AttributeSet.objects.for_organization(scope).values_list("pk", "values"))
    value_pairs: dict[tuple, int] = defaultdict(int)
    for (
        journey_id,
        questionnaire_id,
        tp_id,
        set_id,
        month,
        score,
        outcome,
    ), count in set_pairs.items():
        for name, value in (set_values[set_id] or {}).items():
            if isinstance(value, str) and len(name) <= 100 and len(value) <= 200:
                key = (journey_id, questionnaire_id, tp_id, name, value)
                value_pairs[(*key, "month", month, score, outcome)] += count
    value_counted = {
        tuple(key): count
        for *key, count in ImportancePairValueSpanCount.objects.for_organization(
            scope
        ).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "attribute", "value", "span",
            "start", "score", "outcome", "count",
        )
    }  # fmt: skip
    assert value_counted == value_pairs
    # ...and over the sets per week, month and quarter, from the daily counts.
    total_spans: dict[tuple, int] = defaultdict(int)
    for (journey_id, questionnaire_id, tp_id, day, score, outcome), count in pairs.items():
        key = (journey_id, questionnaire_id, tp_id)
        total_spans[(*key, "week", day.replace(day=min(22, (day.day - 1) // 7 * 7 + 1)),
                     score, outcome)] += count  # fmt: skip
        total_spans[(*key, "month", day.replace(day=1), score, outcome)] += count
        total_spans[(*key, "quarter", date(day.year, (day.month - 1) // 3 * 3 + 1, 1),
                     score, outcome)] += count  # fmt: skip
    total_counted = {
        tuple(key): count
        for *key, count in ImportancePairSpanCount.objects.for_organization(scope).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "span", "start", "score",
            "outcome", "count",
        )
    }  # fmt: skip
    assert total_counted == total_spans
    # The touchpoint moments per set and week, month and quarter: the days' summed.
    moment_spans: dict[tuple, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for *key, day, n, total, total_sq in TouchpointDayAggregate.objects.for_organization(
        scope
    ).values_list(
        "journey_id", "questionnaire_id", "touchpoint_id", "audience", "attribute_set_id", "day",
        "n", "total", "total_sq",
    ):  # fmt: skip
        for span, start in (
            ("week", day.replace(day=min(22, (day.day - 1) // 7 * 7 + 1))),
            ("month", day.replace(day=1)),
            ("quarter", date(day.year, (day.month - 1) // 3 * 3 + 1, 1)),
        ):
            sums = moment_spans[(*key, span, start)]
            sums[0] += n
            sums[1] += total
            sums[2] += total_sq
    stored_spans = {
        tuple(key): (n, total, total_sq)
        for *key, n, total, total_sq in TouchpointSpanAggregate.objects.for_organization(
            scope
        ).values_list(
            "journey_id", "questionnaire_id", "touchpoint_id", "audience", "attribute_set_id",
            "span", "start", "n", "total", "total_sq",
        )
    }  # fmt: skip
    assert stored_spans.keys() == moment_spans.keys()
    for key, (n, total, total_sq) in stored_spans.items():
        expected_n, expected_total, expected_sq = moment_spans[key]
        assert n == expected_n, key
        assert math.isclose(total, expected_total, rel_tol=1e-9, abs_tol=1e-9), key
        assert math.isclose(total_sq, expected_sq, rel_tol=1e-9, abs_tol=1e-9), key
    # The customers' item counts per set and month: the days' summed.
    item_spans: dict[tuple, int] = defaultdict(int)
    for *key, day, lo, hi, value, count in (
        ItemDayCount.objects.for_organization(scope)
        .filter(audience="customer")
        .values_list(
            "journey_id", "questionnaire_id", "item_key", "attribute_set_id", "day", "scale_lo",
            "scale_hi", "value", "count",
        )
    ):  # fmt: skip
        item_spans[(*key, "month", day.replace(day=1), lo, hi, value)] += count
    stored_item_spans = {
        tuple(key): count
        for *key, count in ItemSpanCount.objects.for_organization(scope).values_list(
            "journey_id", "questionnaire_id", "item_key", "attribute_set_id", "span", "start",
            "scale_lo", "scale_hi", "value", "count",
        )
    }  # fmt: skip
    assert stored_item_spans == item_spans


def stored_aggregates(organization_id: int) -> Aggregates:
    """What the pipeline stored for the organisation (having checked that the rollups over
    attribute sets agree with the per-set rows)."""
    assert_rollups_match(organization_id)
    item_days = {
        (
            row.questionnaire_id, row.item_key, row.audience,
            _segment_key(row.attribute_set.values), row.day, row.scale_lo, row.scale_hi,
            row.value,
        ): row.count
        for row in ItemDayCount.objects.for_organization(organization_id).select_related(
            "attribute_set"
        )
    }  # fmt: skip
    touchpoint_days = {
        (
            row.questionnaire_id, row.touchpoint_id, row.audience,
            _segment_key(row.attribute_set.values), row.day,
        ): (row.n, row.total, row.total_sq)
        for row in TouchpointDayAggregate.objects.for_organization(
            organization_id
        ).select_related("attribute_set")
    }  # fmt: skip
    respondents = {
        (row.response_id, row.touchpoint_id, _segment_key(row.attribute_set.values), row.day): (
            row.score,
            row.outcome,
        )
        for row in RespondentScore.objects.for_organization(organization_id).select_related(
            "attribute_set"
        )
    }
    return Aggregates(item_days, touchpoint_days, respondents)


def _normalised(value: int, item: Item) -> float:
    return 100 * (value - item.scale_lo) / (item.scale_hi - item.scale_lo)


def is_processed(response: Response) -> bool:
    """Counted by the scoring pipeline: the response has no pending row left."""
    return (
        not PendingResponse.objects.for_organization(response.organization_id)
        .filter(response_id=response.pk)
        .exists()
    )


def expected_aggregates(organization_id: int, *, only_processed: bool = False) -> Aggregates:
    """SCORING.md sections 1-4 applied directly to every stored response of the organisation
    (or only to those marked processed)."""
    answers = (
        Answer.objects.for_organization(organization_id)
        .select_related("item", "response")
        .order_by("response_id", "id")
    )
    if only_processed:
        answers = answers.filter(response__pending__isnull=True)
    by_response: dict[int, list[Answer]] = defaultdict(list)
    responses = {}
    for answer in answers:
        by_response[answer.response_id].append(answer)
        responses[answer.response_id] = answer.response
    nps_versions = set(
        Item.objects.for_organization(organization_id)
        .filter(kind=ItemKind.NPS, audience=Audience.CUSTOMER)
        .values_list("version_id", flat=True)
    )
    item_days: dict[tuple, int] = defaultdict(int)
    scores: dict[tuple, list[float]] = defaultdict(list)
    respondents = {}
    for response_id, given in by_response.items():
        response = responses[response_id]
        segment = _segment_key(response.segment)
        per_touchpoint: dict[int, list[float]] = defaultdict(list)
        outcomes = {}
        for answer in given:
            item = answer.item
            if item.kind not in (ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL):
                continue
            if answer.value is None or answer.not_applicable:
                continue
            item_days[
                (response.questionnaire_id, item.key, response.audience, segment,
                 response.submitted_on, item.scale_lo, item.scale_hi, answer.value)
            ] += 1  # fmt: skip
            if item.kind == ItemKind.RATING and item.touchpoint_id and item.dimension:
                per_touchpoint[item.touchpoint_id].append(_normalised(answer.value, item))
            if item.kind in (ItemKind.NPS, ItemKind.OVERALL):
                outcomes[item.kind] = _normalised(answer.value, item)
        outcome_kind = ItemKind.NPS if response.version_id in nps_versions else ItemKind.OVERALL
        for touchpoint_id, values in per_touchpoint.items():
            score = sum(values) / len(values)
            scores[
                (response.questionnaire_id, touchpoint_id, response.audience, segment,
                 response.submitted_on)
            ].append(score)  # fmt: skip
            if response.audience == Audience.CUSTOMER:
                respondents[(response_id, touchpoint_id, segment, response.submitted_on)] = (
                    score,
                    outcomes.get(outcome_kind),
                )
    touchpoint_days = {
        key: (len(values), sum(values), sum(v * v for v in values))
        for key, values in scores.items()
    }
    return Aggregates(dict(item_days), touchpoint_days, respondents)


def a_day(offset: int) -> date:
    return DAY + timedelta(days=offset)

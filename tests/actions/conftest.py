"""Improvement action tests: the scoring tests' journey, questionnaire and response store, and a
data set with a blind spot on the Web shop's ease before the action starts and customers much
happier after it, processed by the real pipeline into the aggregates."""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from apps.scoring.services import responses_process_pending
from tests.distribution.mail_fixtures import smtp  # noqa: F401 - a fixture
from tests.journeys.helpers import principal
from tests.scoring.conftest import (  # noqa: F401 - fixtures
    DAY,
    ResponseRow,
    _fresh_cache,
    rating_key,
    response_store,
    scoring_journey,
    scoring_questionnaire,
)

# The action starts 30 days after the scoring tests' day: their DAY is inside the baseline.
START = DAY + timedelta(days=30)
TODAY = START + timedelta(days=9)

# Raw 1-5 answers, one per respondent.
BASELINE_CUSTOMER_EASE = [1, 2, 2, 3, 1, 2, 3, 2, 1, 2, 2, 3, 2, 1, 2, 3, 2, 2, 1, 2]
BASELINE_CUSTOMER_EFFECTIVENESS = [2, 3, 2, 3, 2, 2, 3, 3, 2, 2, 3, 2, 2, 2, 3, 3, 2, 2, 2, 3]
BASELINE_EMPLOYEE_EASE = [4, 5, 4, 5, 4, 4, 5, 5, 4, 4, 5, 4]
SINCE_CUSTOMER_EASE = [4, 3, 4, 5, 4, 3, 4, 4, 5, 3, 4, 4, 3, 4, 5, 4, 4, 3, 4, 4]
SINCE_CUSTOMER_EFFECTIVENESS = [3, 4, 3, 4, 4, 3, 4, 3, 4, 4, 3, 4, 4, 3, 4, 4, 3, 4, 3, 4]
SINCE_EMPLOYEE_EASE = [4, 5, 4, 4, 4, 5, 4, 5, 4, 4, 5, 4]


def normalised(values: list[int]) -> list[float]:
    return [100 * (v - 1) / 4 for v in values]


@dataclass
class Planted:
    journey: object
    web: object
    support: object
    invoice: object


def _store(store, web, customer_ease, customer_effectiveness, employee_ease, day: date):
    rows = [
        ResponseRow(
            "customer",
            {rating_key(web, "ease"): ease, rating_key(web, "effectiveness"): effectiveness},
            {},
            day + timedelta(days=i % 5),
        )
        for i, (ease, effectiveness) in enumerate(
            zip(customer_ease, customer_effectiveness, strict=True)
        )
    ]
    rows += [
        ResponseRow("employee", {rating_key(web, "ease"): ease}, {}, day + timedelta(days=i % 5))
        for i, ease in enumerate(employee_ease)
    ]
    store.add_many(rows)


@pytest.fixture
def planted(org, scoring_journey, response_store) -> Planted:  # noqa: F811
    """Baseline answers on DAY..DAY+4, answers since the start on START..START+4, processed."""
    web, support, invoice = scoring_journey.touchpoints_in_order
    _store(response_store, web, BASELINE_CUSTOMER_EASE, BASELINE_CUSTOMER_EFFECTIVENESS,
           BASELINE_EMPLOYEE_EASE, DAY)  # fmt: skip
    _store(response_store, web, SINCE_CUSTOMER_EASE, SINCE_CUSTOMER_EFFECTIVENESS,
           SINCE_EMPLOYEE_EASE, START)  # fmt: skip
    responses_process_pending(organization_id=org.pk)
    return Planted(scoring_journey, web, support, invoice)


@pytest.fixture
def journey_owner(org, viewer, scoring_journey):  # noqa: F811
    """The viewer owns the journey: object rights over its actions whatever their role."""
    scoring_journey.owner = viewer
    scoring_journey.save(update_fields=["owner"])
    return viewer


@pytest.fixture
def make_action(org, analyst, scoring_journey):  # noqa: F811
    """make(**overrides): an action on the Web shop's ease started at START, by the analyst."""
    from apps.actions.services import action_create

    def make(**overrides):
        kwargs = {
            "organization": org,
            "actor": principal(org, analyst),
            "journey": scoring_journey,
            "touchpoint_id": scoring_journey.touchpoints_in_order[0].pk,
            "dimension": "ease",
            "title": "Simpler checkout",
            "owner_id": analyst.pk,
            "due_date": START + timedelta(days=60),
            "source": "blind_spot",
            "today": START,
        }
        kwargs.update(overrides)
        return action_create(**kwargs)

    return make

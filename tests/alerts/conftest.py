"""Alert tests reuse the scoring tests' journey (Web shop, Support, Invoice; ratings 1-5, NPS
0-10, overall 1-5), its published questionnaire and the quick response store."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.alerts.models import Alert
from apps.scoring.services import responses_process
from tests.distribution.mail_fixtures import smtp  # noqa: F401 - a fixture
from tests.factories import MembershipFactory
from tests.scoring.conftest import (  # noqa: F401 - fixtures
    _fresh_cache,
    rating_key,
    response_store,
    scoring_journey,
    scoring_questionnaire,
    survey_link,
)

T0 = timezone.now().replace(microsecond=0)


def unhappy(journey, touchpoint_index: int = 0, value: int = 1) -> dict:
    """Answers with a bottom-box ease rating on one touchpoint; NPS 9, overall 4 (happy)."""
    tp = journey.touchpoints_in_order[touchpoint_index]
    return {
        rating_key(tp, "ease"): value,
        rating_key(tp, "effectiveness"): 4,
        "nps": 9,
        "overall": 4,
    }


def happy(journey) -> dict:
    tp = journey.touchpoints_in_order[0]
    return {rating_key(tp, "ease"): 5, rating_key(tp, "emotion"): 4, "nps": 10, "overall": 5}


def alerts_of(org):
    return list(Alert.objects.for_organization(org).order_by("id"))


def process(org) -> int:
    return responses_process(organization_id=org.pk)


def member(org, role="viewer"):
    return MembershipFactory(organization=org, role=role).user


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def journey(scoring_journey, scoring_questionnaire):  # noqa: F811 - fixtures
    return scoring_journey

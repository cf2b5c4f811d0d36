"""Shared set-up for link and response tests: a published B2B questionnaire and its links."""

import pytest

from apps.distribution import services as link_services
from apps.surveys.services import questionnaire_generate, questionnaire_publish
from tests.journeys.helpers import b2b_journey, principal


@pytest.fixture
def journey(org, analyst):
    return b2b_journey(org, analyst)


@pytest.fixture
def questionnaire(org, analyst, journey):
    actor = principal(org, analyst)
    questionnaire = questionnaire_generate(organization=org, actor=actor, journey=journey)
    questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    return questionnaire


@pytest.fixture
def make_link(org, analyst, questionnaire):
    def make(**kwargs):
        kwargs.setdefault("audience", "customer")
        return link_services.link_create(
            organization=org, actor=principal(org, analyst), questionnaire=questionnaire,
            **kwargs,
        )  # fmt: skip

    return make


@pytest.fixture
def customer_link(make_link):
    return make_link(name="Web", audience="customer")


@pytest.fixture
def employee_link(make_link):
    return make_link(name="Staff", audience="employee")

"""The demo organisation's B2B journey (the lead wires it into apps/core/demo.py)."""

import pytest

from apps.journeys.demo import demo_journey_load
from apps.journeys.models import Journey, Touchpoint
from apps.surveys import selectors
from apps.surveys.models import Questionnaire
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_demo_journey_is_created_once_with_owner_and_published_questionnaire(
    django_capture_on_commit_callbacks,
):
    organization = OrganizationFactory(default_language="fi")
    MembershipFactory(organization=organization, role="owner")
    journey_owner = MembershipFactory(organization=organization, role="analyst").user
    with django_capture_on_commit_callbacks(execute=True):
        journey = demo_journey_load(organization, journey_owner)
    assert (
        journey.name == "B2B-myynti ja palvelu" and journey.name_in("en") == "B2B sales and service"
    )
    assert journey.owner_id == journey_owner.pk and journey.status == "active"
    assert Touchpoint.objects.for_organization(organization).filter(journey=journey).count() == 7
    questionnaire = Questionnaire.objects.for_organization(organization).get()
    assert questionnaire.status == "published"
    items = selectors.version_items(version=questionnaire.published_version)
    assert selectors.unpaired_items(items=items) == []
    assert all(i.texts["fi"] and i.texts["en"] for i in items)
    # Idempotent.
    assert demo_journey_load(organization, journey_owner).pk == journey.pk
    assert Journey.objects.for_organization(organization).count() == 1
    assert Questionnaire.objects.for_organization(organization).count() == 1

"""The demo organisation's actions: one on the planted blind spot (the Offer), in progress with
a baseline taken from the generated answers, and one planned."""

import pytest

from apps.actions import selectors
from apps.actions.models import ImprovementAction
from apps.core.demo import DEMO_ORGANIZATION_SLUG, demo_load
from apps.organizations.models import Organization

pytestmark = pytest.mark.django_db


def test_the_demo_has_an_action_on_its_blind_spot():
    assert demo_load() is True
    organization = Organization.objects.get(slug=DEMO_ORGANIZATION_SLUG)
    offer, support = selectors.actions(organization=organization).order_by("pk")
    assert offer.touchpoint.name_in("en") == "Offer" and offer.dimension == "ease"
    assert offer.status == "in_progress" and offer.source == "blind_spot"
    assert offer.baseline_classification == "blind_spot"
    assert offer.baseline_customer_n > 100 and offer.baseline_gap > 10
    progress = selectors.action_progress(organization=organization, action=offer)
    assert progress.current.customer_n > 10
    assert progress.change.status in ("stable", "improved", "declined")
    assert support.status == "planned" and support.touchpoint.name_in("en") == "Support call"
    assert support.source == "top_priority"
    # Loading again adds nothing.
    assert demo_load() is False
    assert ImprovementAction.objects.for_organization(organization).count() == 2

"""The demo organisation's generated answers: processed, quick to load, and showing the planted
blind spot and hidden strength in the default gap report."""

import time

import pytest

from apps.core.demo import DEMO_ORGANIZATION_SLUG, demo_load
from apps.journeys.models import Journey
from apps.organizations.models import Organization
from apps.responses.models import Response
from apps.scoring import demo, selectors
from apps.scoring.filters import default_filter

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded():
    started = time.monotonic()
    assert demo_load() is True
    elapsed = time.monotonic() - started
    organization = Organization.objects.get(slug=DEMO_ORGANIZATION_SLUG)
    journey = Journey.objects.for_organization(organization).get()
    return organization, journey, elapsed


def test_the_demo_has_a_few_thousand_processed_responses(loaded):
    organization, journey, elapsed = loaded
    responses = Response.objects.for_organization(organization)
    assert responses.filter(audience="customer").count() == demo.CUSTOMERS
    assert responses.filter(audience="employee").count() == sum(demo.TEAMS.values())
    assert not responses.filter(pending__isnull=False).exists()
    assert elapsed < 30  # a few seconds on SQLite; generous for slow CI machines
    # Loading again changes nothing.
    assert demo.demo_responses_load(organization, journey) == 0
    assert demo_load() is False


def test_the_default_gap_report_shows_the_planted_findings(loaded):
    organization, journey, _elapsed = loaded
    report = selectors.gap_report(
        organization=organization, journey=journey, report_filter=default_filter(organization)
    )
    by_name = {row.name: row for row in report.touchpoints}
    blind_spot = _row(by_name, journey, demo.BLIND_SPOT)
    hidden_strength = _row(by_name, journey, demo.HIDDEN_STRENGTH)
    assert blind_spot.gap.classification == "blind_spot"
    assert 25 <= blind_spot.gap.gap <= 30
    assert hidden_strength.gap.classification == "hidden_strength"
    assert -20 <= hidden_strength.gap.gap <= -15
    others = [r for r in report.touchpoints if r not in (blind_spot, hidden_strength)]
    assert {r.gap.classification for r in others} == {"aligned"}
    # NPS follows the touchpoints: importance is derived, not declared.
    assert all(r.importance_source == "derived" for r in report.touchpoints)
    assert report.top_priorities[0].touchpoint_id == blind_spot.touchpoint_id
    nps = next(o for o in report.outcomes if o.item_key == "nps")
    assert nps.customer_nps.n > 1000 and not nps.employee_nps.suppressed


def test_staff_calibration_withholds_the_small_team(loaded):
    organization, journey, _elapsed = loaded
    units = selectors.staff_calibration(
        organization=organization,
        journey=journey,
        report_filter=default_filter(organization),
        attribute="team",
    )
    by_unit = {u.unit: u for u in units}
    assert set(by_unit) == set(demo.TEAMS)
    # Management (4) is pooled with smaller teams (Finance, and Logistics in a block where
    # one of its cells is short): shown alone, those would give Management away as everyone
    # minus the other teams. The two big teams show.
    withheld = {n for n, u in by_unit.items() if u.suppressed}
    assert "Management" in withheld and "Finance" in withheld
    assert "Sales" not in withheld and "Customer service" not in withheld
    assert all(u.mean_abs_gap for n, u in by_unit.items() if n not in withheld)


def _row(by_name, journey, english_name):
    from apps.journeys.models import Touchpoint

    touchpoint = next(
        tp
        for tp in Touchpoint.objects.for_organization(journey.organization_id).filter(
            journey=journey
        )
        if tp.name_in("en") == english_name
    )
    return by_name[touchpoint.name]

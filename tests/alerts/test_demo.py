"""The demo organisation has a handful of alerts in different states (not hundreds from its
generated history), and its viewer owns a touchpoint and works its alerts."""

import pytest
from django.urls import reverse

from apps.alerts.models import Alert, AlertStatus
from apps.core.demo import DEMO_ORGANIZATION_SLUG, demo_load
from apps.organizations.models import Organization

pytestmark = pytest.mark.django_db


def test_the_demo_inbox_has_a_handful_of_alerts_in_every_state(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert demo_load() is True
    organization = Organization.objects.get(slug=DEMO_ORGANIZATION_SLUG)
    alerts = list(Alert.objects.for_organization(organization))
    assert 5 <= len(alerts) <= 8
    statuses = {alert.status for alert in alerts}
    assert statuses == {AlertStatus.NEW, AlertStatus.IN_PROGRESS, AlertStatus.RESOLVED}
    assert any(alert.is_overdue() for alert in alerts)
    assert {a.outcome for a in alerts if a.status == AlertStatus.RESOLVED} == {
        "recovered",
        "could_not_reach",
    }
    client.login(email="viewer@demo.example", password="demo-cx-2026")
    page = client.get(reverse("alerts:inbox", args=[DEMO_ORGANIZATION_SLUG]))
    assert page.status_code == 200
    assert page.content.decode().count("/alerts/") >= len(alerts)

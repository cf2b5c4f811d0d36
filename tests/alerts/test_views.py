"""The alert pages: inbox and filters, an alert's page and its actions, rules, the email
preference, and the dashboard panel's figures."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.alerts.models import Alert, AlertRuleSet, AlertStatus
from apps.alerts.selectors import dashboard_figures
from apps.alerts.services import alert_resolve, alert_start
from tests.factories import UserFactory
from tests.journeys.helpers import principal

from .conftest import alerts_of, member, process, unhappy

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(org, journey, response_store):
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    return alerts_of(org)[0]


def _detail(org, alert):
    return reverse("alerts:detail", args=[org.slug, alert.pk])


def test_the_inbox_lists_and_filters(org, journey, alert, viewer_client, stranger_client):
    inbox = reverse("alerts:inbox", args=[org.slug])
    page = viewer_client.get(inbox)
    assert page.status_code == 200
    assert f"#{alert.pk}" in page.content.decode() and "Web shop" in page.content.decode()
    filtered = viewer_client.get(inbox, {"status": "resolved"}).content.decode()
    assert f"#{alert.pk}" not in filtered and "No alerts match these filters." in filtered
    bad = viewer_client.get(inbox, {"status": "bogus"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    assert stranger_client.get(inbox).status_code == 404
    assert stranger_client.get(_detail(org, alert)).status_code == 404


def test_an_empty_inbox_says_what_happens_next(org, viewer_client):
    page = viewer_client.get(reverse("alerts:inbox", args=[org.slug])).content.decode()
    assert "No alerts yet." in page


def test_a_viewer_sees_the_alert_but_cannot_resolve_it(org, alert, viewer_client):
    page = viewer_client.get(_detail(org, alert)).content.decode()
    assert "Web shop, ease: 1 on 1-5" in page and 'value="resolve"' not in page
    response = viewer_client.post(
        _detail(org, alert), {"action": "resolve", "outcome": "recovered", "note": "x"}
    )
    assert response.status_code == 403
    assert Alert.objects.for_organization(org).get().status == AlertStatus.NEW


def test_a_touchpoint_owner_takes_and_resolves_on_the_page(org, journey, alert, client):
    owner_viewer = member(org, "viewer")
    web = journey.touchpoints_in_order[0]
    web.owner = owner_viewer
    web.save(update_fields=["owner"])
    client.force_login(owner_viewer)
    assert client.post(_detail(org, alert), {"action": "start"}).status_code == 302
    missing_note = client.post(
        _detail(org, alert), {"action": "resolve", "outcome": "recovered", "note": ""}
    )
    assert missing_note.status_code == 400
    assert "a resolved alert needs a note" in missing_note.content.decode()
    assert Alert.objects.for_organization(org).get().status == AlertStatus.IN_PROGRESS
    done = client.post(
        _detail(org, alert),
        {"action": "resolve", "outcome": "recovered", "note": "Replaced the order."},
    )
    assert done.status_code == 302
    assert Alert.objects.for_organization(org).get().status == AlertStatus.RESOLVED


def test_reassigning_to_a_non_member_on_the_page_is_an_error(org, alert, owner_client):
    outsider = UserFactory()
    response = owner_client.post(_detail(org, alert), {"action": "assign", "assignee": outsider.pk})
    assert response.status_code == 400
    assert "Not a member of this organisation." in response.content.decode()
    assert Alert.objects.for_organization(org).get().assignee_id is None


def test_the_rules_page_saves_and_refuses_a_threshold_outside_the_scale(org, journey, owner_client):
    url = reverse("alerts:rules", args=[org.slug, journey.pk])
    assert owner_client.get(url).status_code == 200
    form = {
        "enabled": "on",
        "rating_enabled": "on",
        "rating_threshold": "9",
        "nps_enabled": "on",
        "nps_threshold": "6",
        "overall_threshold": "",
        "keywords": "huono, angry",
        "sla_hours": "12",
    }
    refused = owner_client.post(url, form)
    assert refused.status_code == 400
    assert "outside the scale 1-5" in refused.content.decode()
    assert not AlertRuleSet.objects.for_organization(org).exists()
    assert owner_client.post(url, {**form, "rating_threshold": "2"}).status_code == 302
    rules = AlertRuleSet.objects.for_organization(org).get()
    assert (rules.rating_threshold, rules.keywords, rules.sla_hours, rules.overall_enabled) == (
        2,
        ["huono", "angry"],
        12,
        False,
    )


def test_the_rules_page_adds_the_contact_questions(
    org, journey, scoring_questionnaire, owner_client
):
    url = reverse("alerts:contact_questions", args=[org.slug, scoring_questionnaire.pk])
    assert owner_client.post(url).status_code == 302
    page = owner_client.get(reverse("alerts:rules", args=[org.slug, journey.pk])).content.decode()
    assert "added to the draft, not published yet" in page


def test_the_settings_page_keeps_the_members_choice(org, viewer, viewer_client):
    url = reverse("alerts:settings", args=[org.slug])
    assert viewer_client.get(url).status_code == 200
    assert viewer_client.post(url, {"mode": "digest"}).status_code == 302
    assert viewer_client.post(url, {"mode": "hourly"}).status_code == 400
    from apps.alerts.selectors import notification_mode

    assert notification_mode(organization=org, user_id=viewer.pk) == "digest"


def test_dashboard_figures_per_journey_and_touchpoint(org, analyst, journey, response_store):
    web, support, _invoice = journey.touchpoints_in_order
    for index in (0, 0, 0, 1):
        response_store.add("customer", unhappy(journey, index))
    process(org)
    first, second, third, fourth = alerts_of(org)
    actor = principal(org, analyst)
    t0 = first.created_at
    alert_start(organization=org, actor=actor, alert=first, now=t0 + timedelta(hours=2))
    alert_resolve(
        organization=org,
        actor=actor,
        alert=second,
        outcome="recovered",
        note="ok",
        now=t0 + timedelta(hours=4),
    )
    alert_resolve(
        organization=org,
        actor=actor,
        alert=fourth,
        outcome="not_recovered",
        note="no",
        now=t0 + timedelta(hours=10),
    )
    with CaptureQueriesContext(connection) as queries:
        panel = dashboard_figures(organization=org, journey=journey, now=t0 + timedelta(hours=30))
    assert len(queries) == 2
    by_tp = {row.touchpoint_id: row for row in panel.touchpoints}
    web_row, support_row = by_tp[web.pk], by_tp[support.pk]
    assert (web_row.total, web_row.open, web_row.overdue) == (3, 2, 1)  # third: no action, late
    assert web_row.median_hours_to_first_action == pytest.approx(3.0)  # 2 h and 4 h
    assert web_row.recovered_share == 100.0
    assert (support_row.open, support_row.recovered_share) == (0, 0.0)
    assert (panel.journey.total, panel.journey.open, panel.journey.overdue) == (4, 2, 1)
    assert panel.journey.recovered_share == 50.0
    assert panel.journey.median_hours_to_first_action == pytest.approx(4.0)  # 2, 4, 10
    assert third.first_action_at is None


def test_the_journey_dashboard_shows_the_alerts_panel(org, journey, alert, viewer_client):
    page = viewer_client.get(reverse("dashboards:journey", args=[org.slug, journey.pk]))
    assert page.status_code == 200
    assert "Alerts: closing the loop" in page.content.decode()


def test_the_inbox_and_an_alert_read_in_a_fixed_number_of_queries(
    org, journey, response_store, django_assert_num_queries
):
    from apps.alerts.selectors import alert_detail, alert_get, alerts

    for index in (0, 1, 2, 0, 1):
        response_store.add("customer", {**unhappy(journey, index), "comment": "Huono palvelu"})
    process(org)
    with django_assert_num_queries(1):
        rows = list(alerts(organization=org))
    assert len(rows) == 5 and all(row.journey.name and row.touchpoint.name for row in rows)
    with django_assert_num_queries(1):
        alert = alert_get(organization=org, alert_id=rows[0].pk)
    # Answers, the invitation, the history (the touchpoint's name came with the alert).
    with django_assert_num_queries(3):
        detail = alert_detail(organization=org, alert=alert, language="en")
    assert detail.comments[0].answer == "Huono palvelu" and detail.contact is None

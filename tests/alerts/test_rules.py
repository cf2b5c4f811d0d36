"""Which responses raise an alert: bottom-box touchpoint ratings, NPS detractors, bottom-box
overall satisfaction, keywords in comments; one alert per response; never for employees;
thresholds validated against the items' scale; a constant number of queries per batch."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.alerts.models import AlertRuleSet
from apps.alerts.services import alert_rules_update, alerts_raise_for_responses, bottom_box_max
from apps.audit.models import AuditEntry
from apps.core.errors import ValidationFailed
from tests.journeys.helpers import principal
from tests.scoring.conftest import ResponseRow

from .conftest import alerts_of, happy, process, rating_key, unhappy

pytestmark = pytest.mark.django_db


def test_bottom_box_is_the_two_lowest_points_or_one_below_five_points():
    assert bottom_box_max(1, 5) == 2
    assert bottom_box_max(1, 7) == 2
    assert bottom_box_max(0, 10) == 1
    assert bottom_box_max(1, 4) == 1
    assert bottom_box_max(1, 3) == 1


def test_a_bottom_box_rating_raises_one_alert_listing_every_trigger(org, journey, response_store):
    web, support, _invoice = journey.touchpoints_in_order
    response = response_store.add(
        "customer",
        {
            rating_key(web, "ease"): 2,
            rating_key(web, "emotion"): 1,
            rating_key(support, "ease"): 3,
            "nps": 4,
            "overall": 1,
        },
    )
    response_store.add("customer", happy(journey))
    process(org)
    (alert,) = alerts_of(org)
    assert alert.response_id == response.pk
    assert alert.journey_id == journey.pk
    assert alert.touchpoint_id == web.pk
    kinds = [(t["kind"], t.get("dimension"), t["value"]) for t in alert.triggers]
    assert kinds == [
        ("rating", "ease", 2),
        ("rating", "emotion", 1),
        ("nps", None, 4),
        ("overall", None, 1),
    ]


@pytest.mark.parametrize(
    ("answers", "raises"),
    [
        ({"nps": 6, "overall": 4}, True),  # detractor
        ({"nps": 7, "overall": 4}, False),  # passive
        ({"nps": 9, "overall": 2}, True),  # overall bottom box on 1-5
        ({"nps": 9, "overall": 3}, False),
    ],
)
def test_nps_detractors_and_low_overall_satisfaction(org, journey, response_store, answers, raises):
    response_store.add("customer", answers)
    process(org)
    assert len(alerts_of(org)) == int(raises)


def test_not_applicable_and_a_rating_of_three_raise_nothing(org, journey, response_store):
    web = journey.touchpoints_in_order[0]
    response_store.add(
        "customer", {rating_key(web, "ease"): "na", rating_key(web, "emotion"): 3, "nps": 8}
    )
    process(org)
    assert alerts_of(org) == []


def test_employee_responses_never_raise_alerts(org, journey, response_store):
    web = journey.touchpoints_in_order[0]
    response_store.add("employee", {rating_key(web, "ease"): 1, "nps": 0, "overall": 1})
    process(org)
    assert alerts_of(org) == []


def test_keywords_match_comments_case_insensitively_in_finnish_too(
    org, analyst, journey, response_store
):
    alert_rules_update(
        organization=org,
        actor=principal(org, analyst),
        journey=journey,
        values={"keywords": ["Huono", "peruutan", "angry"]},
    )
    web = journey.touchpoints_in_order[0]
    hit = response_store.add(
        "customer", {"nps": 9, "overall": 5, "comment": "Palvelu oli HUONOA, PERUUTAN tilauksen."}
    )
    tp_hit = response_store.add(
        "customer", {"nps": 9, rating_key(web, "ease"): 5, f"tp:{web.pk}:comment": "I am Angry."}
    )
    response_store.add("customer", {"nps": 9, "comment": "Hyvä palvelu, kiitos!"})
    process(org)
    alerts = {a.response_id: a for a in alerts_of(org)}
    assert set(alerts) == {hit.pk, tp_hit.pk}
    assert alerts[hit.pk].triggers == [
        {"kind": "keyword", "keywords": ["Huono", "peruutan"], "touchpoint": None}
    ]
    assert alerts[tp_hit.pk].touchpoint_id == web.pk


def test_configured_thresholds_and_switched_off_rules(org, analyst, journey, response_store):
    actor = principal(org, analyst)
    web = journey.touchpoints_in_order[0]
    alert_rules_update(
        organization=org,
        actor=actor,
        journey=journey,
        values={"rating_threshold": 3, "nps_enabled": False},
    )
    three = response_store.add("customer", {rating_key(web, "ease"): 3, "nps": 9})
    response_store.add("customer", {rating_key(web, "ease"): 4, "nps": 0})  # NPS rule off
    process(org)
    assert [a.response_id for a in alerts_of(org)] == [three.pk]
    alert_rules_update(organization=org, actor=actor, journey=journey, values={"enabled": False})
    response_store.add("customer", {rating_key(web, "ease"): 1, "nps": 0})
    process(org)
    assert len(alerts_of(org)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rating_threshold", 6),
        ("rating_threshold", 0),
        ("overall_threshold", 9),
        ("nps_threshold", 11),
        ("nps_threshold", -1),
        ("sla_hours", 0),
    ],
)
def test_a_threshold_outside_the_scale_is_refused_naming_the_field_and_nothing_changes(
    org, analyst, journey, field, value
):
    actor = principal(org, analyst)
    alert_rules_update(organization=org, actor=actor, journey=journey, values={"keywords": ["x"]})
    audits = AuditEntry.objects.for_organization(org).count()
    with pytest.raises(ValidationFailed) as caught:
        alert_rules_update(
            organization=org,
            actor=actor,
            journey=journey,
            values={field: value, "keywords": ["changed"]},
        )
    assert list(caught.value.fields) == [field]
    rules = AlertRuleSet.objects.for_organization(org).get(journey=journey)
    assert rules.keywords == ["x"] and getattr(rules, field) != value
    assert AuditEntry.objects.for_organization(org).count() == audits


def test_rule_changes_are_audited(org, analyst, journey):
    alert_rules_update(
        organization=org,
        actor=principal(org, analyst),
        journey=journey,
        values={"rating_threshold": 1, "sla_hours": 8},
    )
    entry = AuditEntry.objects.for_organization(org).get(action="alert_rules.updated")
    assert entry.data["changed"] == {"rating_threshold": [None, 1], "sla_hours": [24, 8]}


def test_a_viewer_may_not_change_rules(org, viewer, journey):
    from apps.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        alert_rules_update(
            organization=org, actor=principal(org, viewer), journey=journey, values={"sla_hours": 2}
        )


def test_raising_costs_a_constant_number_of_queries_per_batch_whatever_its_size(
    org, journey, response_store, django_assert_num_queries
):
    web, support, invoice = journey.touchpoints_in_order

    def rows(count):
        return [
            ResponseRow(
                "customer" if i % 4 else "employee",
                {
                    rating_key(web, "ease"): 1 + i % 5,
                    rating_key(support, "emotion"): 1 + i % 3,
                    rating_key(invoice, "ease"): 2,
                    "nps": i % 11,
                    "overall": 1 + i % 5,
                    "comment": "huono" if i % 7 == 0 else "ok",
                },
            )
            for i in range(count)
        ]

    # SQLite: read, insert, and whether a webhook endpoint wants `alert.created` (nobody here);
    # PostgreSQL reads and inserts in one statement.
    queries = 2 if connection.vendor == "postgresql" else 3
    for size in (3, 300):
        responses = response_store.add_many(rows(size))
        with django_assert_num_queries(queries):
            raised = alerts_raise_for_responses(
                organization_id=org.pk, response_ids=[r.pk for r in responses]
            )
        assert raised == sum(1 for r in responses if r.audience == "customer")
    # Responses that raise nothing: one query.
    quiet = response_store.add_many([ResponseRow("customer", happy(journey)) for _ in range(5)])
    with CaptureQueriesContext(connection) as queries:
        assert (
            alerts_raise_for_responses(organization_id=org.pk, response_ids=[r.pk for r in quiet])
            == 0
        )
    assert len(queries) == 1


def test_other_organisations_responses_are_not_read(org, other_org, journey, response_store):
    response = response_store.add("customer", unhappy(journey))
    assert alerts_raise_for_responses(organization_id=other_org.pk, response_ids=[response.pk]) == 0
    assert alerts_of(org) == []

"""The events the platform emits: `response.submitted` from the scoring worker's batch (a
constant number of queries, no employee identity) and `report.delivered` when a scheduled
report is recorded as sent."""

import json

import pytest

from apps.organizations.permissions import Principal
from apps.reports import delivery as delivery_module
from apps.reports import services as report_services
from apps.webhooks import services
from apps.webhooks.models import EventType, WebhookDelivery, WebhookEvent
from tests.reports import report_data
from tests.scoring.conftest import DAY, NA, ResponseRow, rating_key

pytestmark = pytest.mark.django_db


def _events(org):
    return [json.loads(e.body) for e in WebhookEvent.objects.for_organization(org).order_by("body")]


def _rows(journey, n, audience):
    tp = journey.touchpoints_in_order[0]
    return [
        ResponseRow(audience, {rating_key(tp, "ease"): 1 + i % 5, rating_key(tp, "emotion"): NA},
                    segment={"team": "north"} if audience == "employee" else {"region": "south"})
        for i in range(n)
    ]  # fmt: skip


def test_each_response_is_one_event_in_a_constant_number_of_queries(
    org, scoring_journey, response_store, make_endpoint, django_assert_num_queries
):
    make_endpoint(events=["response.submitted"])
    make_endpoint(events=["response.submitted", "alert.created"])
    small = response_store.add_many(_rows(scoring_journey, 1, "customer"))
    large = response_store.add_many(
        _rows(scoring_journey, 15, "customer") + _rows(scoring_journey, 15, "employee")
    )
    # endpoints, responses, answers, events INSERT, deliveries INSERT
    with django_assert_num_queries(5):
        assert (
            services.webhooks_emit_responses(
                organization_id=org.pk, response_ids=[r.pk for r in small]
            )
            == 1
        )
    with django_assert_num_queries(5):
        assert (
            services.webhooks_emit_responses(
                organization_id=org.pk, response_ids=[r.pk for r in large]
            )
            == 30
        )
    assert WebhookEvent.objects.for_organization(org).count() == 31
    assert WebhookDelivery.objects.for_organization(org).count() == 62  # two endpoints each


def test_nobody_subscribed_costs_one_query(
    org, scoring_journey, response_store, make_endpoint, django_assert_num_queries
):
    make_endpoint(events=["alert.created"])
    responses = response_store.add_many(_rows(scoring_journey, 5, "customer"))
    with django_assert_num_queries(1):
        services.webhooks_emit_responses(
            organization_id=org.pk, response_ids=[r.pk for r in responses]
        )
    assert not WebhookEvent.objects.for_organization(org).exists()


def test_an_employee_response_carries_only_questionnaire_audience_and_day(
    org, scoring_journey, scoring_questionnaire, response_store, make_endpoint
):
    make_endpoint(events=["response.submitted"])
    (employee,) = response_store.add_many(_rows(scoring_journey, 1, "employee"))
    services.webhooks_emit_responses(organization_id=org.pk, response_ids=[employee.pk])
    (event,) = _events(org)
    assert event["type"] == "response.submitted"
    assert event["data"] == {
        "questionnaire": {
            "id": scoring_questionnaire.pk,
            "name": scoring_questionnaire.name,
            "journey": scoring_journey.pk,
        },
        "audience": "employee",
        "day": DAY.isoformat(),
    }
    assert "response" not in event["data"]  # no id to tie it to anyone
    assert "north" not in json.dumps(event)  # nor the team segment


def test_a_customer_response_carries_its_answers(
    org, scoring_journey, scoring_questionnaire, response_store, make_endpoint
):
    make_endpoint(events=["response.submitted"])
    (customer,) = response_store.add_many(_rows(scoring_journey, 1, "customer"))
    services.webhooks_emit_responses(organization_id=org.pk, response_ids=[customer.pk])
    (event,) = _events(org)
    data = event["data"]
    tp = scoring_journey.touchpoints_in_order[0]
    assert data["response"] == customer.pk
    assert data["audience"] == "customer" and data["day"] == DAY.isoformat()
    assert data["segment"] == {"region": "south"}
    answers = {a["item"]: a for a in data["answers"]}
    assert answers[rating_key(tp, "ease")]["value"] == 1
    assert answers[rating_key(tp, "emotion")]["not_applicable"] is True


def test_responses_of_another_organisation_are_not_emitted(
    org, other_org, scoring_journey, response_store, make_endpoint
):

    responses = response_store.add_many(_rows(scoring_journey, 2, "customer"))
    from apps.webhooks.models import WebhookEndpoint

    WebhookEndpoint.objects.create(
        organization=other_org, url="http://127.0.0.1:9/x", events=["response.submitted"],
        secret=services.new_secret(),
    )  # fmt: skip
    assert (
        services.webhooks_emit_responses(
            organization_id=other_org.pk, response_ids=[r.pk for r in responses]
        )
        == 0
    )


def test_a_scheduled_report_sent_emits_report_delivered(
    org, analyst, receiver, make_endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    journey, touchpoints = report_data.shape(org)
    monkeypatch.setattr(
        report_services,
        "_gap_report",
        lambda *args, **kwargs: report_data.gap_report(journey, touchpoints),
    )
    schedule = report_services.schedule_create(
        organization=org, actor=Principal(organization=org, role="analyst", user=analyst),
        journey=journey, name="Weekly", frequency="weekly", weekday=0, hour=8,
        period="last_7_days", language="en", recipients=["anna@example.com", "ben@example.com"],
    )  # fmt: skip
    delivery = report_services._new_delivery(schedule, schedule.next_due_at, "scheduled")
    make_endpoint(url=receiver.url, events=["report.delivered"])
    with django_capture_on_commit_callbacks(execute=True):
        delivery_module.delivery_run(organization=org, delivery_id=delivery.pk)
        delivery_module.delivery_run(organization=org, delivery_id=delivery.pk)  # a rerun
    (request,) = receiver.requests
    event = json.loads(request.body)
    assert event["type"] == EventType.REPORT_DELIVERED
    assert event["data"]["delivery"] == delivery.pk
    assert event["data"]["schedule"] == {"id": schedule.pk, "name": "Weekly"}
    assert event["data"]["journey"]["id"] == journey.pk
    assert event["data"]["recipients"] == 2
    assert "anna@example.com" not in request.body.decode()


def test_a_batch_of_responses_is_delivered_to_every_endpoint(
    org, scoring_journey, response_store, receiver, make_endpoint,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    make_endpoint(url=receiver.url, events=["response.submitted"])
    make_endpoint(url=receiver.url + "/second", events=["response.submitted"])
    responses = response_store.add_many(
        _rows(scoring_journey, 3, "customer") + _rows(scoring_journey, 2, "employee")
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.webhooks_emit_responses(
            organization_id=org.pk, response_ids=[r.pk for r in responses]
        )
    assert len(callbacks) == 1  # one message for the whole batch, fanned out by a worker
    assert len(receiver.requests) == 10
    assert {r.path for r in receiver.requests} == {"/hooks/cx", "/hooks/cx/second"}
    audiences = sorted(json.loads(r.body)["data"]["audience"] for r in receiver.requests)
    assert audiences == ["customer"] * 6 + ["employee"] * 4
    assert set(WebhookDelivery.objects.for_organization(org).values_list("status", flat=True)) == {
        "delivered"
    }

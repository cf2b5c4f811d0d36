"""The scoring worker's batch announces what it made: one `response.submitted` per response and
one `alert.created` per alert it raised, inside the batch's transaction, and never twice."""

import json

import pytest

from apps.alerts.models import Alert
from apps.scoring.services import responses_process
from apps.webhooks.models import WebhookEvent
from tests.alerts.conftest import happy, unhappy

pytestmark = pytest.mark.django_db


def _events(org, event_type):
    bodies = [json.loads(e.body) for e in WebhookEvent.objects.for_organization(org)]
    return [body for body in bodies if body["type"] == event_type]


def test_a_batch_announces_its_responses_and_the_alerts_it_raised(
    org, scoring_journey, scoring_questionnaire, response_store, make_endpoint
):
    make_endpoint(events=["response.submitted", "alert.created"])
    sad = response_store.add("customer", unhappy(scoring_journey))
    glad = response_store.add("customer", happy(scoring_journey))
    staff = response_store.add("employee", unhappy(scoring_journey))

    assert responses_process(organization_id=org.pk) == 3

    submitted = _events(org, "response.submitted")
    assert len(submitted) == 3
    (created,) = _events(org, "alert.created")
    alert = Alert.objects.for_organization(org).get()
    assert alert.response_id == sad.pk
    assert created["data"]["alert"] == alert.pk
    assert created["data"]["response"] == sad.pk
    assert created["data"]["journey"] == {"id": scoring_journey.pk, "name": scoring_journey.name}
    assert created["data"]["touchpoint"]["id"] == scoring_journey.touchpoints_in_order[0].pk
    assert created["data"]["status"] == "new"
    assert [t["kind"] for t in created["data"]["triggers"]] == ["rating"]
    assert not Alert.objects.for_organization(org).filter(response_id__in=[glad.pk, staff.pk])

    # Nothing is left to process: a second run announces nothing again.
    assert responses_process(organization_id=org.pk) == 0
    assert len(_events(org, "response.submitted")) == 3
    assert len(_events(org, "alert.created")) == 1


def test_an_alert_raised_again_for_the_same_response_is_not_announced_twice(
    org, scoring_journey, scoring_questionnaire, response_store, make_endpoint
):
    from apps.alerts.services import alerts_raise_for_responses

    make_endpoint(events=["alert.created"])
    sad = response_store.add("customer", unhappy(scoring_journey))
    alerts_raise_for_responses(organization_id=org.pk, response_ids=[sad.pk])
    alerts_raise_for_responses(organization_id=org.pk, response_ids=[sad.pk])  # redelivered
    assert Alert.objects.for_organization(org).count() == 1
    assert len(_events(org, "alert.created")) == 1


def test_no_subscriber_no_events(org, scoring_journey, scoring_questionnaire, response_store):
    response_store.add("customer", unhappy(scoring_journey))
    assert responses_process(organization_id=org.pk) == 1
    assert Alert.objects.for_organization(org).count() == 1
    assert not WebhookEvent.objects.for_organization(org).exists()

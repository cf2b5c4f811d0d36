"""Alerts are raised by the processing worker, once per response: reprocessing or rescoring
never makes a second one; and they go to the right person."""

import pytest
from django.db import IntegrityError, transaction

from apps.alerts.models import Alert, AlertStatus
from apps.alerts.services import alert_start, alerts_raise_for_responses
from apps.organizations.models import Membership
from apps.responses.models import Response
from apps.scoring.services import journey_rescore
from tests.journeys.helpers import principal

from .conftest import alerts_of, member, process, rating_key, unhappy

pytestmark = pytest.mark.django_db


def test_reprocessing_and_rescoring_never_raise_a_second_alert(
    org, analyst, journey, response_store
):
    response = response_store.add("customer", unhappy(journey))
    process(org)
    (alert,) = alerts_of(org)
    alert_start(organization=org, actor=principal(org, analyst), alert=alert)
    # Processing again finds nothing to do, a rescoring rebuilds the aggregates, and the hook
    # run again for the same responses (a redelivered batch) finds the alert already there.
    assert process(org) == 0
    journey_rescore(organization=org, actor=None, journey=journey)
    assert alerts_raise_for_responses(organization_id=org.pk, response_ids=[response.pk]) == 1
    (again,) = alerts_of(org)
    assert again.pk == alert.pk and again.status == AlertStatus.IN_PROGRESS


def test_a_batch_that_does_not_commit_leaves_no_alert(org, journey, response_store):
    response_store.add("customer", unhappy(journey))

    class Killed(Exception):
        pass

    with pytest.raises(Killed), transaction.atomic():
        process(org)
        assert len(alerts_of(org)) == 1
        raise Killed
    assert alerts_of(org) == []
    assert Response.objects.for_organization(org).filter(pending__isnull=False).exists()
    process(org)
    assert len(alerts_of(org)) == 1


def test_the_database_refuses_a_second_alert_for_a_response(org, journey, response_store):
    response_store.add("customer", unhappy(journey))
    process(org)
    (alert,) = alerts_of(org)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            organization=org,
            response_id=alert.response_id,
            journey=journey,
            due_at=alert.due_at,
            escalate_at=alert.escalate_at,
        )


def _owners(journey, web=None, support=None, journey_owner=None):
    web_tp, support_tp, _invoice = journey.touchpoints_in_order
    web_tp.owner = web
    web_tp.save(update_fields=["owner"])
    support_tp.owner = support
    support_tp.save(update_fields=["owner"])
    journey.owner = journey_owner
    journey.save(update_fields=["owner"])


def _two_touchpoints_low(journey, web_ease, support_ease):
    web, support, _invoice = journey.touchpoints_in_order
    return {
        rating_key(web, "ease"): web_ease,
        rating_key(web, "effectiveness"): 5,
        rating_key(support, "ease"): support_ease,
        "nps": 9,
    }


def test_the_owner_of_the_lowest_scoring_triggered_touchpoint_gets_it(org, journey, response_store):
    anna, ben, olivia = member(org), member(org), member(org)
    _owners(journey, web=anna, support=ben, journey_owner=olivia)
    # Web shop: ease 1, effectiveness 5 -> score 50; Support: ease 2 -> 25: Support is lower.
    response_store.add("customer", _two_touchpoints_low(journey, 1, 2))
    # Web shop: ease 1 only -> 0; Support: ease 2 -> 25: Web shop is lower.
    web, support, _invoice = journey.touchpoints_in_order
    response_store.add("customer", {rating_key(web, "ease"): 1, rating_key(support, "ease"): 2})
    process(org)
    first, second = alerts_of(org)
    assert (first.touchpoint_id, first.assignee_id) == (support.pk, ben.pk)
    assert (second.touchpoint_id, second.assignee_id) == (web.pk, anna.pk)


def test_falls_back_to_the_journey_owner_then_to_nobody(org, journey, response_store):
    olivia = member(org)
    _owners(journey, web=None, journey_owner=olivia)
    response_store.add("customer", unhappy(journey, 0))  # Web shop has no owner
    response_store.add("customer", {"nps": 2})  # no touchpoint at all
    process(org)
    assert [a.assignee_id for a in alerts_of(org)] == [olivia.pk, olivia.pk]
    assert alerts_of(org)[1].touchpoint_id is None
    _owners(journey)
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    assert alerts_of(org)[-1].assignee_id is None


def test_an_owner_who_left_the_organisation_is_passed_over(org, journey, response_store):
    anna, olivia = member(org), member(org)
    _owners(journey, web=anna, journey_owner=olivia)
    Membership.objects.for_organization(org).filter(user=anna).delete()
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    assert alerts_of(org)[0].assignee_id == olivia.pk


def test_the_sla_comes_from_the_journey_rules(org, analyst, journey, response_store):
    from apps.alerts.services import alert_rules_update

    alert_rules_update(
        organization=org, actor=principal(org, analyst), journey=journey, values={"sla_hours": 4}
    )
    response_store.add("customer", unhappy(journey))
    process(org)
    (alert,) = alerts_of(org)
    assert (alert.due_at - alert.created_at).total_seconds() == 4 * 3600
    assert (alert.escalate_at - alert.created_at).total_seconds() == 8 * 3600

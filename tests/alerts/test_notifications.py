"""Alert emails through a real SMTP server: the assignee hears at once or in a daily digest
(their choice), an overdue alert reminds its assignee once and then escalates to the journey
owner once, however often the beat task runs. Time is passed explicitly (`now`)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from apps.alerts.models import Alert, AlertEvent
from apps.alerts.notifications import alerts_digest_send, alerts_notify, alerts_sla_tick
from apps.alerts.services import alert_assign, alert_start, notification_preference_set
from tests.journeys.helpers import principal

from .conftest import alerts_of, hours, member, process, unhappy

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(org, journey):
    """Anna owns the Web shop, Olivia the journey."""
    anna, olivia = member(org), member(org)
    web = journey.touchpoints_in_order[0]
    web.owner = anna
    web.save(update_fields=["owner"])
    journey.owner = olivia
    journey.save(update_fields=["owner"])
    return anna, olivia


def test_the_assignee_is_emailed_at_once_after_the_batch_commits(
    org, journey, response_store, people, smtp, django_capture_on_commit_callbacks
):
    anna, _olivia = people
    response_store.add("customer", unhappy(journey, 0))
    with django_capture_on_commit_callbacks(execute=True):
        process(org)
    (message,) = smtp.sink.to(anna.email)
    assert "New alert" in message.message["Subject"] and "Web shop" in message.message["Subject"]
    (alert,) = alerts_of(org)
    assert f"/o/acme/alerts/{alert.pk}/" in message.text
    assert "Web shop, ease: 1 on 1-5" in message.text
    assert alert.notified_at is not None
    # Told once: running the notification again sends nothing.
    assert alerts_notify(organization=org, alert_ids=[alert.pk]) == 0
    assert smtp.sink.count == 1


def test_a_reassigned_alert_is_announced_to_the_new_assignee(
    org, analyst, journey, response_store, people, smtp, django_capture_on_commit_callbacks
):
    response_store.add("customer", unhappy(journey, 0))
    with django_capture_on_commit_callbacks(execute=True):
        process(org)
    ben = member(org)
    with django_capture_on_commit_callbacks(execute=True):
        alert_assign(
            organization=org,
            actor=principal(org, analyst),
            alert=alerts_of(org)[0],
            assignee_id=ben.pk,
        )
    assert len(smtp.sink.to(ben.email)) == 1


def test_the_digest_goes_out_once_a_day_from_seven_in_the_organisations_time_zone(
    org, journey, response_store, people, smtp, django_capture_on_commit_callbacks
):
    anna, _olivia = people
    org.time_zone = "Europe/Helsinki"
    org.save(update_fields=["time_zone"])
    notification_preference_set(organization=org, actor=principal(org, anna), mode="digest")
    response_store.add("customer", unhappy(journey, 0))
    response_store.add("customer", unhappy(journey, 0))
    with django_capture_on_commit_callbacks(execute=True):
        process(org)
    assert smtp.sink.count == 0  # no email per alert
    helsinki = ZoneInfo("Europe/Helsinki")
    assert alerts_digest_send(now=datetime(2026, 12, 7, 6, 30, tzinfo=helsinki)) == 0
    assert alerts_digest_send(now=datetime(2026, 12, 7, 7, 5, tzinfo=helsinki)) == 1
    assert alerts_digest_send(now=datetime(2026, 12, 7, 15, 0, tzinfo=helsinki)) == 0
    (digest,) = smtp.sink.to(anna.email)
    assert "2 new alerts" in digest.message["Subject"]
    assert digest.text.count("/o/acme/alerts/") == 3  # two alerts and the inbox
    # The next day: nothing new, no email.
    assert alerts_digest_send(now=datetime(2026, 12, 8, 7, 5, tzinfo=helsinki)) == 0
    assert smtp.sink.count == 1


def test_overdue_reminder_then_escalation_each_once(org, journey, response_store, people, smtp):
    anna, olivia = people
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    (alert,) = alerts_of(org)
    created = alert.created_at
    assert alerts_sla_tick(now=created + hours(23)) == {"reminded": 0, "escalated": 0}
    assert alerts_sla_tick(now=created + hours(25)) == {"reminded": 1, "escalated": 0}
    assert alerts_sla_tick(now=created + hours(26)) == {"reminded": 0, "escalated": 0}
    assert alerts_sla_tick(now=created + hours(49)) == {"reminded": 0, "escalated": 1}
    assert alerts_sla_tick(now=created + hours(72)) == {"reminded": 0, "escalated": 0}
    (reminder,) = smtp.sink.to(anna.email)
    assert "Overdue" in reminder.message["Subject"]
    (escalation,) = smtp.sink.to(olivia.email)
    assert "Escalated" in escalation.message["Subject"] and anna.email in escalation.text
    kinds = list(AlertEvent.objects.for_organization(org).values_list("kind", flat=True))
    assert kinds == ["reminded", "escalated"]


def test_an_alert_acted_on_in_time_is_neither_reminded_nor_escalated(
    org, analyst, journey, response_store, people, smtp
):
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    (alert,) = alerts_of(org)
    alert_start(
        organization=org,
        actor=principal(org, analyst),
        alert=alert,
        now=alert.created_at + hours(2),
    )
    assert alerts_sla_tick(now=alert.created_at + hours(100)) == {"reminded": 0, "escalated": 0}
    assert smtp.sink.count == 0
    assert not Alert.objects.for_organization(org).get().is_overdue(alert.created_at + hours(100))


def test_the_sla_tick_is_idempotent_when_runs_race(org, journey, response_store, people, smtp):
    response_store.add("customer", unhappy(journey, 0))
    process(org)
    (alert,) = alerts_of(org)
    late = alert.created_at + hours(50)
    first = alerts_sla_tick(now=late)
    second = alerts_sla_tick(now=late)
    assert first == {"reminded": 1, "escalated": 1} and second == {"reminded": 0, "escalated": 0}
    assert smtp.sink.count == 2


def test_the_preference_is_per_member_and_organisation(org, other_org, people):
    from apps.core.errors import ValidationFailed

    anna, _olivia = people
    with pytest.raises(ValidationFailed) as caught:
        notification_preference_set(organization=org, actor=principal(org, anna), mode="weekly")
    assert list(caught.value.fields) == ["mode"]
    notification_preference_set(organization=org, actor=principal(org, anna), mode="digest")
    from apps.alerts.selectors import notification_mode

    assert notification_mode(organization=org, user_id=anna.pk) == "digest"
    assert notification_mode(organization=other_org, user_id=anna.pk) == "immediate"

"""Report schedules: due times across DST and month ends, validation naming the field, the beat
tick making one delivery per due time, "send now", and who may manage them."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from apps.core.errors import Conflict, ValidationFailed
from apps.organizations.permissions import Principal
from apps.reports import services, timing
from apps.reports.models import ReportDelivery, ReportSchedule, ScheduleRecipient, Trigger
from tests.factories import JourneyFactory

HELSINKI = "Europe/Helsinki"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(weekday: int, hour: int, zone: str = HELSINKI) -> timing.Timing:
    return timing.Timing("weekly", hour, zone, weekday=weekday)


def monthly(day: int, hour: int, zone: str = HELSINKI) -> timing.Timing:
    return timing.Timing("monthly", hour, zone, day_of_month=day)


# --- due times ----------------------------------------------------------------------------------


def test_weekly_follows_the_local_clock_across_the_spring_change():
    # Monday 08:00 in Helsinki: 06:00 UTC in winter (EET), 05:00 UTC in summer (EEST, from the
    # last Sunday of March, 30 March 2025).
    schedule = weekly(0, 8)
    first = timing.next_due_after(schedule, utc(2025, 3, 20, 12))
    assert first == utc(2025, 3, 24, 6)
    second = timing.next_due_after(schedule, first)
    assert second == utc(2025, 3, 31, 5)
    assert second - first == timedelta(days=7, hours=-1)


def test_weekly_follows_the_local_clock_across_the_autumn_change():
    schedule = weekly(0, 8)
    assert timing.next_due_after(schedule, utc(2025, 10, 20, 6)) == utc(2025, 10, 27, 6)
    assert timing.next_due_after(schedule, utc(2025, 10, 20, 4)) == utc(2025, 10, 20, 5)


def test_an_hour_the_clock_skips_fires_when_it_resumes():
    # 30 March 2025 in Helsinki: 03:00 does not exist (02:59 EET is followed by 04:00 EEST).
    due = timing.next_due_after(weekly(6, 3), utc(2025, 3, 29, 12))
    assert due == utc(2025, 3, 30, 1)  # 04:00 EEST, one hour after the missing 03:00 EET
    # ...and the week after it is 03:00 EEST again.
    assert timing.next_due_after(weekly(6, 3), due) == utc(2025, 4, 6, 0)


def test_an_hour_the_clock_repeats_fires_once():
    # 26 October 2025 in Helsinki: 03:00-03:59 happens twice (EEST, then EET).
    schedule = weekly(6, 3)
    first = timing.next_due_after(schedule, utc(2025, 10, 25, 12))
    assert first == utc(2025, 10, 26, 0)  # the first 03:00 (EEST)
    # Not again at the second 03:00 (01:00 UTC): next week.
    assert timing.next_due_after(schedule, first) == utc(2025, 11, 2, 1)


def test_monthly_on_the_31st_falls_on_the_last_day_of_shorter_months():
    schedule = monthly(31, 9)
    dues = []
    after = utc(2025, 1, 1)
    for _ in range(5):
        after = timing.next_due_after(schedule, after)
        dues.append(after.astimezone(timing.ZoneInfo(HELSINKI)).date())
    assert dues == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30),
                    date(2025, 5, 31)]  # fmt: skip
    leap = timing.next_due_after(monthly(30, 9), utc(2024, 2, 1))
    assert leap == utc(2024, 2, 29, 7)


def test_monthly_across_the_year_end_and_late_utc_evenings():
    schedule = monthly(1, 0)
    # 31 Dec 22:30 UTC is already 1 January 00:30 in Helsinki: the 00:00 has just passed.
    assert timing.next_due_after(schedule, utc(2025, 12, 31, 22, 30)) == utc(2026, 1, 31, 22)
    assert timing.next_due_after(schedule, utc(2025, 12, 31, 21, 59)) == utc(2025, 12, 31, 22)


def test_other_time_zones():
    assert timing.next_due_after(weekly(4, 17, "America/New_York"), utc(2025, 3, 7)) == utc(
        2025, 3, 7, 22
    )
    # US clocks change on 9 March 2025: the Friday after is 21:00 UTC.
    assert timing.next_due_after(weekly(4, 17, "America/New_York"), utc(2025, 3, 8)) == utc(
        2025, 3, 14, 21
    )
    assert timing.next_due_after(weekly(2, 12, "UTC"), utc(2025, 1, 1, 12)) == utc(2025, 1, 8, 12)


def test_the_period_covered_ends_the_day_before():
    due = utc(2025, 3, 31, 5)  # Monday 08:00 in Helsinki
    assert timing.covered_period("last_7_days", due, HELSINKI) == (date(2025, 3, 24),
                                                                   date(2025, 3, 30))  # fmt: skip
    assert timing.covered_period("last_30_days", due, HELSINKI) == (date(2025, 3, 1),
                                                                    date(2025, 3, 30))  # fmt: skip
    # Midnight local on 1 March is still 28 February in UTC: the local day counts.
    march_first = utc(2025, 2, 28, 22)
    assert timing.covered_period("previous_month", march_first, HELSINKI) == (
        date(2025, 2, 1),
        date(2025, 2, 28),
    )
    assert timing.covered_period("previous_month", utc(2025, 1, 15), HELSINKI) == (
        date(2024, 12, 1),
        date(2024, 12, 31),
    )


# --- creating and changing schedules ------------------------------------------------------------


def actor(org, role="analyst", user=None):
    return Principal(organization=org, role=role, user=user)


def create(org, journey, **overrides):
    data = {
        "frequency": "weekly", "weekday": 0, "hour": 8, "period": "last_7_days",
        "recipients": ["boss@example.com"], "time_zone": HELSINKI,
    }  # fmt: skip
    data.update(overrides)
    return services.schedule_create(
        organization=org, actor=actor(org), journey=journey, now=utc(2025, 3, 20, 12), **data
    )


@pytest.mark.django_db
def test_a_schedule_computes_its_next_due_time_and_links_members(org, analyst):
    journey = JourneyFactory(organization=org)
    schedule = create(org, journey, recipients=[analyst.email.upper(), "Outside@Example.com"])
    assert schedule.next_due_at == utc(2025, 3, 24, 6)
    assert schedule.language == org.default_language
    recipients = {r.email: r for r in schedule.recipients.all()}
    assert set(recipients) == {analyst.email.lower(), "outside@example.com"}
    assert recipients[analyst.email.lower()].user_id == analyst.pk
    assert recipients["outside@example.com"].user_id is None
    tokens = {r.unsubscribe_token for r in recipients.values()}
    assert len(tokens) == 2 and all(len(t) >= 32 for t in tokens)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"frequency": "monthly", "day_of_month": 32}, "day_of_month"),
        ({"frequency": "monthly", "day_of_month": 0}, "day_of_month"),
        ({"frequency": "weekly", "weekday": 7}, "weekday"),
        ({"hour": 25}, "hour"),
        ({"hour": "eight"}, "hour"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"period": "last_year"}, "period"),
        ({"language": "sv"}, "language"),
        ({"recipients": ["boss@example.com", "not an address"]}, "recipients"),
        ({"recipients": []}, "recipients"),
        ({"filters": {"attr.planet": ["Mars"]}}, "filters"),
        ({"frequency": "daily"}, "frequency"),
    ],
)
def test_bad_schedules_name_the_field_and_store_nothing(org, overrides, field):
    journey = JourneyFactory(organization=org)
    with pytest.raises(ValidationFailed) as raised:
        create(org, journey, **overrides)
    assert field in raised.value.fields
    assert not ReportSchedule.objects.for_organization(org).exists()


@pytest.mark.django_db
def test_the_31st_is_a_valid_monthly_day(org):
    schedule = create(org, JourneyFactory(organization=org), frequency="monthly", day_of_month=31)
    assert schedule.next_due_at == utc(2025, 3, 31, 5)  # 08:00 EEST


@pytest.mark.django_db
def test_filters_are_stored_as_query_parameters(org, analyst):
    from tests.reports.report_data import shape

    journey, _touchpoints = shape(org)
    from apps.surveys.services import questionnaire_generate

    questionnaire = questionnaire_generate(organization=org, actor=actor(org), journey=journey)
    schedule = create(
        org, journey, filters={"questionnaire": str(questionnaire.pk), "from": "2020-01-01"}
    )
    assert schedule.filters == {"questionnaire": str(questionnaire.pk)}


@pytest.mark.django_db
def test_editing_the_name_keeps_the_due_time_editing_the_hour_moves_it(org):
    journey = JourneyFactory(organization=org)
    schedule = create(org, journey)
    due = schedule.next_due_at
    schedule = services.schedule_update(
        organization=org, actor=actor(org), schedule=schedule, name="Weekly", now=utc(2025, 3, 22)
    )
    assert schedule.next_due_at == due
    schedule = services.schedule_update(
        organization=org, actor=actor(org), schedule=schedule, hour=10, now=utc(2025, 3, 22)
    )
    assert schedule.next_due_at == utc(2025, 3, 24, 8)
    schedule = services.schedule_update(
        organization=org, actor=actor(org), schedule=schedule, is_active=False
    )
    assert schedule.next_due_at is None


@pytest.mark.django_db
def test_recipients_are_replaced_and_the_unsubscribed_are_not_added_back(org):
    journey = JourneyFactory(organization=org)
    schedule = create(org, journey, recipients=["a@example.com", "b@example.com"])
    services.schedule_update(
        organization=org, actor=actor(org), schedule=schedule,
        recipients=["b@example.com", "c@example.com"],
    )  # fmt: skip
    emails = set(schedule.recipients.values_list("email", flat=True))
    assert emails == {"b@example.com", "c@example.com"}
    token = schedule.recipients.get(email="c@example.com").unsubscribe_token
    services.recipient_unsubscribe(token=token)
    with pytest.raises(ValidationFailed) as raised:
        services.schedule_update(
            organization=org, actor=actor(org), schedule=schedule,
            recipients=["b@example.com", "c@example.com"],
        )  # fmt: skip
    assert "c@example.com" in raised.value.fields["recipients"][0]
    # Leaving them out keeps the unsubscribed row (the address stays unsubscribed).
    services.schedule_update(
        organization=org, actor=actor(org), schedule=schedule, recipients=["b@example.com"]
    )
    assert schedule.recipients.get(email="c@example.com").unsubscribed_at is not None


# --- the beat tick ------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Deliveries queued by the tick (on commit), not run."""
    calls: list[int] = []
    from apps.reports import tasks

    monkeypatch.setattr(
        tasks.send_delivery, "delay", lambda **kwargs: calls.append(kwargs["delivery_id"])
    )
    return calls


@pytest.mark.django_db
def test_a_due_schedule_becomes_one_delivery_and_moves_on(
    org, queued, django_capture_on_commit_callbacks
):
    schedule = create(org, JourneyFactory(organization=org))
    assert services.schedules_tick(now=utc(2025, 3, 24, 5, 59)) == []
    with django_capture_on_commit_callbacks(execute=True):
        made = services.schedules_tick(now=utc(2025, 3, 24, 6, 0, 30))
    assert len(made) == 1 and queued == made
    delivery = ReportDelivery.objects.for_organization(org).get()
    assert delivery.due_at == utc(2025, 3, 24, 6)
    assert (delivery.period_start, delivery.period_end) == (date(2025, 3, 17), date(2025, 3, 23))
    assert delivery.trigger == Trigger.SCHEDULED
    schedule.refresh_from_db()
    assert schedule.next_due_at == utc(2025, 3, 31, 5)  # summer time by then
    # The next minute's tick finds nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.schedules_tick(now=utc(2025, 3, 24, 6, 1, 30)) == []
    assert queued == made


@pytest.mark.django_db
def test_after_the_beat_was_down_one_delivery_for_the_latest_due_time(org, queued):
    schedule = create(org, JourneyFactory(organization=org))
    services.schedules_tick(now=utc(2025, 4, 16, 12))  # three weeks late
    delivery = ReportDelivery.objects.for_organization(org).get()
    assert delivery.due_at == utc(2025, 4, 14, 5)
    schedule.refresh_from_db()
    assert schedule.next_due_at == utc(2025, 4, 21, 5)


@pytest.mark.django_db
def test_a_paused_schedule_is_not_sent(org, queued):
    schedule = create(org, JourneyFactory(organization=org), is_active=False)
    assert schedule.next_due_at is None
    assert services.schedules_tick(now=utc(2025, 5, 1)) == []


@pytest.mark.django_db
def test_the_same_due_time_cannot_make_two_deliveries(org):
    from django.db import IntegrityError, transaction

    schedule = create(org, JourneyFactory(organization=org))
    services._new_delivery(schedule, schedule.next_due_at, Trigger.SCHEDULED)
    with pytest.raises(IntegrityError), transaction.atomic():
        services._new_delivery(schedule, schedule.next_due_at, Trigger.SCHEDULED)


@pytest.mark.django_db
def test_a_delivery_left_by_a_stopped_worker_is_queued_again(
    org, queued, django_capture_on_commit_callbacks
):
    create(org, JourneyFactory(organization=org))
    services.schedules_tick(now=utc(2025, 3, 24, 6, 1))
    delivery = ReportDelivery.objects.for_organization(org).get()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            services.deliveries_requeue_stale(now=delivery.lease_until - timedelta(seconds=1)) == []
        )
        assert services.deliveries_requeue_stale(
            now=delivery.lease_until + timedelta(seconds=1)
        ) == [delivery.pk]
        # Queued once: the lease moved on.
        assert (
            services.deliveries_requeue_stale(now=delivery.lease_until + timedelta(seconds=2)) == []
        )
    assert queued == [delivery.pk]


@pytest.mark.django_db
def test_send_now_refuses_a_second_click_while_the_first_is_under_way(org, queued):
    schedule = create(org, JourneyFactory(organization=org))
    delivery = services.schedule_send_now(organization=org, actor=actor(org), schedule=schedule)
    assert delivery.trigger == Trigger.MANUAL
    with pytest.raises(Conflict):
        services.schedule_send_now(organization=org, actor=actor(org), schedule=schedule)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_ticks_make_exactly_one_delivery(org, monkeypatch):
    """Two beat processes tick at the same moment: both read the schedule as due before either
    writes; the unique constraint lets one make the delivery, the other makes none."""
    import threading

    from django.db import connection

    from apps.reports import tasks

    schedule = create(org, JourneyFactory(organization=org))
    queued: list[int] = []
    monkeypatch.setattr(
        tasks.send_delivery, "delay", lambda **kwargs: queued.append(kwargs["delivery_id"])
    )
    barrier = threading.Barrier(2, timeout=10)
    real_latest_due = services._latest_due

    def latest_due_after_both_read(*args, **kwargs):
        barrier.wait()  # both ticks have read the schedule as due
        return real_latest_due(*args, **kwargs)

    monkeypatch.setattr(services, "_latest_due", latest_due_after_both_read)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            results.append(services.schedules_tick(now=utc(2025, 3, 24, 6, 0, 30)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(len(r) for r in results) == [0, 1]
    deliveries = list(ReportDelivery.objects.for_organization(org).filter(schedule=schedule))
    assert len(deliveries) == 1
    assert queued == [deliveries[0].pk]
    schedule.refresh_from_db()
    assert schedule.next_due_at == utc(2025, 3, 31, 5)


# --- pages and API: who may manage ----------------------------------------------------------


@pytest.fixture
def journey(org):
    return JourneyFactory(organization=org, name="Delivery journey")


def form_data(**overrides):
    data = {
        "name": "Weekly", "frequency": "weekly", "weekday": "0", "hour": "8",
        "time_zone": HELSINKI, "period": "last_7_days", "language": "fi",
        "recipients": "boss@example.com\nteam@example.com", "is_active": "on",
    }  # fmt: skip
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_an_analyst_creates_a_schedule_on_the_web(org, analyst, journey):
    from django.test import Client

    client = Client()
    client.force_login(analyst)
    url = reverse("reports:schedule_create", args=[org.slug, journey.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, form_data())
    schedule = ReportSchedule.objects.for_organization(org).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:schedule", args=[org.slug, schedule.pk])
    assert schedule.language == "fi"
    assert set(schedule.recipients.values_list("email", flat=True)) == {
        "boss@example.com", "team@example.com"}  # fmt: skip
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Send now" in page.content.decode()


@pytest.mark.django_db
def test_the_form_names_the_bad_field(org, analyst, journey):
    from django.test import Client

    client = Client()
    client.force_login(analyst)
    url = reverse("reports:schedule_create", args=[org.slug, journey.pk])
    response = client.post(url, form_data(hour="25", recipients="nobody-at-all", time_zone="X/Y"))
    assert response.status_code == 400
    form = response.context["form"]
    assert {"hour", "recipients", "time_zone"} <= set(form.errors)
    assert not ReportSchedule.objects.for_organization(org).exists()


@pytest.mark.django_db
def test_a_viewer_may_not_manage_schedules(org, viewer_client, viewer_api, journey):
    schedule = create(org, journey)
    assert (
        viewer_client.get(
            reverse("reports:schedule_create", args=[org.slug, journey.pk])
        ).status_code
        == 403
    )
    assert (
        viewer_client.post(
            reverse("reports:schedule_create", args=[org.slug, journey.pk]), form_data()
        ).status_code
        == 403
    )
    assert (
        viewer_client.get(reverse("reports:schedule", args=[org.slug, schedule.pk])).status_code
        == 403
    )
    assert (
        viewer_client.post(
            reverse("reports:schedule_send", args=[org.slug, schedule.pk])
        ).status_code
        == 403
    )
    assert (
        viewer_client.post(
            reverse("reports:schedule_delete", args=[org.slug, schedule.pk])
        ).status_code
        == 403
    )
    api_url = reverse("api:report-schedule-list", args=[org.slug])
    body = {"journey": journey.pk, "frequency": "weekly", "weekday": 0, "hour": 8,
            "period": "last_7_days", "recipients": ["a@example.com"]}  # fmt: skip
    assert viewer_api.post(api_url, body, format="json").status_code == 403
    detail = reverse("api:report-schedule-detail", args=[org.slug, schedule.pk])
    assert viewer_api.get(detail).status_code == 403
    assert viewer_api.patch(detail, {"hour": 9}, format="json").status_code == 403
    assert viewer_api.delete(detail).status_code == 403
    assert viewer_api.get(api_url).json()["results"] == []
    # The journey's reports page is open to viewers, without the schedules.
    page = viewer_client.get(reverse("reports:journey", args=[org.slug, journey.pk]))
    assert page.status_code == 200 and "New schedule" not in page.content.decode()
    assert ReportSchedule.objects.for_organization(org).count() == 1


@pytest.mark.django_db
def test_a_journey_owner_with_a_viewer_role_manages_their_journeys_schedules(org, viewer, journey):
    from rest_framework.test import APIClient

    journey.owner = viewer
    journey.save()
    client = APIClient()
    client.force_authenticate(viewer)
    body = {"journey": journey.pk, "frequency": "monthly", "day_of_month": 31, "hour": 7,
            "period": "previous_month", "recipients": ["ceo@example.com"]}  # fmt: skip
    response = client.post(
        reverse("api:report-schedule-list", args=[org.slug]), body, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["day_of_month"] == 31
    other = JourneyFactory(organization=org)
    body["journey"] = other.pk
    response = client.post(
        reverse("api:report-schedule-list", args=[org.slug]), body, format="json"
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_stranger_gets_404(org, stranger_client, stranger_api, journey):
    schedule = create(org, journey)
    assert (
        stranger_client.get(reverse("reports:schedule", args=[org.slug, schedule.pk])).status_code
        == 404
    )
    assert (
        stranger_client.get(reverse("reports:journey", args=[org.slug, journey.pk])).status_code
        == 404
    )
    detail = reverse("api:report-schedule-detail", args=[org.slug, schedule.pk])
    assert stranger_api.get(detail).status_code == 404


@pytest.mark.django_db
def test_the_api_validates_and_names_fields(org, analyst_api, journey):
    url = reverse("api:report-schedule-list", args=[org.slug])
    body = {"journey": journey.pk, "frequency": "monthly", "day_of_month": 40, "hour": 25,
            "time_zone": "Nowhere/City", "period": "last_7_days",
            "recipients": ["ok@example.com", "broken@"]}  # fmt: skip
    response = analyst_api.post(url, body, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"day_of_month", "hour", "time_zone", "recipients"} <= set(fields)
    body.update(day_of_month=31, hour=6, time_zone=HELSINKI, recipients=["ok@example.com"])
    response = analyst_api.post(url, body, format="json")
    assert response.status_code == 201
    schedule_id = response.json()["id"]
    detail = reverse("api:report-schedule-detail", args=[org.slug, schedule_id])
    response = analyst_api.patch(detail, {"recipients": ["x@example.com", "ok@example.com"]},
                                 format="json")  # fmt: skip
    assert response.status_code == 200
    assert sorted(response.json()["recipients"]) == ["ok@example.com", "x@example.com"]
    assert analyst_api.delete(detail).status_code == 204
    assert not ScheduleRecipient.objects.for_organization(org).exists()

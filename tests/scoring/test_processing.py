"""Incremental processing: responses become daily aggregates exactly once (SCORING.md 1-4)."""

import hashlib
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.responses import services as response_services
from apps.responses import tasks as response_tasks
from apps.responses.models import Answer, PendingResponse, Response
from apps.scoring import services
from apps.scoring.models import (
    AttributeSet,
    ItemDayCount,
    RespondentScore,
    ScoringState,
    TouchpointDayAggregate,
)
from apps.scoring.services import journey_rescore, responses_process, responses_process_pending
from apps.scoring.tasks import responses_process_task, responses_sweep
from apps.surveys.models import Item
from apps.surveys.services import questionnaire_generate, questionnaire_publish
from tests.journeys.helpers import principal
from tests.scoring.conftest import (
    DAY,
    NA,
    ResponseRow,
    ResponseStore,
    a_day,
    expected_aggregates,
    is_processed,
    rating_key,
    stored_aggregates,
    submit_response,
)

pytestmark = pytest.mark.django_db


def _keys(journey):
    t1, t2, _t3 = journey.touchpoints_in_order
    return t1, t2


# --- what a batch stores ----------------------------------------------------------------------


def test_a_batch_stores_the_hand_computed_aggregates(org, scoring_journey, response_store):
    t1, t2 = _keys(scoring_journey)
    south, north, team = {"region": "south"}, {"region": "north"}, {"team": "a"}
    c1 = response_store.add(
        "customer",
        {rating_key(t1, "ease"): 2, rating_key(t1, "effectiveness"): 4,
         rating_key(t1, "emotion"): NA, rating_key(t2, "ease"): 5, "nps": 9, "overall": 4,
         "comment": "Fine."},
        segment=south,
    )  # fmt: skip
    # NPS left unanswered: the outcome is missing even though overall was answered, because
    # this questionnaire asks NPS.
    c2 = response_store.add("customer", {rating_key(t1, "ease"): 3, "overall": 5}, segment=south)
    c3 = response_store.add("customer", {rating_key(t1, "ease"): 4, "nps": 3}, segment=north)
    response_store.add(
        "employee", {rating_key(t1, "ease"): 5, rating_key(t1, "effectiveness"): 5, "nps": 8},
        segment=team,
    )  # fmt: skip
    response_store.add(
        "employee", {rating_key(t1, "ease"): NA, rating_key(t2, "emotion"): 1}, segment=team
    )

    assert responses_process(organization_id=org.pk) == 5

    q = response_store.questionnaire.pk
    s, n, t = '{"region": "south"}', '{"region": "north"}', '{"team": "a"}'
    stored = stored_aggregates(org.pk)
    assert stored.item_days == {
        (q, rating_key(t1, "ease"), "customer", s, DAY, 1, 5, 2): 1,
        (q, rating_key(t1, "ease"), "customer", s, DAY, 1, 5, 3): 1,
        (q, rating_key(t1, "ease"), "customer", n, DAY, 1, 5, 4): 1,
        (q, rating_key(t1, "effectiveness"), "customer", s, DAY, 1, 5, 4): 1,
        (q, rating_key(t2, "ease"), "customer", s, DAY, 1, 5, 5): 1,
        (q, "nps", "customer", s, DAY, 0, 10, 9): 1,
        (q, "nps", "customer", n, DAY, 0, 10, 3): 1,
        (q, "overall", "customer", s, DAY, 1, 5, 4): 1,
        (q, "overall", "customer", s, DAY, 1, 5, 5): 1,
        (q, rating_key(t1, "ease"), "employee", t, DAY, 1, 5, 5): 1,
        (q, rating_key(t1, "effectiveness"), "employee", t, DAY, 1, 5, 5): 1,
        (q, rating_key(t2, "emotion"), "employee", t, DAY, 1, 5, 1): 1,
        (q, "nps", "employee", t, DAY, 0, 10, 8): 1,
    }
    # Per-respondent touchpoint scores: c1 on t1 = mean(25, 75) = 50 (emotion n/a), c2 = 50,
    # c3 = 75; c1 on t2 = 100; employee 1 on t1 = 100, employee 2 on t2 = 0 (t1 n/a only).
    assert stored.touchpoint_days == {
        (q, t1.pk, "customer", s, DAY): (2, 100.0, 5000.0),
        (q, t1.pk, "customer", n, DAY): (1, 75.0, 5625.0),
        (q, t2.pk, "customer", s, DAY): (1, 100.0, 10000.0),
        (q, t1.pk, "employee", t, DAY): (1, 100.0, 10000.0),
        (q, t2.pk, "employee", t, DAY): (1, 0.0, 0.0),
    }
    assert stored.respondents == {
        (c1.pk, t1.pk, s, DAY): (50.0, 90.0),
        (c1.pk, t2.pk, s, DAY): (100.0, 90.0),
        (c2.pk, t1.pk, s, DAY): (50.0, None),
        (c3.pk, t1.pk, n, DAY): (75.0, 30.0),
    }
    # Denormalised columns the report reads without joins.
    row = ItemDayCount.objects.for_organization(org).get(
        item_key=rating_key(t1, "effectiveness"), audience="customer"
    )
    assert (row.journey_id, row.kind, row.touchpoint_id, row.dimension) == (
        scoring_journey.pk, "rating", t1.pk, "effectiveness",
    )  # fmt: skip
    nps = ItemDayCount.objects.for_organization(org).filter(item_key="nps").first()
    assert (nps.kind, nps.touchpoint_id, nps.dimension) == ("nps", None, "")
    assert {r.journey_id for r in TouchpointDayAggregate.objects.for_organization(org)} == {
        scoring_journey.pk
    }
    stored.assert_equal(expected_aggregates(org.pk))
    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    assert state.version == 1


def test_the_outcome_is_overall_satisfaction_where_the_version_asks_no_nps(
    org, analyst, scoring_journey
):
    actor = principal(org, analyst)
    questionnaire = questionnaire_generate(
        organization=org, actor=actor, journey=scoring_journey, name="No NPS"
    )
    Item.objects.for_organization(org).filter(
        version__questionnaire=questionnaire, key="nps"
    ).delete()
    questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    store = ResponseStore(questionnaire)
    t1, _t2 = _keys(scoring_journey)
    response = store.add("customer", {rating_key(t1, "ease"): 5, "overall": 2})
    store.add("employee", {rating_key(t1, "ease"): 4, "overall": 2})

    responses_process(organization_id=org.pk)

    row = RespondentScore.objects.for_organization(org).get()
    assert (row.response_id, row.score, row.outcome) == (response.pk, 100.0, 25.0)
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


def test_processing_stores_no_time_for_an_employee_response(org, scoring_journey, response_store):
    t1, _t2 = _keys(scoring_journey)
    employee = response_store.add("employee", {rating_key(t1, "ease"): 3})
    response_store.add("customer", {rating_key(t1, "ease"): 3})
    responses = Response.objects.for_organization(org)
    before = responses.values().get(pk=employee.pk)
    assert not is_processed(employee)

    responses_process(organization_id=org.pk)

    assert is_processed(employee)
    # The response row is not written at all, and its pending row, gone now, held no time.
    assert responses.values().get(pk=employee.pk) == before
    assert before["submitted_at"] is None
    assert not [
        f.name for f in PendingResponse._meta.concrete_fields
        if isinstance(f, (models.DateField, models.TimeField))  # DateTimeField included
    ]  # fmt: skip


def test_attribute_sets_are_stored_once_per_distinct_segment(
    org, other_org, scoring_journey, response_store
):
    t1, _t2 = _keys(scoring_journey)
    answers = {rating_key(t1, "ease"): 3}
    for segment in ({"b": "2", "a": "1"}, {"a": "1", "b": "2"}, {}, {}, {"a": "1"}):
        response_store.add("customer", answers, segment=segment)
    responses_process(organization_id=org.pk, limit=2)
    responses_process(organization_id=org.pk, limit=2)
    response_store.add("employee", answers, segment={"a": 1, "b": 2})  # numbers become strings
    responses_process(organization_id=org.pk)

    sets = {s.digest: s.values for s in AttributeSet.objects.for_organization(org)}
    canonical = '{"a":"1","b":"2"}'
    assert sets == {
        hashlib.sha256(canonical.encode()).hexdigest(): {"a": "1", "b": "2"},
        hashlib.sha256(b"{}").hexdigest(): {},
        hashlib.sha256(b'{"a":"1"}').hexdigest(): {"a": "1"},
    }
    # Each response counted under the set of its segment, by batches and by a rescoring.
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))
    journey_rescore(organization=org, actor=None, journey=scoring_journey)
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))
    assert len(sets) == AttributeSet.objects.for_organization(org).count()
    assert not AttributeSet.objects.for_organization(other_org).exists()


def test_a_batch_takes_the_oldest_first_up_to_its_limit_and_only_its_organisation(
    org, other_org, scoring_journey, response_store
):
    t1, _t2 = _keys(scoring_journey)
    stored = response_store.add_many(
        ResponseRow("customer", {rating_key(t1, "ease"): v}) for v in (1, 2, 3, 4, 5)
    )
    # Another organisation's unprocessed response (the same questionnaire rows are irrelevant:
    # the claim filters by organisation first).
    Response.objects.for_organization(org).filter(pk=stored[4].pk).update(
        organization_id=other_org.pk
    )
    # Its answers go along: an answer belongs to its response's organisation (a foreign key).
    Answer.objects.for_organization(org).filter(response_id=stored[4].pk).update(
        organization_id=other_org.pk
    )
    PendingResponse.objects.for_organization(org).filter(response_id=stored[4].pk).update(
        organization_id=other_org.pk
    )

    assert responses_process(organization_id=org.pk, limit=2) == 2
    processed = set(
        Response.objects.for_organization(org)
        .filter(pending__isnull=True)
        .values_list("pk", flat=True)
    )
    assert processed == {stored[0].pk, stored[1].pk}
    assert responses_process(organization_id=org.pk, limit=10) == 2
    assert responses_process(organization_id=org.pk) == 0
    assert not is_processed(Response.objects.for_organization(other_org).get())


def test_the_statements_per_batch_do_not_depend_on_its_size(
    org, scoring_journey, response_store, django_assert_max_num_queries
):
    t1, t2 = _keys(scoring_journey)

    def rows(count: int, offset: int):
        return [
            ResponseRow(
                "customer" if i % 3 else "employee",
                {rating_key(t1, "ease"): 1 + i % 5, rating_key(t2, "emotion"): 1 + i % 4,
                 "nps": i % 11, "overall": 1 + i % 5},
                segment={"store": f"s{offset + i}"},  # every response a new attribute set
                day=a_day(i % 7),
            )
            for i in range(count)
        ]  # fmt: skip

    counts = []
    for size, offset in ((3, 0), (300, 1000)):
        response_store.add_many(rows(size, offset))
        with CaptureQueriesContext(connection) as queries:
            assert responses_process(organization_id=org.pk) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]
    response_store.add_many(rows(300, 5000))
    # Scoring: 12 on PostgreSQL, 21 on SQLite (one statement per aggregate table); then 3 for
    # raising alerts and 1 for webhook subscribers (tests/alerts and tests/webhooks count those).
    with django_assert_max_num_queries(25):
        responses_process(organization_id=org.pk)
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


def test_scoring_state_is_bumped_once_per_batch_for_each_journey_touched(
    org, scoring_journey, response_store
):
    t1, _t2 = _keys(scoring_journey)
    response_store.add_many(ResponseRow("customer", {rating_key(t1, "ease"): 4}) for _ in range(3))
    responses_process(organization_id=org.pk, limit=2)
    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    assert state.version == 1
    responses_process(organization_id=org.pk, limit=2)
    responses_process(organization_id=org.pk, limit=2)  # nothing left: no new data, no bump
    state.refresh_from_db()
    assert state.version == 2


# --- exactly once -----------------------------------------------------------------------------


def _mixed(journey, count: int):
    t1, t2 = _keys(journey)
    return [
        ResponseRow(
            "customer" if i % 4 else "employee",
            {rating_key(t1, "ease"): 1 + i % 5, rating_key(t1, "emotion"): NA if i % 6 == 0 else 2,
             rating_key(t2, "effectiveness"): 1 + (i * 7) % 5, "nps": (i * 3) % 11,
             "overall": 1 + i % 5},
            segment={"region": ("north", "south")[i % 2]},
            day=a_day(i % 3),
        )
        for i in range(count)
    ]  # fmt: skip


def test_processing_again_changes_nothing(org, scoring_journey, response_store):
    response_store.add_many(_mixed(scoring_journey, 12))
    assert responses_process(organization_id=org.pk) == 12
    first = stored_aggregates(org.pk)
    assert responses_process(organization_id=org.pk) == 0
    second = stored_aggregates(org.pk)
    assert first == second
    first.assert_equal(expected_aggregates(org.pk))


def test_duplicate_task_deliveries_count_once(org, scoring_journey, response_store):
    response_store.add_many(_mixed(scoring_journey, 9))
    assert responses_process_task.apply(kwargs={"organization_id": org.pk}).get() == 9
    assert responses_process_task.apply(kwargs={"organization_id": org.pk}).get() == 0
    # The web's entry point, also as queued by older releases (with a response id).
    assert response_tasks.process_response.apply(kwargs={"organization_id": org.pk}).get() == 0
    assert (
        response_tasks.process_response.apply(
            kwargs={"organization_id": org.pk, "response_id": 1}
        ).get()
        == 0
    )
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


def test_a_batch_failing_midway_rolls_back_and_a_retry_counts_once(
    org, scoring_journey, response_store, monkeypatch
):
    response_store.add_many(_mixed(scoring_journey, 8))

    def fail(*args, **kwargs):
        raise RuntimeError("worker lost mid-batch")

    # The responses are marked and every aggregate written when this, the last step, fails.
    monkeypatch.setattr(services, "_bump_versions", fail)
    with pytest.raises(RuntimeError):
        responses_process(organization_id=org.pk)
    assert not ItemDayCount.objects.for_organization(org).exists()
    assert not AttributeSet.objects.for_organization(org).exists()
    assert not ScoringState.objects.for_organization(org).exists()
    assert not Response.objects.for_organization(org).filter(pending__isnull=True).exists()

    monkeypatch.undo()
    assert responses_process(organization_id=org.pk) == 8
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


def test_a_task_out_of_time_queues_itself_again(org, scoring_journey, response_store, monkeypatch):
    from apps.scoring import tasks

    response_store.add_many(_mixed(scoring_journey, 3))
    assert responses_process_pending(organization_id=org.pk, limit=1, time_budget=0) == (1, False)
    monkeypatch.setattr(tasks, "TIME_BUDGET_SECONDS", 0)
    queued = []
    original = tasks.responses_process_task.delay
    monkeypatch.setattr(
        tasks.responses_process_task, "delay",
        lambda **kwargs: (queued.append(kwargs), original(**kwargs)),
    )  # fmt: skip
    assert responses_process_task.apply(kwargs={"organization_id": org.pk, "limit": 1}).get() == 1
    # Eagerly, each re-queued run processed one more; the last found the backlog drained.
    assert queued == [{"organization_id": org.pk, "limit": 1}] * 2
    assert not Response.objects.for_organization(org).filter(pending__isnull=False).exists()
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


# --- property: incremental == rescoring == direct ---------------------------------------------

_rating = st.one_of(st.none(), st.just(NA), st.integers(1, 5))
_segments = st.sampled_from(
    [{}, {"region": "north"}, {"region": "south"}, {"store": "x", "region": "south"},
     {"region": "south", "store": "x"}]
)  # fmt: skip


@st.composite
def _response_rows(draw, touchpoints):
    audience = draw(st.sampled_from(["customer", "employee"]))
    answers: dict[str, int | str] = {}
    for touchpoint in touchpoints:
        for dimension in ("effectiveness", "ease", "emotion"):
            value = draw(_rating)
            if value is not None:
                answers[rating_key(touchpoint, dimension)] = value
    nps = draw(st.one_of(st.none(), st.integers(0, 10)))
    overall = draw(st.one_of(st.none(), st.integers(1, 5)))
    if nps is not None:
        answers["nps"] = nps
    if overall is not None:
        answers["overall"] = overall
    if draw(st.booleans()):
        answers["comment"] = "text is not scored"
    return ResponseRow(audience, answers, draw(_segments), a_day(draw(st.integers(0, 2))))


@settings(
    max_examples=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(data=st.data())
def test_incremental_rescoring_and_direct_computation_agree(
    data, org, scoring_journey, response_store
):
    touchpoints = scoring_journey.touchpoints_in_order[:2]
    rows = data.draw(st.lists(_response_rows(touchpoints), min_size=1, max_size=25), "rows")
    with transaction.atomic():
        arrived = 0
        while arrived < len(rows):
            # Responses arrive in chunks (random order: hypothesis shuffles the rows), and
            # processing calls of random sizes, some repeated, run between arrivals.
            chunk = data.draw(st.integers(1, len(rows) - arrived), "chunk")
            response_store.add_many(rows[arrived : arrived + chunk])
            arrived += chunk
            for limit in data.draw(st.lists(st.integers(1, 8), max_size=3), "limits"):
                responses_process(organization_id=org.pk, limit=limit)
                if data.draw(st.booleans(), "again"):
                    responses_process(organization_id=org.pk, limit=limit)
        while responses_process(organization_id=org.pk, limit=data.draw(st.integers(1, 8))):
            pass
        incremental = stored_aggregates(org.pk)
        direct = expected_aggregates(org.pk)
        incremental.assert_equal(direct)
        journey_rescore(organization=org, actor=None, journey=scoring_journey)
        rescored = stored_aggregates(org.pk)
        rescored.assert_equal(direct)
        assert rescored.item_days == incremental.item_days
        transaction.set_rollback(True)


# --- the trigger after a submission -----------------------------------------------------------


def test_submissions_in_one_window_publish_one_processing_task(
    org, scoring_journey, survey_link, monkeypatch, django_capture_on_commit_callbacks
):
    t1, _t2 = _keys(scoring_journey)
    link = survey_link("customer")
    published = []
    monkeypatch.setattr(
        response_tasks.process_response, "apply_async",
        lambda *args, **kwargs: published.append(kwargs),
    )  # fmt: skip
    answers = {rating_key(t1, "ease"): 4, "nps": 9, "overall": 4}
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            submit_response(link, answers)
    # The task is due after the window closes, so it finds all five.
    assert len(published) == 1
    assert published[0]["kwargs"] == {"organization_id": org.pk}
    assert published[0]["countdown"] > 1
    # Within the window this process does not even ask the cache: its own task is still due.
    cache.delete(f"scoring:queued:{org.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        submit_response(link, answers)
    assert len(published) == 1
    # The window has passed (for the cache and for this process).
    response_services._QUEUED_AT[org.pk] -= 2
    cache.delete(f"scoring:queued:{org.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        submit_response(link, answers)
    assert len(published) == 2


def test_a_submission_is_processed_by_the_queued_task(
    org, scoring_journey, survey_link, django_capture_on_commit_callbacks
):
    t1, t2 = _keys(scoring_journey)
    link = survey_link("employee", context={})
    with django_capture_on_commit_callbacks(execute=True):
        response = submit_response(
            link, {rating_key(t1, "ease"): 2, rating_key(t2, "emotion"): NA, "nps": 6, "overall": 3}
        )
    assert is_processed(response)  # eager in tests: the task ran at commit
    stored = stored_aggregates(org.pk)
    assert sum(stored.item_days.values()) == 3
    stored.assert_equal(expected_aggregates(org.pk))


@pytest.mark.parametrize("outage", ["broker", "cache"])
def test_an_outage_still_stores_the_response_and_the_sweeper_processes_it(
    outage, org, scoring_journey, survey_link, monkeypatch, django_capture_on_commit_callbacks
):
    t1, _t2 = _keys(scoring_journey)

    def down(*args, **kwargs):
        raise ConnectionError(f"{outage} unreachable")

    if outage == "broker":
        monkeypatch.setattr(response_tasks.process_response, "apply_async", down)
    else:
        monkeypatch.setattr(cache, "add", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit_response(
            survey_link("customer"), {rating_key(t1, "ease"): 5, "nps": 10, "overall": 5}
        )
    assert not is_processed(response)
    monkeypatch.undo()

    assert responses_sweep.apply().get() == 1  # no earlier sweep noted: everything counts
    assert is_processed(response)
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


# --- the sweeper ------------------------------------------------------------------------------


def test_the_sweeper_finds_responses_left_unprocessed_for_30_seconds(
    org, scoring_journey, response_store
):
    t1, _t2 = _keys(scoring_journey)
    stale = services.responses_stale_organizations
    t0 = timezone.now()
    assert stale(now=t0) == []  # nothing unprocessed; notes how far the responses went

    employee = response_store.add("employee", {rating_key(t1, "ease"): 3})
    # An employee response carries no time: its age shows once a note older than 30 s
    # predates it.
    assert stale(now=t0 + timedelta(seconds=20)) == []
    assert stale(now=t0 + timedelta(seconds=40)) == []  # the t0 note predates it: not stale
    assert stale(now=t0 + timedelta(seconds=75)) == [org.pk]  # the t0+20 s note covers it

    # A customer response is stale by its submission time alone.
    responses_process(organization_id=org.pk)
    customer = response_store.add("customer", {rating_key(t1, "ease"): 3})
    Response.objects.for_organization(org).filter(pk=customer.pk).update(
        submitted_at=t0 + timedelta(seconds=60)
    )
    assert stale(now=t0 + timedelta(seconds=80)) == []
    assert stale(now=t0 + timedelta(seconds=85)) == []
    assert stale(now=t0 + timedelta(seconds=95)) == [org.pk]
    assert is_processed(employee)


def test_the_sweeper_task_queues_each_stale_organisation_once(
    org, other_org, scoring_journey, response_store, monkeypatch
):
    from apps.scoring import tasks

    t1, _t2 = _keys(scoring_journey)
    response_store.add_many(ResponseRow("employee", {rating_key(t1, "ease"): 3}) for _ in range(3))
    queued = []
    monkeypatch.setattr(tasks.responses_process_task, "delay", lambda **kw: queued.append(kw))
    assert responses_sweep.apply().get() == 1  # a cold start counts every unprocessed response
    assert queued == [{"organization_id": org.pk}]
    monkeypatch.undo()
    assert responses_sweep.apply(kwargs={"older_than_seconds": 0}).get() == 1
    assert not Response.objects.for_organization(org).filter(pending__isnull=False).exists()
    assert responses_sweep.apply(kwargs={"older_than_seconds": 0}).get() == 0


def test_the_operator_admin_shows_which_responses_are_processed(
    client, org, scoring_journey, response_store
):
    from apps.accounts.models import User

    t1, _t2 = _keys(scoring_journey)
    processed = response_store.add("customer", {rating_key(t1, "ease"): 3})
    responses_process(organization_id=org.pk)
    waiting = response_store.add("employee", {rating_key(t1, "ease"): 4})
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x" * 12))

    page = client.get("/admin/responses/response/")

    assert page.status_code == 200
    rows = {r.pk: r for r in page.context["cl"].result_list}
    admin = page.context["cl"].model_admin
    assert (admin.processed(rows[processed.pk]), admin.processed(rows[waiting.pk])) == (True, False)

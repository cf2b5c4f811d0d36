"""Full rescoring: a journey's aggregates rebuilt from all its raw answers (service, task,
management command)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEntry
from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.responses.models import PendingResponse, Response
from apps.scoring.models import (
    ImportancePairDayCount,
    ImportancePairSetMonthCount,
    ImportancePairSetSpanCount,
    ImportancePairSpanCount,
    ImportancePairValueSpanCount,
    ItemDayCount,
    ItemDayTotal,
    ItemSpanCount,
    RespondentScore,
    ScoringState,
    TouchpointDayTotal,
    TouchpointSpanAggregate,
)
from apps.scoring.services import journey_rescore, responses_process
from apps.scoring.tasks import journey_rescore_task
from tests.factories import JourneyFactory, StageFactory, TouchpointFactory
from tests.journeys.helpers import principal
from tests.scoring.conftest import (
    NA,
    ResponseRow,
    ResponseStore,
    a_day,
    expected_aggregates,
    rating_key,
    stored_aggregates,
)

pytestmark = pytest.mark.django_db


def _rows(journey, count: int):
    t1, t2, t3 = journey.touchpoints_in_order
    return [
        ResponseRow(
            ("customer", "customer", "employee")[i % 3],
            {rating_key(t1, "ease"): 1 + i % 5, rating_key(t2, "emotion"): NA if i % 4 else 3,
             rating_key(t3, "effectiveness"): 1 + (i * 3) % 5, "nps": i % 11, "overall": 2},
            segment={"region": ("north", "south", "east")[i % 3]},
            day=a_day(i % 4),
        )
        for i in range(count)
    ]  # fmt: skip


def _snapshot(organization):
    responses = Response.objects.for_organization(organization)
    states = ScoringState.objects.for_organization(organization)
    audit = AuditEntry.objects.for_organization(organization)
    return {
        "responses": list(responses.values_list("pk", "pending__pk")),
        "aggregates": stored_aggregates(organization.pk),
        "states": list(states.values_list("journey_id", "version", "rescored_at")),
        "audit": audit.filter(action="journey.rescored").count(),
    }


def test_rescoring_rebuilds_what_incremental_processing_built(
    org, analyst, scoring_journey, response_store
):
    response_store.add_many(_rows(scoring_journey, 30))
    responses_process(organization_id=org.pk, limit=20)  # ten are left unprocessed
    # Damage the aggregates: a rescoring does not build on them.
    ItemDayCount.objects.for_organization(org).update(count=999)
    RespondentScore.objects.for_organization(org).filter(
        pk__in=RespondentScore.objects.for_organization(org).values("pk")[:3]
    ).delete()
    RespondentScore.objects.for_organization(org).filter(
        pk__in=RespondentScore.objects.for_organization(org).values("pk")[:2]
    ).update(score=1.5, outcome=None)
    # Rows no response gives any more (a day nobody answered) are removed.
    stale = ItemDayCount.objects.for_organization(org).first()
    stale.pk, stale.day = None, a_day(40)
    stale.save()
    for model in (ItemDayTotal, TouchpointDayTotal, ImportancePairDayCount):
        row = model.objects.for_organization(org).first()
        row.pk, row.day = None, a_day(40)
        row.save()
    months = ImportancePairSetMonthCount.objects.for_organization(org)
    stale = months.first()
    months.filter(pk=stale.pk).update(count=77)  # a wrong count...
    stale.pk, stale.month = None, a_day(400).replace(day=1)  # ...and a month nobody answered
    stale.save()
    spans = ImportancePairSetSpanCount.objects.for_organization(org)
    stale = spans.filter(span="quarter").first()
    spans.filter(pk=stale.pk).update(count=55)
    stale.pk, stale.span = None, "week"  # a week nobody answered (a quarter's first day)
    stale.save()
    totals = ImportancePairSpanCount.objects.for_organization(org)
    totals.filter(pk=totals.filter(span="month").first().pk).update(count=44)
    moments = TouchpointSpanAggregate.objects.for_organization(org)
    moments.filter(pk=moments.filter(span="quarter").first().pk).update(n=999, total=1.25)
    item_spans = ItemSpanCount.objects.for_organization(org)
    item_spans.filter(pk=item_spans.first().pk).update(count=77)
    item_spans.filter(pk=item_spans.filter(span="month").last().pk).delete()
    version = ScoringState.objects.for_organization(org).get(journey=scoring_journey).version

    counted = journey_rescore(
        organization=org, actor=principal(org, analyst), journey=scoring_journey
    )

    assert counted == 30
    assert not Response.objects.for_organization(org).filter(pending__isnull=False).exists()
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))
    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    assert state.version == version + 1
    assert state.rescored_at is not None
    entry = AuditEntry.objects.for_organization(org).get(action="journey.rescored")
    assert (entry.actor, entry.target_id, entry.data) == (
        analyst, str(scoring_journey.pk), {"responses": 30},
    )  # fmt: skip
    # And processing afterwards finds nothing to add twice.
    assert responses_process(organization_id=org.pk) == 0
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


def test_rescoring_touches_only_its_journey(org, analyst, scoring_journey, response_store):
    other = JourneyFactory(organization=org, name="Other journey")
    touchpoint = TouchpointFactory(stage=StageFactory(journey=other))
    from apps.surveys.services import questionnaire_generate, questionnaire_publish

    actor = principal(org, analyst)
    questionnaire = questionnaire_generate(organization=org, actor=actor, journey=other)
    questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    ResponseStore(questionnaire).add("customer", {rating_key(touchpoint, "ease"): 5, "nps": 10})
    response_store.add_many(_rows(scoring_journey, 6))
    responses_process(organization_id=org.pk)
    ItemDayCount.objects.for_organization(org).filter(journey=other).update(count=7)

    journey_rescore(organization=org, actor=None, journey=scoring_journey.pk)

    assert set(
        ItemDayCount.objects.for_organization(org)
        .filter(journey=other)
        .values_list("count", flat=True)
    ) == {7}  # left as it was
    state = ScoringState.objects.for_organization(org).get(journey=other)
    assert (state.version, state.rescored_at) == (1, None)
    entry = AuditEntry.objects.for_organization(org).get(action="journey.rescored")
    assert entry.actor_label == "system"


def test_rescoring_a_journey_without_responses_empties_its_aggregates(
    org, scoring_journey, scoring_questionnaire
):
    assert journey_rescore(organization=org, actor=None, journey=scoring_journey) == 0
    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    assert state.version == 1 and state.rescored_at is not None
    assert not ItemDayCount.objects.for_organization(org).exists()


def test_rescoring_another_organisations_journey_is_not_found_and_changes_nothing(
    org, other_org, scoring_journey, response_store, stranger
):
    response_store.add_many(_rows(scoring_journey, 4))
    responses_process(organization_id=org.pk, limit=2)
    before = _snapshot(org)
    for journey in (scoring_journey, scoring_journey.pk):
        with pytest.raises(NotFound) as raised:
            journey_rescore(
                organization=other_org, actor=principal(other_org, stranger), journey=journey
            )
        assert raised.value.status_code == 404
    with pytest.raises(NotFound):
        journey_rescore(organization=org, actor=None, journey=987654)
    assert _snapshot(org) == before


def test_rescoring_a_journey_without_questionnaire_names_the_journey(org, analyst):
    journey = JourneyFactory(organization=org)
    with pytest.raises(ValidationFailed) as raised:
        journey_rescore(organization=org, actor=principal(org, analyst), journey=journey)
    assert raised.value.status_code == 400
    assert list(raised.value.fields) == ["journey"]
    assert not ScoringState.objects.for_organization(org).exists()
    assert not AuditEntry.objects.for_organization(org).filter(action="journey.rescored").exists()


def test_rescoring_needs_the_right_to_edit_the_journey(
    org, viewer, scoring_journey, response_store
):
    response_store.add_many(_rows(scoring_journey, 3))
    before = _snapshot(org)
    with pytest.raises(PermissionDenied):
        journey_rescore(organization=org, actor=principal(org, viewer), journey=scoring_journey)
    assert _snapshot(org) == before


def test_the_rescoring_task_acts_for_its_member(
    org, analyst, viewer, scoring_journey, response_store
):
    response_store.add_many(_rows(scoring_journey, 5))
    result = journey_rescore_task.apply(
        kwargs={"organization_id": org.pk, "journey_id": scoring_journey.pk, "actor_id": analyst.pk}
    ).get()
    assert result == 5
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))
    assert AuditEntry.objects.for_organization(org).get(action="journey.rescored").actor == analyst
    # Refused requests do nothing and are not retried.
    denied = {"organization_id": org.pk, "journey_id": scoring_journey.pk, "actor_id": viewer.pk}
    assert journey_rescore_task.apply(kwargs=denied).get() is None
    missing = {"organization_id": org.pk, "journey_id": 987654}
    assert journey_rescore_task.apply(kwargs=missing).get() is None
    assert AuditEntry.objects.for_organization(org).filter(action="journey.rescored").count() == 1


def test_the_management_command_rescores_by_slug_and_id(org, scoring_journey, response_store):
    response_store.add_many(_rows(scoring_journey, 7))
    out = StringIO()
    call_command("rescore_journey", org.slug, str(scoring_journey.pk), stdout=out)
    assert f"Rescored journey {scoring_journey.pk}: 7 responses counted." in out.getvalue()
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))

    with pytest.raises(CommandError, match="No organisation"):
        call_command("rescore_journey", "nobody", str(scoring_journey.pk))
    with pytest.raises(CommandError, match="journey"):
        call_command("rescore_journey", org.slug, "987654")
    bare = JourneyFactory(organization=org)
    with pytest.raises(CommandError, match="questionnaire"):
        call_command("rescore_journey", org.slug, str(bare.pk))


@pytest.mark.postgres
def test_rescoring_leaves_rows_that_came_out_the_same_untouched(
    org, analyst, scoring_journey, response_store
):
    """After a correct incremental history a rescoring neither writes nor locks any row: a
    stored row keeps its version (xmin) and no transaction marks it (xmax stays 0). An upsert
    whose WHERE skips unchanged rows would still lock each one."""
    from django.db import connection

    response_store.add_many(_rows(scoring_journey, 12))
    responses_process(organization_id=org.pk)
    tables = [
        model._meta.db_table
        for model in (ItemDayCount, ItemDayTotal, RespondentScore, ImportancePairDayCount,
                      TouchpointDayTotal)
    ]  # fmt: skip

    def versions():
        with connection.cursor() as cursor:
            found = {}
            for table in tables:
                cursor.execute(f"SELECT id, xmin::text, xmax::text FROM {table} ORDER BY id")  # noqa: S608
                found[table] = cursor.fetchall()
            return found

    before = versions()
    assert all(before.values())
    assert all(xmax == "0" for rows in before.values() for _id, _xmin, xmax in rows)

    journey_rescore(organization=org, actor=principal(org, analyst), journey=scoring_journey)

    assert versions() == before
    stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))


@pytest.mark.postgres
def test_rescoring_with_parallel_workers_rewrites_changed_data_as_processing_afresh_would(
    org, analyst, scoring_journey, response_store
):
    """A rescoring's two reads may run in parallel workers (a journey of millions of answers);
    here the planner is told they cost nothing, so that it plans them on a small journey too.
    After the raw answers changed under the stored aggregates (a value, a response's day, a
    touchpoint answer removed), the rescoring updates, inserts and deletes rows until they equal
    what processing every response afresh stores."""
    from django.db import connection

    from apps.responses.models import Answer
    from apps.scoring import services
    from apps.scoring.models import TouchpointDayAggregate

    t1, _t2, t3 = scoring_journey.touchpoints_in_order
    responses = response_store.add_many(_rows(scoring_journey, 60))
    responses_process(organization_id=org.pk)
    answers = Answer.objects.for_organization(org)
    first, second, third = responses[0], responses[1], responses[3]
    answers.filter(response=first, item__key=rating_key(t1, "ease")).update(value=5)
    answers.filter(response=first, item__key="nps").update(value=3)
    Response.objects.for_organization(org).filter(pk=second.pk).update(submitted_on=a_day(30))
    answers.filter(response=third, item__key=rating_key(t1, "ease")).delete()
    with pytest.raises(AssertionError):  # the stored aggregates no longer fit the answers
        stored_aggregates(org.pk).assert_equal(expected_aggregates(org.pk))
    moved_day = RespondentScore.objects.for_organization(org).filter(response=second)
    assert set(moved_day.values_list("day", flat=True)) == {a_day(1)}
    assert (
        RespondentScore.objects.for_organization(org).filter(response=third, touchpoint=t1).exists()
    )

    with connection.cursor() as cursor:
        for setting in (
            "parallel_setup_cost",
            "parallel_tuple_cost",
            "min_parallel_table_scan_size",
            "min_parallel_index_scan_size",
        ):
            cursor.execute(f"SET {setting} = 0")  # undone with the test's transaction
        cursor.execute(f"SET max_parallel_workers_per_gather = {services.RESCORE_PARALLEL_WORKERS}")
        scope = services._journey_scope(org.pk, [response_store.questionnaire.pk])
        cursor.execute(
            "EXPLAIN " + services._stage_cells(scope), (*scope.set_params, *scope.params)
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Workers Planned" in plan, plan

    journey_rescore(organization=org, actor=principal(org, analyst), journey=scoring_journey)

    rescored = stored_aggregates(org.pk)
    rescored.assert_equal(expected_aggregates(org.pk))
    assert set(moved_day.values_list("day", flat=True)) == {a_day(30)}
    assert (
        not RespondentScore.objects.for_organization(org)
        .filter(response=third, touchpoint=t1)
        .exists()
    )
    assert (
        RespondentScore.objects.for_organization(org).filter(response=third, touchpoint=t3).exists()
    )
    # The same as processing every response afresh.
    for model in (
        ItemDayCount,
        ItemDayTotal,
        RespondentScore,
        ImportancePairDayCount,
        ImportancePairSetMonthCount,
        ImportancePairSetSpanCount,
        ImportancePairSpanCount,
        TouchpointDayAggregate,
        TouchpointSpanAggregate,
        TouchpointDayTotal,
        ItemSpanCount,
        ImportancePairValueSpanCount,
    ):
        model.objects.for_organization(org).delete()
    PendingResponse.objects.bulk_create(
        PendingResponse(organization_id=org.pk, response_id=pk)
        for pk in Response.objects.for_organization(org).values_list("pk", flat=True)
    )
    while responses_process(organization_id=org.pk, limit=25):
        pass
    stored_aggregates(org.pk).assert_equal(rescored)

"""Creating an action captures its baseline from the aggregates; its progress compares the
period since the start with that baseline; bad input and wrong roles change nothing."""

import statistics
from datetime import timedelta

import pytest
from scipy import stats

from apps.actions import selectors, services
from apps.actions.models import ActionEvent, ImprovementAction
from apps.audit.models import AuditEntry
from apps.core.errors import PermissionDenied, ValidationFailed
from tests.factories import JourneyFactory, StageFactory, TouchpointFactory, UserFactory
from tests.journeys.helpers import principal

from .conftest import (
    BASELINE_CUSTOMER_EASE,
    BASELINE_CUSTOMER_EFFECTIVENESS,
    BASELINE_EMPLOYEE_EASE,
    SINCE_CUSTOMER_EASE,
    SINCE_EMPLOYEE_EASE,
    START,
    TODAY,
    normalised,
)

pytestmark = pytest.mark.django_db


def welch_p(a: list[float], b: list[float]) -> float:
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_the_baseline_is_the_dimension_cell_over_the_90_days_before_the_start(
    org, planted, make_action
):
    action = make_action()
    customers = normalised(BASELINE_CUSTOMER_EASE)
    staff = normalised(BASELINE_EMPLOYEE_EASE)
    assert action.started_on == START
    assert action.baseline_from == START - timedelta(days=90)
    assert action.baseline_to == START - timedelta(days=1)
    assert action.baseline_customer_n == 20
    assert action.baseline_customer_score == pytest.approx(statistics.mean(customers), abs=1e-9)
    assert action.baseline_customer_variance == pytest.approx(
        statistics.variance(customers), abs=1e-9
    )
    assert action.baseline_employee_n == 12
    assert action.baseline_employee_score == pytest.approx(statistics.mean(staff), abs=1e-9)
    assert action.baseline_gap == pytest.approx(
        statistics.mean(staff) - statistics.mean(customers), abs=1e-9
    )
    assert action.baseline_p_value == pytest.approx(welch_p(staff, customers), rel=1e-6)
    assert action.baseline_classification == "blind_spot"
    # The answers since the start (already stored) are not part of the baseline.
    assert action.baseline_customer_n == len(BASELINE_CUSTOMER_EASE)


def test_a_touchpoint_action_takes_the_touchpoint_scores(org, planted, make_action):
    action = make_action(dimension="")
    # A respondent's touchpoint score is the mean of their dimension answers (SCORING.md 4).
    per_customer = [
        (a + b) / 2
        for a, b in zip(
            normalised(BASELINE_CUSTOMER_EASE), normalised(BASELINE_CUSTOMER_EFFECTIVENESS),
            strict=True,
        )
    ]  # fmt: skip
    assert action.baseline_customer_n == 20
    assert action.baseline_customer_score == pytest.approx(statistics.mean(per_customer))
    staff = normalised(BASELINE_EMPLOYEE_EASE)
    assert action.baseline_gap == pytest.approx(
        statistics.mean(staff) - statistics.mean(per_customer)
    )


def test_progress_since_the_start_against_the_baseline(org, planted, make_action):
    action = make_action()
    progress = selectors.action_progress(organization=org, action=action, today=TODAY)
    before = normalised(BASELINE_CUSTOMER_EASE)
    after = normalised(SINCE_CUSTOMER_EASE)
    staff_after = normalised(SINCE_EMPLOYEE_EASE)
    assert (progress.current.date_from, progress.current.date_to) == (START, TODAY)
    assert progress.current.customer_n == 20
    assert progress.current.customer_score == pytest.approx(statistics.mean(after))
    assert progress.current.gap == pytest.approx(
        statistics.mean(staff_after) - statistics.mean(after)
    )
    change = progress.change
    assert change.score_change == pytest.approx(statistics.mean(after) - statistics.mean(before))
    assert change.gap_change == pytest.approx(progress.current.gap - action.baseline_gap)
    assert change.gap_change < 0
    assert change.p_value == pytest.approx(welch_p(after, before), rel=1e-6)
    assert change.status == "improved"
    # The series runs from the baseline's first day to today, the touchpoint's both audiences.
    assert progress.series[0].period_start <= action.baseline_from
    assert sum(p.customer.n or 0 for p in progress.series) == 40


def test_progress_says_when_there_is_not_enough_data_yet(org, planted, make_action):
    action = make_action(today=TODAY + timedelta(days=10), due_date=TODAY + timedelta(days=30))
    progress = selectors.action_progress(
        organization=org, action=action, today=TODAY + timedelta(days=12)
    )
    assert progress.current.customer_n == 0
    assert progress.change.status == "insufficient_data"
    assert progress.change.score_change is None


def test_a_stable_score_is_not_a_change():
    from apps.actions.selectors import CellFigures, change_between
    from apps.scoring.figures import ScoringSettings

    def cell(n, mean, var):
        return CellFigures(START, TODAY, n, mean, var, 12, 80.0, False, 80.0 - mean, 0.01,
                           "blind_spot")  # fmt: skip

    settings = ScoringSettings()
    # A significant change smaller than half the gap threshold (5 points) stays "stable".
    small = change_between(cell(5000, 40.0, 100.0), cell(5000, 43.0, 100.0), settings)
    assert small.p_value < 0.05 and small.status == "stable"
    big = change_between(cell(50, 60.0, 100.0), cell(50, 40.0, 100.0), settings)
    assert big.status == "declined"


def test_progress_reads_a_fixed_number_of_queries(
    org, planted, make_action, django_assert_max_num_queries
):
    action = make_action()
    fresh = selectors.action_get(organization=org, action_id=action.pk)
    # The series reads the employee units too (apps.scoring.anonymity): one query more.
    with django_assert_max_num_queries(8):
        selectors.action_progress(organization=org, action=fresh, today=TODAY)


def _nothing_changed(org, before: tuple[int, int, int]) -> None:
    assert (
        ImprovementAction.objects.for_organization(org).count(),
        ActionEvent.objects.for_organization(org).count(),
        AuditEntry.objects.for_organization(org).count(),
    ) == before


def _counts(org) -> tuple[int, int, int]:
    return (
        ImprovementAction.objects.for_organization(org).count(),
        ActionEvent.objects.for_organization(org).count(),
        AuditEntry.objects.for_organization(org).count(),
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"due_date": START - timedelta(days=1)}, "due_date"),
        ({"dimension": "speed"}, "dimension"),
        ({"title": "  "}, "title"),
        ({"touchpoint_id": 2_147_483_647}, "touchpoint"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(org, scoring_journey, make_action,
                                                       overrides, field):  # fmt: skip
    before = _counts(org)
    with pytest.raises(ValidationFailed) as raised:
        make_action(**overrides)
    assert field in raised.value.fields
    _nothing_changed(org, before)


def test_an_owner_who_is_not_a_member_is_refused(org, other_org, stranger, make_action):
    before = _counts(org)
    with pytest.raises(ValidationFailed) as raised:
        make_action(owner_id=stranger.pk)
    assert raised.value.fields["owner"] == ["The owner must be a member of this organisation."]
    with pytest.raises(ValidationFailed):
        make_action(owner_id=UserFactory().pk)
    _nothing_changed(org, before)


def test_a_touchpoint_of_another_journey_is_refused(org, make_action):
    other = JourneyFactory(organization=org, name="Other journey")
    touchpoint = TouchpointFactory(stage=StageFactory(journey=other))
    before = _counts(org)
    with pytest.raises(ValidationFailed) as raised:
        make_action(touchpoint_id=touchpoint.pk)
    assert "not on the journey" in raised.value.fields["touchpoint"][0]
    _nothing_changed(org, before)


def test_a_touchpoint_of_another_organisation_is_unknown(org, other_org, make_action):
    foreign = TouchpointFactory(stage__journey__organization=other_org)
    with pytest.raises(ValidationFailed) as raised:
        make_action(touchpoint_id=foreign.pk)
    assert "touchpoint" in raised.value.fields


def test_every_bad_field_is_named_at_once(org, make_action, stranger):
    with pytest.raises(ValidationFailed) as raised:
        make_action(due_date=START - timedelta(days=3), owner_id=stranger.pk, dimension="x")
    assert set(raised.value.fields) == {"due_date", "owner", "dimension"}


def test_the_workflow_with_history_and_audit(org, analyst, make_action):
    action = make_action()
    actor = principal(org, analyst)
    services.action_update(organization=org, actor=actor, action=action, status="in_progress",
                           note="Started the redesign.", today=START)  # fmt: skip
    services.action_update(organization=org, actor=actor, action=action, status="done",
                           today=START)  # fmt: skip
    action.refresh_from_db()
    assert action.status == "done" and action.closed_at is not None
    events = list(ActionEvent.objects.for_organization(org).filter(action=action))
    assert [(e.kind, e.status_from, e.status_to) for e in events] == [
        ("created", "", "planned"),
        ("status", "planned", "in_progress"),
        ("status", "in_progress", "done"),
    ]
    assert events[1].note == "Started the redesign."
    audit = list(
        AuditEntry.objects.for_organization(org)
        .filter(target_id=str(action.pk), action__startswith="improvement_action.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert audit == [
        "improvement_action.created",
        "improvement_action.status_changed",
        "improvement_action.status_changed",
    ]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (["done"], "done"),  # planned cannot jump to done
        (["cancelled", "in_progress"], "in_progress"),  # cancelled is final
    ],
)
def test_a_transition_not_allowed_is_refused(org, analyst, make_action, path, target):
    action = make_action()
    actor = principal(org, analyst)
    for status in path[:-1]:
        services.action_update(organization=org, actor=actor, action=action, status=status)
    action.refresh_from_db()
    before_status = action.status
    before = _counts(org)
    with pytest.raises(ValidationFailed) as raised:
        services.action_update(organization=org, actor=actor, action=action, status=target,
                               title="Renamed")  # fmt: skip
    assert "cannot become" in raised.value.fields["status"][0]
    action.refresh_from_db()
    assert action.status == before_status and action.title == "Simpler checkout"
    _nothing_changed(org, before)


def test_editing_records_the_changes(org, analyst, make_action, viewer):
    action = make_action()
    services.action_update(
        organization=org, actor=principal(org, analyst), action=action,
        title="Checkout in two steps", owner_id=viewer.pk, due_date=START + timedelta(days=5),
        today=START,
    )  # fmt: skip
    action.refresh_from_db()
    assert (action.title, action.owner_id) == ("Checkout in two steps", viewer.pk)
    entry = AuditEntry.objects.for_organization(org).get(action="improvement_action.updated")
    assert entry.data == {
        "title": "Checkout in two steps",
        "owner_id": viewer.pk,
        "due_date": (START + timedelta(days=5)).isoformat(),
    }


def test_an_edit_to_a_past_due_date_changes_nothing(org, analyst, make_action):
    action = make_action()
    with pytest.raises(ValidationFailed) as raised:
        services.action_update(organization=org, actor=principal(org, analyst), action=action,
                               title="New", due_date=START - timedelta(days=1),
                               today=START)  # fmt: skip
    assert list(raised.value.fields) == ["due_date"]
    action.refresh_from_db()
    assert action.title == "Simpler checkout"


def test_the_baseline_and_touchpoint_are_fixed(org, analyst, make_action):
    action = make_action()
    with pytest.raises(ValidationFailed) as raised:
        services.action_update(organization=org, actor=principal(org, analyst), action=action,
                               dimension="emotion")  # fmt: skip
    assert "dimension" in raised.value.fields


def test_roles(org, viewer, admin, analyst, scoring_journey, make_action):
    # A viewer may not create...
    with pytest.raises(PermissionDenied):
        make_action(actor=principal(org, viewer))
    # ...admins may, and a journey owner may on their journey whatever their role.
    assert make_action(actor=principal(org, admin)).pk
    scoring_journey.owner = viewer
    scoring_journey.save(update_fields=["owner"])
    assert make_action(actor=principal(org, viewer)).pk


def test_the_action_owner_moves_it_along_but_does_not_edit_it(org, viewer, make_action):
    action = make_action(owner_id=viewer.pk)
    actor = principal(org, viewer)
    services.action_update(organization=org, actor=actor, action=action, status="in_progress")
    services.action_update(organization=org, actor=actor, action=action, note="Halfway.")
    with pytest.raises(PermissionDenied):
        services.action_update(organization=org, actor=actor, action=action, title="Mine now")
    action.refresh_from_db()
    assert action.status == "in_progress" and action.title == "Simpler checkout"
    assert ActionEvent.objects.for_organization(org).filter(kind="note").get().note == "Halfway."


def test_another_viewer_may_not_move_it(org, viewer, make_action):
    action = make_action()
    with pytest.raises(PermissionDenied):
        services.action_update(organization=org, actor=principal(org, viewer), action=action,
                               status="in_progress")  # fmt: skip


def test_counts_and_filters(org, analyst, viewer, make_action):
    first = make_action()
    make_action(owner_id=viewer.pk)
    late = make_action(due_date=START + timedelta(days=1))
    services.action_update(organization=org, actor=principal(org, analyst), action=first,
                           status="in_progress")  # fmt: skip
    later = START + timedelta(days=5)
    counts = selectors.action_counts(organization=org, today=later)
    assert counts == {"planned": 2, "in_progress": 1, "done": 0, "cancelled": 0, "overdue": 1}
    overdue = selectors.actions(organization=org, overdue=True, today=later)
    assert [a.pk for a in overdue] == [late.pk]
    assert selectors.actions(organization=org, owner_id=viewer.pk).count() == 1
    assert selectors.actions(organization=org, status="in_progress").get().pk == first.pk

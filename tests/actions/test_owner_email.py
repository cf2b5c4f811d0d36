"""An action's owner hears that it is theirs, by email through a real SMTP server: once per
assignment, after the commit, never when they took it themselves, never twice for a retried
task, and again when the action is handed to someone else."""

from datetime import timedelta

import pytest

from apps.actions.models import ImprovementAction
from apps.actions.services import action_owner_notify, action_update
from apps.organizations.models import Organization
from tests.journeys.helpers import principal

from .conftest import START

pytestmark = pytest.mark.django_db


def test_the_owner_is_emailed_once_after_the_commit(
    org,
    viewer,
    make_action,
    smtp,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        action = make_action(owner_id=viewer.pk)
    assert smtp.sink.count == 0  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    (message,) = smtp.sink.to(viewer.email)
    assert "Simpler checkout" in message.message["Subject"]
    assert f"/acme/actions/{action.pk}/" in message.text
    assert "Web shop" in message.text
    action.refresh_from_db()
    assert action.owner_notified_at is not None
    # The task delivered twice (a retry, a redelivery): still one email.
    assert action_owner_notify(organization=org, action_id=action.pk) is False
    assert smtp.sink.count == 1


def test_no_email_when_the_actor_takes_the_action_themselves(
    org,
    analyst,
    make_action,
    smtp,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_action(owner_id=analyst.pk)
    assert callbacks == []
    assert smtp.sink.count == 0


def test_a_new_owner_is_told_and_the_old_one_is_not_told_again(
    org,
    analyst,
    viewer,
    admin,
    make_action,
    smtp,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        action = make_action(owner_id=viewer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        action_update(
            organization=org, actor=principal(org, analyst), action=action,
            owner_id=admin.pk, today=START,
        )  # fmt: skip
    assert len(smtp.sink.to(viewer.email)) == 1
    assert len(smtp.sink.to(admin.email)) == 1
    # An edit that leaves the owner alone sends nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        action_update(
            organization=org, actor=principal(org, analyst), action=action,
            title="Checkout in two steps", due_date=START + timedelta(days=5), today=START,
        )  # fmt: skip
    assert callbacks == []
    assert smtp.sink.count == 2


def test_a_failed_change_queues_nothing(
    org,
    analyst,
    viewer,
    make_action,
    smtp,
    django_capture_on_commit_callbacks,
):
    from apps.core.errors import ValidationFailed

    action = make_action()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValidationFailed),
    ):
        action_update(
            organization=org, actor=principal(org, analyst), action=action,
            owner_id=viewer.pk, due_date=START - timedelta(days=1), today=START,
        )  # fmt: skip
    assert callbacks == []
    assert smtp.sink.count == 0
    assert ImprovementAction.objects.for_organization(org).get(pk=action.pk).owner_id != viewer.pk


def test_the_email_is_in_the_organisations_language(
    org,
    viewer,
    make_action,
    smtp,
    django_capture_on_commit_callbacks,
):
    Organization.objects.filter(pk=org.pk).update(default_language="fi")
    org.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        make_action(owner_id=viewer.pk)
    (message,) = smtp.sink.to(viewer.email)
    assert "Toimenpide" in message.message["Subject"]


def test_the_task_finds_nothing_for_another_organisation(
    org,
    other_org,
    viewer,
    make_action,
    smtp,
    django_capture_on_commit_callbacks,
):
    from apps.actions.tasks import notify_owner

    with django_capture_on_commit_callbacks(execute=False):
        action = make_action(owner_id=viewer.pk)
    assert notify_owner(organization_id=other_org.pk, action_id=action.pk) is False
    assert smtp.sink.count == 0
    assert notify_owner(organization_id=org.pk, action_id=action.pk) is True
    assert smtp.sink.count == 1

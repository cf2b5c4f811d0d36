"""Writes for improvement actions: create (capturing the baseline), edit, move along the
workflow, add a note. Each validates everything first and raises one ValidationFailed naming
every bad field, so a rejected request changes nothing; each writes its history event and its
audit entry in the same transaction."""

import logging
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.emails import render_subject
from apps.core.errors import PermissionDenied, ValidationFailed
from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Action, Principal, can, require
from apps.scoring.filters import organization_today
from apps.surveys.models import Dimension

from . import selectors
from .models import (
    TRANSITIONS,
    ActionEvent,
    ActionSource,
    ActionStatus,
    ImprovementAction,
)

logger = logging.getLogger(__name__)

TITLE_MAX = 200
NOTE_MAX = 4000
EDITABLE_FIELDS = ("title", "description", "owner_id", "due_date")


def _check_title(title: Any, errors: dict[str, list[str]]) -> str:
    text = str(title or "").strip()
    if not text:
        errors["title"] = [_("Give the action a title.")]
    elif len(text) > TITLE_MAX:
        errors["title"] = [_("At most 200 characters.")]
    return text


def _check_owner(
    organization: Organization, owner_id: Any, errors: dict[str, list[str]]
) -> int | None:
    if owner_id in (None, ""):
        errors["owner"] = [_("Choose who owns the action.")]
        return None
    member = (
        isinstance(owner_id, int)
        and Membership.objects.for_organization(organization).filter(user_id=owner_id).exists()
    )
    if not member:
        errors["owner"] = [_("The owner must be a member of this organisation.")]
        return None
    return int(owner_id)


def _check_due_date(due_date: Any, today: date, errors: dict[str, list[str]]) -> date | None:
    if not isinstance(due_date, date):
        errors["due_date"] = [_("Give a due date.")]
        return None
    if due_date < today:
        errors["due_date"] = [_("The due date is in the past.")]
        return None
    return due_date


def _check_description(description: Any, errors: dict[str, list[str]]) -> str:
    text = str(description or "").strip()
    if len(text) > NOTE_MAX:
        errors["description"] = [_("At most 4000 characters.")]
    return text


def _event(action: ImprovementAction, actor: Principal, kind: str, **fields: Any) -> ActionEvent:
    return ActionEvent.objects.create(
        organization_id=action.organization_id,
        action=action,
        author=actor.user,
        author_label=actor.label,
        kind=kind,
        **fields,
    )


@transaction.atomic
def action_create(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    touchpoint_id: Any,
    title: Any,
    owner_id: Any,
    due_date: Any,
    dimension: Any = "",
    description: Any = "",
    source: Any = ActionSource.MANUAL,
    ip_address: str | None = None,
    today: date | None = None,
) -> ImprovementAction:
    """An action on a touchpoint of the journey (or one of its dimensions). Its baseline is the
    gap report's cell over the 90 days before today, read from the scoring selectors."""
    require(actor, Action.ACTIONS_MANAGE, journey)
    today = today or organization_today(organization)
    errors: dict[str, list[str]] = {}
    clean_title = _check_title(title, errors)
    clean_description = _check_description(description, errors)
    touchpoint = None
    if isinstance(touchpoint_id, int):
        touchpoint = (
            Touchpoint.objects.for_organization(organization).filter(pk=touchpoint_id).first()
        )
    if touchpoint is None:
        errors["touchpoint"] = [_("Choose a touchpoint of this journey.")]
    elif touchpoint.journey_id != journey.pk:
        errors["touchpoint"] = [
            _("This touchpoint is not on the journey %(journey)s.") % {"journey": journey.name}
        ]
    clean_dimension = str(dimension or "")
    if clean_dimension and clean_dimension not in Dimension.values:
        errors["dimension"] = [
            _("Unknown dimension: choose effectiveness, ease or emotion, or leave it empty for "
              "the touchpoint as a whole.")
        ]  # fmt: skip
    if source not in ActionSource.values:
        errors["source"] = [_("Unknown source.")]
    clean_owner = _check_owner(organization, owner_id, errors)
    clean_due = _check_due_date(due_date, today, errors)
    if errors:
        raise ValidationFailed(
            _("The action was not created: %(fields)s.") % {"fields": ", ".join(sorted(errors))},
            fields=errors,
        )
    assert touchpoint is not None and clean_due is not None
    baseline_from, baseline_to = selectors.baseline_window(today)
    baseline = selectors.cell_figures(
        organization=organization,
        journey=journey,
        touchpoint_id=touchpoint.pk,
        dimension=clean_dimension,
        date_from=baseline_from,
        date_to=baseline_to,
    )
    action = ImprovementAction.objects.create(
        organization=organization,
        journey=journey,
        touchpoint=touchpoint,
        dimension=clean_dimension,
        title=clean_title,
        description=clean_description,
        owner_id=clean_owner,
        due_date=clean_due,
        source=source,
        started_on=today,
        baseline_from=baseline.date_from,
        baseline_to=baseline.date_to,
        baseline_customer_n=baseline.customer_n,
        baseline_customer_score=baseline.customer_score,
        baseline_customer_variance=baseline.customer_variance,
        baseline_employee_n=baseline.employee_n,
        baseline_employee_score=baseline.employee_score,
        baseline_employee_withheld=baseline.employee_withheld,
        baseline_gap=baseline.gap,
        baseline_p_value=baseline.p_value,
        baseline_classification=baseline.classification,
        created_by=actor.user,
    )
    _event(action, actor, "created", status_to=action.status)
    _notify_owner_on_commit(action, actor)
    audit_record(
        organization=organization,
        actor=actor,
        action="improvement_action.created",
        target=action,
        data={
            "journey": journey.pk,
            "touchpoint": touchpoint.pk,
            "dimension": clean_dimension,
            "owner": clean_owner,
            "due_date": clean_due.isoformat(),
            "source": source,
            "baseline_gap": baseline.gap,
            "baseline_customer_score": baseline.customer_score,
        },
        ip_address=ip_address,
    )
    return action


def _check_transition(action: ImprovementAction, status: Any, errors: dict[str, list[str]]) -> str:
    if status not in ActionStatus.values:
        errors["status"] = [_("Unknown status.")]
        return action.status
    if status != action.status and status not in TRANSITIONS[action.status]:
        errors["status"] = [
            _("An action that is %(current)s cannot become %(new)s.")
            % {
                "current": ActionStatus(action.status).label.lower(),
                "new": ActionStatus(status).label.lower(),
            }
        ]
        return action.status
    return str(status)


@transaction.atomic
def action_update(
    *,
    organization: Organization,
    actor: Principal,
    action: ImprovementAction,
    ip_address: str | None = None,
    today: date | None = None,
    **changes: Any,
) -> ImprovementAction:
    """Change the title, description, owner or due date (who may edit the action), the status
    and a note with it (who may work on it: also the action's owner). The touchpoint, the
    dimension and the baseline are fixed at creation."""
    action = (
        ImprovementAction.objects.for_organization(organization)
        .select_for_update(of=("self",))
        .select_related("journey", "touchpoint")
        .get(pk=action.pk)
    )
    work_fields = {"status", "note"}
    unknown = set(changes) - {*EDITABLE_FIELDS, *work_fields}
    if unknown:
        raise ValidationFailed(
            _("These fields cannot be changed: %(fields)s.")
            % {"fields": ", ".join(sorted(unknown))},
            fields={name: [_("Fixed when the action was created.")] for name in sorted(unknown)},
        )
    edits = {name: changes[name] for name in EDITABLE_FIELDS if name in changes}
    if edits:
        require(actor, Action.ACTIONS_MANAGE, action)
    elif not can(actor, Action.ACTIONS_WORK, action):
        raise PermissionDenied("You do not have permission to do this.")
    today = today or organization_today(organization)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "title" in edits:
        cleaned["title"] = _check_title(edits["title"], errors)
    if "description" in edits:
        cleaned["description"] = _check_description(edits["description"], errors)
    if "owner_id" in edits:
        cleaned["owner_id"] = _check_owner(organization, edits["owner_id"], errors)
    if "due_date" in edits and edits["due_date"] != action.due_date:
        cleaned["due_date"] = _check_due_date(edits["due_date"], today, errors)
    status = _check_transition(action, changes.get("status", action.status), errors)
    note = str(changes.get("note") or "").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = [_("At most 4000 characters.")]
    if errors:
        raise ValidationFailed(
            _("The action was not changed: %(fields)s.") % {"fields": ", ".join(sorted(errors))},
            fields=errors,
        )
    changed = {name: value for name, value in cleaned.items() if getattr(action, name) != value}
    audit_changes = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in changed.items()
    }
    for name, value in changed.items():
        setattr(action, name, value)
    if "owner_id" in changed:
        action.owner_notified_at = None
    previous = action.status
    if status != previous:
        action.status = status
        if status in (ActionStatus.DONE, ActionStatus.CANCELLED):
            action.closed_at = timezone.now()
    if changed or status != previous:
        action.save()
    if "owner_id" in changed:
        _notify_owner_on_commit(action, actor)
    if changed:
        _event(action, actor, "updated", changes=audit_changes)
        audit_record(
            organization=organization,
            actor=actor,
            action="improvement_action.updated",
            target=action,
            data=audit_changes,
            ip_address=ip_address,
        )
    if status != previous:
        _event(action, actor, "status", status_from=previous, status_to=status, note=note)
        audit_record(
            organization=organization,
            actor=actor,
            action="improvement_action.status_changed",
            target=action,
            data={"from": previous, "to": status},
            ip_address=ip_address,
        )
    elif note:
        _event(action, actor, "note", note=note)
        audit_record(
            organization=organization,
            actor=actor,
            action="improvement_action.note_added",
            target=action,
            ip_address=ip_address,
        )
    return action


def _notify_owner_on_commit(action: ImprovementAction, actor: Principal) -> None:
    """After the commit, email the action's owner that it is theirs (not when they took it
    themselves)."""
    if action.owner_id is None or (actor.user is not None and actor.user.pk == action.owner_id):
        return
    from .tasks import notify_owner

    organization_id, action_id = action.organization_id, action.pk
    transaction.on_commit(
        lambda: notify_owner.delay(organization_id=organization_id, action_id=action_id)
    )


def action_owner_notify(
    *, organization: Organization, action_id: int, now: datetime | None = None
) -> bool:
    """Tell the action's current owner it is theirs, once: the email is claimed on
    `owner_notified_at` (cleared when the owner changes), so a retried or repeated task does
    not send it again. False when there is nothing to send or it could not be sent."""
    now = now or timezone.now()
    action = (
        ImprovementAction.objects.for_organization(organization)
        .select_related("journey", "touchpoint", "owner")
        .filter(pk=action_id, owner__isnull=False, owner_notified_at__isnull=True)
        .first()
    )
    if action is None or action.owner is None:
        return False
    if action.status in (ActionStatus.DONE, ActionStatus.CANCELLED):
        return False
    claimed = (
        ImprovementAction.objects.for_organization(organization)
        .filter(pk=action.pk, owner_id=action.owner_id, owner_notified_at__isnull=True)
        .update(owner_notified_at=now)
    )
    if not claimed:
        return False
    context = {
        "organization": organization,
        "action": action,
        "url": settings.SITE_URL.rstrip("/")
        + reverse("actions:detail", args=[organization.slug, action.pk]),
    }
    with translation.override(organization.default_language or "en"):
        subject = render_subject("actions/email/owner_assigned_subject.txt", context)
        body = render_to_string("actions/email/owner_assigned.txt", context)
    message = EmailMultiAlternatives(
        subject, body, None, [action.owner.email], headers={"Auto-Submitted": "auto-generated"}
    )
    try:
        message.send()
    except Exception:
        logger.exception("the email to an action's owner could not be sent")
        return False
    return True

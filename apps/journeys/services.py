"""Writes on journeys, stages and touchpoints, and journey ownership."""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.emails import render_subject
from apps.core.errors import Conflict, ValidationFailed
from apps.core.ordering import reposition
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Action, Principal, require

from .models import Channel, Journey, JourneyStatus, Stage, Touchpoint
from .templates_data import TEMPLATE_LANGUAGES, TEMPLATES

LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}


# --- validation helpers ---------------------------------------------------------------------


def _required_text(value: Any, field: str, max_length: int = 200) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationFailed(
            f"The {field} must not be empty.", fields={field: ["This field is required."]}
        )
    if len(text) > max_length:
        raise ValidationFailed(
            f"The {field} is too long.",
            fields={field: [f"At most {max_length} characters."]},
        )
    return text


def _language(value: Any, field: str = "language") -> str:
    if value not in LANGUAGE_CODES:
        raise ValidationFailed(
            f"Unsupported language: {value!r}.",
            fields={field: [f"Choose one of: {', '.join(sorted(LANGUAGE_CODES))}."]},
        )
    return str(value)


def _translations(value: Any) -> dict[str, dict[str, str]]:
    """{"fi": {"name": "...", "description": "..."}}: languages known, texts are strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            "Translations must map a language to its texts.",
            fields={"translations": ['Expected {"fi": {"name": "...", "description": "..."}}.']},
        )
    cleaned: dict[str, dict[str, str]] = {}
    for language, texts in value.items():
        _language(language, "translations")
        if not isinstance(texts, dict) or set(texts) - {"name", "description"}:
            raise ValidationFailed(
                f"Translations for {language} must have a name and a description.",
                fields={"translations": [f"{language}: only 'name' and 'description' allowed."]},
            )
        cleaned[language] = {k: str(v or "").strip() for k, v in texts.items()}
    return cleaned


def _member_user(organization: Organization, user_id: int | None, field: str) -> User | None:
    if user_id is None:
        return None
    membership = (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .filter(user_id=user_id)
        .first()
    )
    if membership is None:
        raise ValidationFailed(
            "The owner must be a member of the organisation.",
            fields={field: ["Choose a member of this organisation."]},
        )
    return membership.user


def _lock(journey: Journey) -> Journey:
    """Serialise writes on one journey (positions are renumbered inside the lock)."""
    return (
        Journey.objects.for_organization(journey.organization_id)
        .select_for_update()
        .get(pk=journey.pk)
    )


# --- journeys -------------------------------------------------------------------------------


@transaction.atomic
def journey_create(
    *,
    organization: Organization,
    actor: Principal,
    name: str = "",
    description: str = "",
    language: str | None = None,
    template: str = "",
    status: str = JourneyStatus.DRAFT,
    ip_address: str | None = None,
) -> Journey:
    """A new journey, empty or copied from a starter template in `language`.

    A template's texts in the other languages are stored as translations, so the journey's
    questionnaire can be generated in every language at once.
    """
    require(actor, Action.JOURNEY_CREATE)
    language = _language(language or organization.default_language)
    starter = None
    if template:
        starter = TEMPLATES.get(template)
        if starter is None:
            raise ValidationFailed(
                f"Unknown template: {template!r}.",
                fields={"template": [f"Choose one of: {', '.join(sorted(TEMPLATES))}."]},
            )
        name = name or starter.name_in(language)
        description = description or starter.texts.get(language, starter.texts["en"])[1]
    name = _required_text(name, "name")
    _status(status)
    if Journey.objects.for_organization(organization).filter(name=name).exists():
        raise Conflict(
            f"A journey called '{name}' already exists.",
            fields={"name": ["A journey with this name already exists."]},
        )
    translations = {}
    if starter is not None:
        translations = {
            lang: {"name": n, "description": d}
            for lang, (n, d) in starter.texts.items()
            if lang != language
        }
    try:
        with transaction.atomic():
            journey = Journey.objects.create(
                organization=organization,
                name=name,
                description=(description or "").strip(),
                translations=translations,
                language=language,
                status=status,
                template=starter.slug if starter else "",
            )
    except IntegrityError as exc:  # a concurrent request took the name
        raise Conflict(
            f"A journey called '{name}' already exists.",
            fields={"name": ["A journey with this name already exists."]},
        ) from exc
    if starter is not None:
        _copy_template(journey, starter, language)
    audit_record(
        organization=organization,
        actor=actor,
        action="journey.created",
        target=journey,
        data={"template": journey.template, "language": language},
        ip_address=ip_address,
    )
    return journey


def _split(texts: dict[str, tuple[str, str]], language: str) -> tuple[str, str, dict]:
    name, description = texts.get(language, texts["en"])
    others = {
        lang: {"name": n, "description": d}
        for lang, (n, d) in texts.items()
        if lang != language and lang in TEMPLATE_LANGUAGES
    }
    return name, description, others


def _copy_template(journey: Journey, starter: Any, language: str) -> None:
    organization_id = journey.organization_id
    for stage_index, stage_template in enumerate(starter.stages):
        name, description, others = _split(stage_template.texts, language)
        stage = Stage.objects.create(
            organization_id=organization_id,
            journey=journey,
            name=name,
            description=description,
            translations=others,
            position=stage_index,
        )
        Touchpoint.objects.bulk_create(
            Touchpoint(
                organization_id=organization_id,
                journey=journey,
                stage=stage,
                name=_split(tp.texts, language)[0],
                description=_split(tp.texts, language)[1],
                translations=_split(tp.texts, language)[2],
                channel=tp.channel,
                importance=tp.importance,
                position=index,
            )
            for index, tp in enumerate(stage_template.touchpoints)
        )


def _status(value: Any) -> str:
    if value not in JourneyStatus.values:
        raise ValidationFailed(
            f"Unknown status: {value!r}.",
            fields={"status": [f"Choose one of: {', '.join(JourneyStatus.values)}."]},
        )
    return str(value)


JOURNEY_FIELDS = ("name", "description", "status", "translations")


@transaction.atomic
def journey_update(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    ip_address: str | None = None,
    **changes: Any,
) -> Journey:
    """Change name, description, status or translations (journey owner, analysts and up)."""
    require(actor, Action.JOURNEY_EDIT, journey)
    _unknown(changes, JOURNEY_FIELDS)
    journey = _lock(journey)
    if "name" in changes:
        changes["name"] = _required_text(changes["name"], "name")
        clash = (
            Journey.objects.for_organization(organization)
            .filter(name=changes["name"])
            .exclude(pk=journey.pk)
        )
        if clash.exists():
            raise Conflict(
                f"A journey called '{changes['name']}' already exists.",
                fields={"name": ["A journey with this name already exists."]},
            )
    if "status" in changes:
        _status(changes["status"])
    if "translations" in changes:
        changes["translations"] = _translations(changes["translations"])
    if "description" in changes:
        changes["description"] = str(changes["description"] or "").strip()
    changed = _apply(journey, changes)
    if changed:
        journey.save()
        audit_record(
            organization=organization,
            actor=actor,
            action="journey.archived"
            if changed.get("status", [None, None])[1] == JourneyStatus.ARCHIVED
            else "journey.updated",
            target=journey,
            data={"changes": changed},
            ip_address=ip_address,
        )
    return journey


def journey_archive(
    *, organization: Organization, actor: Principal, journey: Journey, ip_address: str | None = None
) -> Journey:
    return journey_update(
        organization=organization,
        actor=actor,
        journey=journey,
        ip_address=ip_address,
        status=JourneyStatus.ARCHIVED,
    )


@transaction.atomic
def journey_assign_owner(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    owner_id: int | None,
    ip_address: str | None = None,
) -> Journey:
    """Make a member the journey's owner (admins and owners); the new owner gets an email."""
    require(actor, Action.JOURNEY_ASSIGN_OWNER, journey)
    owner = _member_user(organization, owner_id, "owner")
    journey = _lock(journey)
    previous_id = journey.owner_id
    if previous_id == owner_id:
        return journey
    journey.owner = owner
    journey.save(update_fields=["owner", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="journey.owner_assigned",
        target=journey,
        data={"from": previous_id, "to": owner_id, "owner": owner.email if owner else None},
        ip_address=ip_address,
    )
    if owner is not None:
        from .tasks import journey_owner_notify

        journey_id, organization_id = journey.pk, organization.pk
        transaction.on_commit(
            lambda: journey_owner_notify.delay(
                organization_id=organization_id, journey_id=journey_id
            )
        )
    return journey


def journey_owner_send_email(*, organization: Organization, journey_id: int) -> bool:
    """Tell the journey's current owner that the journey is theirs (org default language)."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.urls import reverse
    from django.utils import translation

    journey = (
        Journey.objects.for_organization(organization)
        .select_related("owner")
        .filter(pk=journey_id)
        .first()
    )
    if journey is None or journey.owner is None:
        return False
    context = {
        "organization": organization,
        "journey": journey,
        "owner": journey.owner,
        "url": settings.SITE_URL.rstrip("/")
        + reverse("journeys:detail", args=[organization.slug, journey.pk]),
    }
    with translation.override(organization.default_language):
        subject = render_subject("journeys/email/owner_assigned_subject.txt", context)
        body = render_to_string("journeys/email/owner_assigned.txt", context)
    send_mail(subject, body, None, [journey.owner.email])
    return True


# --- stages ---------------------------------------------------------------------------------


@transaction.atomic
def stage_create(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    name: str,
    description: str = "",
    translations: dict | None = None,
    position: int | None = None,
    ip_address: str | None = None,
) -> Stage:
    """Add a stage at the end of the journey (or at `position`)."""
    require(actor, Action.JOURNEY_EDIT, journey)
    name = _required_text(name, "name")
    cleaned = _translations(translations)
    journey = _lock(journey)
    siblings = list(Stage.objects.for_organization(organization).filter(journey=journey))
    stage = Stage.objects.create(
        organization=organization,
        journey=journey,
        name=name,
        description=(description or "").strip(),
        translations=cleaned,
        position=len(siblings),
    )
    if position is not None:
        Stage.objects.for_organization(organization).bulk_update(
            reposition(siblings, stage, position), ["position"]
        )
    audit_record(
        organization=organization, actor=actor, action="stage.created", target=stage,
        data={"journey": journey.pk}, ip_address=ip_address,
    )  # fmt: skip
    return stage


@transaction.atomic
def stage_update(
    *,
    organization: Organization,
    actor: Principal,
    stage: Stage,
    ip_address: str | None = None,
    **changes: Any,
) -> Stage:
    require(actor, Action.JOURNEY_EDIT, stage.journey)
    _unknown(changes, ("name", "description", "translations"))
    if "name" in changes:
        changes["name"] = _required_text(changes["name"], "name")
    if "description" in changes:
        changes["description"] = str(changes["description"] or "").strip()
    if "translations" in changes:
        changes["translations"] = _translations(changes["translations"])
    _lock(stage.journey)
    changed = _apply(stage, changes)
    if changed:
        stage.save()
        audit_record(
            organization=organization, actor=actor, action="stage.updated", target=stage,
            data={"changes": changed}, ip_address=ip_address,
        )  # fmt: skip
    return stage


@transaction.atomic
def stage_move(
    *,
    organization: Organization,
    actor: Principal,
    stage: Stage,
    position: int,
    ip_address: str | None = None,
) -> Stage:
    """Put the stage at `position` (0 is first) among its journey's stages."""
    require(actor, Action.JOURNEY_EDIT, stage.journey)
    _position(position)
    _lock(stage.journey)
    siblings = list(Stage.objects.for_organization(organization).filter(journey=stage.journey_id))
    current = next(s for s in siblings if s.pk == stage.pk)
    changed = reposition(siblings, current, position)
    if changed:
        Stage.objects.for_organization(organization).bulk_update(changed, ["position"])
        audit_record(
            organization=organization, actor=actor, action="stage.moved", target=current,
            data={"position": current.position}, ip_address=ip_address,
        )  # fmt: skip
    stage.position = current.position
    return stage


@transaction.atomic
def stage_delete(
    *, organization: Organization, actor: Principal, stage: Stage, ip_address: str | None = None
) -> None:
    """Remove an empty stage; touchpoints must be moved or removed first."""
    require(actor, Action.JOURNEY_EDIT, stage.journey)
    _lock(stage.journey)
    if Touchpoint.objects.for_organization(organization).filter(stage=stage).exists():
        raise Conflict(
            "Move or remove the stage's touchpoints first.",
            fields={"stage": ["This stage still has touchpoints."]},
        )
    audit_record(
        organization=organization, actor=actor, action="stage.deleted", target=stage,
        data={"journey": stage.journey_id}, ip_address=ip_address,
    )  # fmt: skip
    journey_id = stage.journey_id
    stage.delete()
    siblings = list(Stage.objects.for_organization(organization).filter(journey=journey_id))
    for index, row in enumerate(siblings):
        row.position = index
    Stage.objects.for_organization(organization).bulk_update(siblings, ["position"])


# --- touchpoints ----------------------------------------------------------------------------


def _channel(value: Any) -> str:
    if value not in Channel.values:
        raise ValidationFailed(
            f"Unknown channel: {value!r}.",
            fields={"channel": [f"Choose one of: {', '.join(Channel.values)}."]},
        )
    return str(value)


def _importance(value: Any) -> int:
    try:
        importance = int(value)
    except (TypeError, ValueError):
        importance = 0
    if not 1 <= importance <= 5 or isinstance(value, bool):
        raise ValidationFailed(
            "Importance must be a whole number from 1 to 5.",
            fields={"importance": ["Enter a whole number from 1 to 5."]},
        )
    return importance


def _position(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(
            "The position must be a whole number of 0 or more.",
            fields={"position": ["Enter a whole number of 0 or more."]},
        )
    return value


def _stage_of(organization: Organization, journey_id: int, stage_id: Any) -> Stage:
    stage = (
        Stage.objects.for_organization(organization)
        .filter(pk=stage_id if isinstance(stage_id, int) else -1, journey_id=journey_id)
        .first()
    )
    if stage is None:
        raise ValidationFailed(
            "The stage must belong to the same journey.",
            fields={"stage": ["Choose a stage of this journey."]},
        )
    return stage


@transaction.atomic
def touchpoint_create(
    *,
    organization: Organization,
    actor: Principal,
    stage: Stage,
    name: str,
    description: str = "",
    channel: str = Channel.DIGITAL,
    importance: int = 3,
    owner_id: int | None = None,
    is_active: bool = True,
    translations: dict | None = None,
    position: int | None = None,
    ip_address: str | None = None,
) -> Touchpoint:
    """Add a touchpoint at the end of a stage (or at `position`)."""
    journey = stage.journey
    require(actor, Action.JOURNEY_EDIT, journey)
    name = _required_text(name, "name")
    values = {
        "channel": _channel(channel),
        "importance": _importance(importance),
        "owner": _member_user(organization, owner_id, "owner"),
        "translations": _translations(translations),
    }
    _lock(journey)
    siblings = list(Touchpoint.objects.for_organization(organization).filter(stage=stage))
    touchpoint = Touchpoint.objects.create(
        organization=organization,
        journey=journey,
        stage=stage,
        name=name,
        description=(description or "").strip(),
        is_active=bool(is_active),
        position=len(siblings),
        **values,
    )
    if position is not None:
        Touchpoint.objects.for_organization(organization).bulk_update(
            reposition(siblings, touchpoint, position), ["position"]
        )
    audit_record(
        organization=organization, actor=actor, action="touchpoint.created", target=touchpoint,
        data={"journey": journey.pk, "stage": stage.pk}, ip_address=ip_address,
    )  # fmt: skip
    return touchpoint


TOUCHPOINT_FIELDS = (
    "name", "description", "channel", "importance", "owner_id", "is_active", "translations",
)  # fmt: skip


@transaction.atomic
def touchpoint_update(
    *,
    organization: Organization,
    actor: Principal,
    touchpoint: Touchpoint,
    ip_address: str | None = None,
    **changes: Any,
) -> Touchpoint:
    require(actor, Action.JOURNEY_EDIT, touchpoint.journey)
    _unknown(changes, TOUCHPOINT_FIELDS)
    if "name" in changes:
        changes["name"] = _required_text(changes["name"], "name")
    if "description" in changes:
        changes["description"] = str(changes["description"] or "").strip()
    if "channel" in changes:
        _channel(changes["channel"])
    if "importance" in changes:
        changes["importance"] = _importance(changes["importance"])
    if "owner_id" in changes:
        _member_user(organization, changes["owner_id"], "owner")
    if "translations" in changes:
        changes["translations"] = _translations(changes["translations"])
    if "is_active" in changes:
        changes["is_active"] = bool(changes["is_active"])
    _lock(touchpoint.journey)
    changed = _apply(touchpoint, changes)
    if changed:
        touchpoint.save()
        audit_record(
            organization=organization, actor=actor, action="touchpoint.updated",
            target=touchpoint, data={"changes": changed}, ip_address=ip_address,
        )  # fmt: skip
    return touchpoint


@transaction.atomic
def touchpoint_move(
    *,
    organization: Organization,
    actor: Principal,
    touchpoint: Touchpoint,
    position: int,
    stage_id: int | None = None,
    ip_address: str | None = None,
) -> Touchpoint:
    """Put the touchpoint at `position` within its stage, or within another stage of the journey."""
    require(actor, Action.JOURNEY_EDIT, touchpoint.journey)
    _position(position)
    _lock(touchpoint.journey)
    source_stage_id = touchpoint.stage_id
    target = (
        _stage_of(organization, touchpoint.journey_id, stage_id)
        if stage_id is not None
        else touchpoint.stage
    )
    touchpoint.stage = target
    siblings = list(Touchpoint.objects.for_organization(organization).filter(stage=target))
    changed = reposition(siblings, touchpoint, position)
    if target.pk != source_stage_id:
        rest = list(
            Touchpoint.objects.for_organization(organization)
            .filter(stage_id=source_stage_id)
            .exclude(pk=touchpoint.pk)
        )
        for index, row in enumerate(rest):
            row.position = index
        changed += rest
        touchpoint.save(update_fields=["stage", "position"])
    if changed:
        Touchpoint.objects.for_organization(organization).bulk_update(changed, ["position"])
        audit_record(
            organization=organization, actor=actor, action="touchpoint.moved",
            target=touchpoint, data={"stage": target.pk, "position": touchpoint.position},
            ip_address=ip_address,
        )  # fmt: skip
    return touchpoint


@transaction.atomic
def touchpoint_delete(
    *,
    organization: Organization,
    actor: Principal,
    touchpoint: Touchpoint,
    ip_address: str | None = None,
) -> str:
    """Delete a touchpoint, or archive it when answers refer to it. Returns what happened."""
    from apps.surveys.selectors import touchpoint_has_answers
    from apps.surveys.services import items_drop_for_touchpoint

    require(actor, Action.JOURNEY_EDIT, touchpoint.journey)
    _lock(touchpoint.journey)
    # Items of versions still being edited stop asking about it (nobody has answered them);
    # published versions keep theirs, so their answers still map to the touchpoint.
    items_drop_for_touchpoint(organization=organization, touchpoint=touchpoint)
    if touchpoint_has_answers(touchpoint=touchpoint):
        touchpoint.is_active = False
        touchpoint.archived_at = touchpoint.archived_at or timezone.now()
        touchpoint.save(update_fields=["is_active", "archived_at"])
        audit_record(
            organization=organization, actor=actor, action="touchpoint.archived",
            target=touchpoint, data={"reason": "has answers"}, ip_address=ip_address,
        )  # fmt: skip
        return "archived"
    audit_record(
        organization=organization, actor=actor, action="touchpoint.deleted", target=touchpoint,
        data={"journey": touchpoint.journey_id}, ip_address=ip_address,
    )  # fmt: skip
    stage_id = touchpoint.stage_id
    touchpoint.delete()
    rest = list(Touchpoint.objects.for_organization(organization).filter(stage_id=stage_id))
    for index, row in enumerate(rest):
        row.position = index
    Touchpoint.objects.for_organization(organization).bulk_update(rest, ["position"])
    return "deleted"


# --- shared ---------------------------------------------------------------------------------


def _unknown(changes: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationFailed(
            f"Unknown fields: {', '.join(unknown)}.",
            fields={name: ["This field cannot be changed here."] for name in unknown},
        )


def _apply(row: Any, changes: dict[str, Any]) -> dict[str, list[Any]]:
    changed: dict[str, list[Any]] = {}
    for field, value in changes.items():
        before = getattr(row, field)
        if before != value:
            setattr(row, field, value)
            changed[field] = [before, value]
    return changed


@transaction.atomic
def ownerships_release(
    *, organization: Organization, actor: Principal, user_id: int, ip_address: str | None = None
) -> int:
    """Someone leaves the organisation: they stop owning its journeys and touchpoints.

    Called by the membership services inside their transaction, so a person who later rejoins
    with a lesser role does not get their old journeys back. Returns how many were released.
    """
    journeys = Journey.objects.for_organization(organization).filter(owner_id=user_id)
    touchpoints = Touchpoint.objects.for_organization(organization).filter(owner_id=user_id)
    released = {
        "journeys": list(journeys.values_list("pk", flat=True)),
        "touchpoints": list(touchpoints.values_list("pk", flat=True)),
    }
    count = journeys.update(owner=None) + touchpoints.update(owner=None)
    if count:
        audit_record(
            organization=organization,
            actor=actor,
            action="journey.ownership_released",
            target_label=str(user_id),
            data={"user_id": user_id, **released},
            ip_address=ip_address,
        )
    return count

"""Writes on survey links: create, change (pause, close, end date, context), whitelist."""

import re
from datetime import datetime
from typing import Any

from django.db import transaction

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed
from apps.journeys import selectors as journey_selectors
from apps.organizations.models import Organization
from apps.organizations.permissions import Action, Principal, require
from apps.surveys.models import Audience, Questionnaire, QuestionnaireStatus

from . import selectors
from .models import ContextAttribute, LinkStatus, SurveyLink

LINK_FIELDS = ("name", "status", "ends_at", "context", "kiosk", "one_response_per_device")
# The touchpoint in focus travels in the link's context under this reserved name (a touchpoint
# id), and so into each response's segment; no context attribute may take the name.
FOCUS_KEY = "touchpoint"


def link_attributes(context: dict[str, str]) -> dict[str, str]:
    """A link's context without the touchpoint in focus: the whitelisted segment attributes."""
    return {name: value for name, value in context.items() if name != FOCUS_KEY}


def _check_modes(*, kiosk: bool, one_response_per_device: bool) -> None:
    if kiosk and one_response_per_device:
        raise ValidationFailed(
            "A kiosk takes many responses on one device.",
            fields={"one_response_per_device": ["Not possible for a kiosk link."]},
        )


def _clean_context(questionnaire: Questionnaire, context: Any, audience: str) -> dict[str, str]:
    if not isinstance(context, dict):
        raise ValidationFailed("Invalid context.", fields={"context": ["Give an object."]})
    whitelist = selectors.context_whitelist(
        questionnaire_id=questionnaire.pk, organization_id=questionnaire.organization_id
    )
    cleaned, errors = selectors.context_clean(context, whitelist, audience=audience)
    if errors:
        raise ValidationFailed(
            "The context has attributes this questionnaire does not allow.",
            fields={"context": [m for messages in errors.values() for m in messages]},
        )
    return cleaned


def _clean_focus(
    organization: Organization, questionnaire: Questionnaire, touchpoint: Any
) -> str | None:
    """The touchpoint in focus as stored (its id), if it is one of the journey's touchpoints."""
    if touchpoint is None or str(touchpoint).strip() == "":
        return None
    value = str(touchpoint).strip()
    ids = {
        str(pk)
        for pk in journey_selectors.touchpoints(
            organization=organization, journey_id=questionnaire.journey_id
        )
        .filter(archived_at__isnull=True)
        .values_list("pk", flat=True)
    }
    if value not in ids:
        raise ValidationFailed(
            "The touchpoint in focus is not part of this questionnaire's journey.",
            fields={FOCUS_KEY: [f"'{value}' is not a touchpoint of this questionnaire's journey."]},
        )
    return value


@transaction.atomic
def link_create(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    audience: str,
    name: str = "",
    ends_at: datetime | None = None,
    context: dict[str, str] | None = None,
    kiosk: bool = False,
    one_response_per_device: bool = False,
    touchpoint: int | str | None = None,
    ip_address: str | None = None,
) -> SurveyLink:
    """A public link to one side of a published questionnaire, optionally with a touchpoint in
    focus (asked first, already marked as used, recorded in each response's segment)."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    if questionnaire.status != QuestionnaireStatus.PUBLISHED:
        raise ValidationFailed(
            "Only a published questionnaire can be shared.",
            fields={"questionnaire": ["Publish the questionnaire first."]},
        )
    if audience not in Audience.values:
        raise ValidationFailed("Unknown audience.", fields={"audience": ["Choose a side."]})
    _check_modes(kiosk=kiosk, one_response_per_device=one_response_per_device)
    cleaned = _clean_context(questionnaire, context or {}, audience)
    focus = _clean_focus(organization, questionnaire, touchpoint)
    if focus is not None:
        cleaned[FOCUS_KEY] = focus
    link = SurveyLink.objects.create(
        organization=organization, questionnaire=questionnaire, audience=audience,
        name=(name or "").strip()[:200] or f"{questionnaire.name} ({Audience(audience).label})",
        ends_at=ends_at, context=cleaned, kiosk=kiosk,
        one_response_per_device=one_response_per_device, created_by=actor.user,
    )  # fmt: skip
    audit_record(
        organization=organization, actor=actor, action="link.created", target=link,
        data={"questionnaire": questionnaire.pk, "audience": audience, "kiosk": kiosk},
        ip_address=ip_address,
    )  # fmt: skip
    return link


@transaction.atomic
def link_update(
    *,
    organization: Organization,
    actor: Principal,
    link: SurveyLink,
    ip_address: str | None = None,
    **changes: Any,
) -> SurveyLink:
    """Rename, pause, resume, close (for good), set the end date, context, touchpoint in focus
    (`touchpoint`: an id, or None for none) or kiosk mode."""
    require(actor, Action.JOURNEY_EDIT, link.questionnaire.journey)
    unknown = set(changes) - {*LINK_FIELDS, FOCUS_KEY}
    if unknown:
        raise ValidationFailed(
            "Unknown fields.", fields={name: ["Not a link field."] for name in sorted(unknown)}
        )
    link = SurveyLink.objects.for_organization(organization).select_for_update().get(pk=link.pk)
    link.questionnaire = (
        Questionnaire.objects.for_organization(organization)
        .select_related("journey")
        .get(pk=link.questionnaire_id)
    )
    if link.status == LinkStatus.CLOSED and changes.get("status", LinkStatus.CLOSED) != "closed":
        raise ValidationFailed(
            "A closed link stays closed.", fields={"status": ["Create a new link instead."]}
        )
    if "status" in changes and changes["status"] not in LinkStatus.values:
        raise ValidationFailed("Unknown status.", fields={"status": ["Unknown status."]})
    if "name" in changes:
        changes["name"] = str(changes["name"] or "").strip()[:200] or link.name
    merged = {field: changes.get(field, getattr(link, field)) for field in LINK_FIELDS}
    _check_modes(
        kiosk=bool(merged["kiosk"]), one_response_per_device=bool(merged["one_response_per_device"])
    )
    attributes = link_attributes(link.context)
    if "context" in changes and changes["context"] != attributes:
        # Only a changed context is checked: one the whitelist has since dropped stays valid.
        attributes = _clean_context(link.questionnaire, changes["context"], link.audience)
    focus = (
        _clean_focus(organization, link.questionnaire, changes[FOCUS_KEY])
        if FOCUS_KEY in changes
        else link.context.get(FOCUS_KEY)
    )
    merged["context"] = {**attributes, **({FOCUS_KEY: focus} if focus else {})}
    changed = [field for field in LINK_FIELDS if merged[field] != getattr(link, field)]
    for field in changed:
        setattr(link, field, merged[field])
    if changed:
        link.save(update_fields=changed)
        audit_record(
            organization=organization, actor=actor, action="link.updated", target=link,
            data={"fields": changed, "status": link.status}, ip_address=ip_address,
        )  # fmt: skip
    return link


RESERVED_ATTRIBUTES = ("lang", "download", FOCUS_KEY)


@transaction.atomic
def context_attribute_set(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    name: str,
    label: str = "",
    allowed_values: list[str] | None = None,
    ip_address: str | None = None,
) -> ContextAttribute:
    """Allow links of the questionnaire to carry one more segment attribute (or change it)."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    name = (name or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) or name in RESERVED_ATTRIBUTES:
        raise ValidationFailed(
            "Invalid attribute name.",
            fields={"name": ["Use lowercase letters, digits and _ (such as store or region)."]},
        )
    values = [str(v).strip()[:100] for v in allowed_values or [] if str(v).strip()]
    attribute, _created = ContextAttribute.objects.for_organization(organization).update_or_create(
        organization=organization, questionnaire=questionnaire, name=name,
        defaults={"label": (label or "").strip()[:100], "allowed_values": values},
    )  # fmt: skip
    audit_record(
        organization=organization, actor=actor, action="link.context_attribute_set",
        target=questionnaire, data={"name": name, "allowed_values": values},
        ip_address=ip_address,
    )  # fmt: skip
    return attribute


@transaction.atomic
def context_attribute_delete(
    *,
    organization: Organization,
    actor: Principal,
    attribute: ContextAttribute,
    ip_address: str | None = None,
) -> None:
    """Stop accepting an attribute on new forms (links that carry it keep their context)."""
    questionnaire = (
        Questionnaire.objects.for_organization(organization)
        .select_related("journey")
        .get(pk=attribute.questionnaire_id)
    )
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    ContextAttribute.objects.for_organization(organization).filter(pk=attribute.pk).delete()
    audit_record(
        organization=organization, actor=actor, action="link.context_attribute_deleted",
        target=questionnaire, data={"name": attribute.name}, ip_address=ip_address,
    )  # fmt: skip

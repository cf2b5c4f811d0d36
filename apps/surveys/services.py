"""Writes on paired questionnaires: generation from a journey, editing, versions, publishing."""

import re
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import NotFound, ValidationFailed
from apps.core.ordering import reposition
from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.organizations.permissions import Action, Principal, require

from . import selectors
from .models import (
    CHOICE_KINDS,
    CUSTOM_KINDS,
    Audience,
    Dimension,
    Item,
    ItemKind,
    Questionnaire,
    QuestionnaireStatus,
    QuestionnaireVersion,
)
from .wordings import SCREENING_CHOICES, STANDARD_LANGUAGES, wording

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
SCALE_LIMITS = (-10, 100)
NPS_SCALE = (0, 10)


# --- validation -----------------------------------------------------------------------------


def _scale(lo: Any, hi: Any) -> tuple[int, int]:
    for field, value in (("scale_lo", lo), ("scale_hi", hi)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(
                "The scale needs whole numbers.", fields={field: ["Enter a whole number."]}
            )
        if not SCALE_LIMITS[0] <= value <= SCALE_LIMITS[1]:
            raise ValidationFailed(
                "The scale is out of range.",
                fields={field: [f"Enter a number from {SCALE_LIMITS[0]} to {SCALE_LIMITS[1]}."]},
            )
    if hi <= lo:
        raise ValidationFailed(
            "The top of the scale must be above its bottom.",
            fields={"scale_hi": ["The top of the scale must be above its bottom."]},
        )
    return lo, hi


def _languages(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed(
            "At least one language is needed.", fields={"languages": ["Choose a language."]}
        )
    languages: list[str] = []
    for code in value:
        _language_code(code, "languages")
        if code not in languages:
            languages.append(code)
    return languages


def _language_code(value: Any, field: str = "language") -> str:
    if not isinstance(value, str) or not LANGUAGE_CODE.match(value):
        raise ValidationFailed(
            f"Not a language code: {value!r}.",
            fields={field: ["Use a language code such as 'en', 'fi' or 'sv'."]},
        )
    return value


def _texts(value: Any, languages: list[str], field: str = "texts") -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationFailed(
            "Texts must map a language to its wording.",
            fields={field: ['Expected {"en": "...", "fi": "..."}.']},
        )
    unknown = sorted(set(value) - set(languages))
    if unknown:
        raise ValidationFailed(
            f"The questionnaire has no language {', '.join(unknown)}.",
            fields={field: [f"Add the language first: {', '.join(unknown)}."]},
        )
    return {lang: str(text or "").strip() for lang, text in value.items()}


def _closed_error() -> ValidationFailed:
    return ValidationFailed(
        "This questionnaire is closed: it can no longer be changed.",
        fields={"status": ["The questionnaire is closed."]},
    )


def _lock(questionnaire: Questionnaire) -> Questionnaire:
    return (
        Questionnaire.objects.for_organization(questionnaire.organization_id)
        .select_for_update()
        .select_related("journey")
        .get(pk=questionnaire.pk)
    )


# --- generation -----------------------------------------------------------------------------


def _active_touchpoints(journey: Journey) -> list[Touchpoint]:
    return list(
        Touchpoint.objects.for_organization(journey.organization_id)
        .filter(journey=journey, is_active=True, archived_at__isnull=True)
        .select_related("stage")
        .order_by("stage__position", "position", "id")
    )


def _standard_texts(
    kind: str, dimension: str, audience: str, languages: list[str], touchpoint: Touchpoint | None
) -> dict[str, str]:
    return {
        lang: wording(
            kind, dimension, audience, lang, touchpoint.name_in(lang) if touchpoint else ""
        )
        for lang in languages
    }


def _choice_texts(choices: list[dict], languages: list[str]) -> list[dict]:
    return [
        {"value": c["value"], "texts": {lang: c["texts"].get(lang, "") for lang in languages}}
        for c in choices
    ]


def _generated_items(
    journey: Journey,
    version: QuestionnaireVersion,
    audience: str,
    scale: tuple[int, int],
    comments: bool,
) -> list[Item]:
    languages = version.languages
    rows: list[dict[str, Any]] = []
    for tp in _active_touchpoints(journey):
        rows.append(
            dict(
                kind=ItemKind.SCREENING,
                key=f"tp:{tp.pk}:used",
                touchpoint=tp,
                required=True,
                choices=_choice_texts(SCREENING_CHOICES, languages),
                texts=_standard_texts(ItemKind.SCREENING, "", audience, languages, tp),
            )
        )
        for dimension in Dimension.values:
            rows.append(
                dict(
                    kind=ItemKind.RATING,
                    key=f"tp:{tp.pk}:{dimension}",
                    touchpoint=tp,
                    dimension=dimension,
                    scale_lo=scale[0],
                    scale_hi=scale[1],
                    allow_not_applicable=True,
                    texts=_standard_texts(ItemKind.RATING, dimension, audience, languages, tp),
                )
            )
        if comments:
            rows.append(
                dict(
                    kind=ItemKind.COMMENT,
                    key=f"tp:{tp.pk}:comment",
                    touchpoint=tp,
                    texts=_standard_texts(ItemKind.COMMENT, "touchpoint", audience, languages, tp),
                )
            )
    rows.append(
        dict(
            kind=ItemKind.NPS,
            key="nps",
            scale_lo=NPS_SCALE[0],
            scale_hi=NPS_SCALE[1],
            required=True,
            texts=_standard_texts(ItemKind.NPS, "", audience, languages, None),
        )
    )
    rows.append(
        dict(
            kind=ItemKind.OVERALL,
            key="overall",
            scale_lo=scale[0],
            scale_hi=scale[1],
            required=True,
            texts=_standard_texts(ItemKind.OVERALL, "", audience, languages, None),
        )
    )
    if comments:
        rows.append(
            dict(
                kind=ItemKind.COMMENT,
                key="comment",
                texts=_standard_texts(ItemKind.COMMENT, "", audience, languages, None),
            )
        )
    return [
        Item(organization_id=version.organization_id, version=version, audience=audience,
             position=index, **row)
        for index, row in enumerate(rows)
    ]  # fmt: skip


@transaction.atomic
def questionnaire_generate(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    name: str = "",
    languages: list[str] | None = None,
    scale_lo: int = 1,
    scale_hi: int = 5,
    comments: bool = True,
    ip_address: str | None = None,
) -> Questionnaire:
    """A new paired questionnaire (draft, version 1) from the journey's active touchpoints.

    Both audiences get, per touchpoint, a screening item, one rating item per dimension on
    `scale_lo..scale_hi` (with "not applicable") and an optional comment; then NPS (0-10),
    overall satisfaction and an overall comment. Standard wordings in English and Finnish.
    """
    require(actor, Action.JOURNEY_EDIT, journey)
    scale = _scale(scale_lo, scale_hi)
    if languages is None:
        languages = [journey.language] + [
            lang for lang in STANDARD_LANGUAGES if lang != journey.language
        ]
    languages = _languages(languages)
    name = (name or "").strip() or journey.name
    if len(name) > 200:
        raise ValidationFailed(
            "The name is too long.", fields={"name": ["At most 200 characters."]}
        )
    Journey.objects.for_organization(organization).select_for_update().get(pk=journey.pk)
    questionnaire = Questionnaire.objects.create(
        organization=organization, journey=journey, name=name
    )
    version = QuestionnaireVersion.objects.create(
        organization=organization, questionnaire=questionnaire, number=1, languages=languages
    )
    items = []
    for audience in Audience.values:
        items += _generated_items(journey, version, audience, scale, comments)
    Item.objects.bulk_create(items)
    audit_record(
        organization=organization,
        actor=actor,
        action="questionnaire.generated",
        target=questionnaire,
        data={"journey": journey.pk, "scale": list(scale), "languages": languages,
              "items": len(items)},
        ip_address=ip_address,
    )  # fmt: skip
    return questionnaire


# --- versions -------------------------------------------------------------------------------


def _editable_version(
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    ip_address: str | None,
) -> QuestionnaireVersion:
    """The draft version, opening one (a copy of the published version) when there is none."""
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise _closed_error()
    draft = selectors.draft_version(questionnaire=questionnaire)
    if draft is not None:
        return draft
    source = selectors.current_version(questionnaire=questionnaire)
    assert source is not None and source.is_published
    draft = QuestionnaireVersion.objects.create(
        organization=organization,
        questionnaire=questionnaire,
        number=source.number + 1,
        languages=list(source.languages),
    )
    copies = []
    for item in selectors.version_items(version=source):
        item.pk = None
        item._state.adding = True
        item.version = draft
        copies.append(item)
    Item.objects.bulk_create(copies)
    audit_record(
        organization=organization, actor=actor, action="questionnaire.version_created",
        target=questionnaire, data={"number": draft.number, "from": source.number},
        ip_address=ip_address,
    )  # fmt: skip
    return draft


def _in_version(item: Item, version: QuestionnaireVersion) -> Item:
    """The item's counterpart in `version` (itself, or its copy in a newly opened draft)."""
    if item.version_id == version.pk:
        return item
    copy = (
        Item.objects.for_organization(version.organization_id)
        .filter(version=version, audience=item.audience, key=item.key)
        .first()
    )
    if copy is None:
        raise NotFound("This item is not in the version being edited.")
    return copy


@transaction.atomic
def questionnaire_edit_start(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    ip_address: str | None = None,
) -> QuestionnaireVersion:
    """The version to edit: the draft, or a new draft copied from the published version."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    return _editable_version(organization, actor, questionnaire, ip_address)


# --- questionnaire-level edits --------------------------------------------------------------


@transaction.atomic
def questionnaire_rename(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    name: str,
    ip_address: str | None = None,
) -> Questionnaire:
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise _closed_error()
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed(
            "The questionnaire needs a name (at most 200 characters).",
            fields={"name": ["This field is required."]},
        )
    if name != questionnaire.name:
        before, questionnaire.name = questionnaire.name, name
        questionnaire.save(update_fields=["name"])
        audit_record(
            organization=organization, actor=actor, action="questionnaire.renamed",
            target=questionnaire, data={"from": before, "to": name}, ip_address=ip_address,
        )  # fmt: skip
    return questionnaire


@transaction.atomic
def questionnaire_add_touchpoints(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    ip_address: str | None = None,
) -> list[Touchpoint]:
    """Give touchpoints added to the journey since generation their standard items.

    Each missing active touchpoint gets its screening, dimension and comment items on both
    sides, on the scale of the questionnaire's existing dimension items, before the outcome
    items. Returns the touchpoints that were added.
    """
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    version = _editable_version(organization, actor, questionnaire, ip_address)
    items = selectors.version_items(version=version)
    present = {item.touchpoint_id for item in items if item.touchpoint_id}
    missing = [tp for tp in _active_touchpoints(questionnaire.journey) if tp.pk not in present]
    if not missing:
        return []
    rating = next((i for i in items if i.kind == ItemKind.RATING and i.dimension), None)
    scale: tuple[int, int] = (1, 5)
    if rating is not None and rating.scale_lo is not None and rating.scale_hi is not None:
        scale = (rating.scale_lo, rating.scale_hi)
    comments = any(i.kind == ItemKind.COMMENT for i in items)
    for audience in Audience.values:
        side = [i for i in items if i.audience == audience]
        new = [
            item
            for item in _generated_items(
                questionnaire.journey,
                version,
                audience,
                scale,
                comments,
            )
            if item.touchpoint_id in {tp.pk for tp in missing}
        ]
        outcome_at = next(
            (index for index, item in enumerate(side) if item.key in ("nps", "overall")),
            len(side),
        )
        ordered = side[:outcome_at] + new + side[outcome_at:]
        for index, item in enumerate(ordered):
            item.position = index
        Item.objects.bulk_create(new)
        Item.objects.for_organization(organization).bulk_update(side, ["position"])
    audit_record(
        organization=organization, actor=actor, action="questionnaire.touchpoints_added",
        target=questionnaire, data={"version": version.number,
                                    "touchpoints": [tp.pk for tp in missing]},
        ip_address=ip_address,
    )  # fmt: skip
    return missing


@transaction.atomic
def questionnaire_add_language(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    language: str,
    ip_address: str | None = None,
) -> QuestionnaireVersion:
    """Offer another language; items get the standard wording where one exists, else blank."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    _language_code(language)
    questionnaire = _lock(questionnaire)
    version = _editable_version(organization, actor, questionnaire, ip_address)
    if language in version.languages:
        raise ValidationFailed(
            f"The questionnaire already has the language '{language}'.",
            fields={"language": ["This language is already there."]},
        )
    version.languages = [*version.languages, language]
    version.save(update_fields=["languages"])
    items = selectors.version_items(version=version)
    for item in items:
        standard = ""
        if not item.key.startswith("custom:"):
            dimension = "touchpoint" if item.kind == ItemKind.COMMENT and item.touchpoint else ""
            standard = wording(
                item.kind,
                item.dimension or dimension,
                item.audience,
                language,
                item.touchpoint.name_in(language) if item.touchpoint else "",
            )
        item.texts = {**item.texts, language: standard}
        for choice in item.choices:
            defaults: dict[str, dict[str, str]] = {
                c["value"]: c["texts"] for c in SCREENING_CHOICES
            }
            fallback = defaults.get(choice["value"], {}) if item.kind == ItemKind.SCREENING else {}
            choice["texts"] = {**choice["texts"], language: fallback.get(language, "")}
    Item.objects.for_organization(version.organization_id).bulk_update(items, ["texts", "choices"])
    audit_record(
        organization=organization, actor=actor, action="questionnaire.language_added",
        target=questionnaire, data={"language": language, "version": version.number},
        ip_address=ip_address,
    )  # fmt: skip
    return version


# --- items ----------------------------------------------------------------------------------


def _touchpoint_for(
    organization: Organization, questionnaire: Questionnaire, touchpoint_id: Any
) -> Touchpoint | None:
    if touchpoint_id in (None, ""):
        return None
    touchpoint = (
        Touchpoint.objects.for_organization(organization)
        .filter(pk=touchpoint_id if isinstance(touchpoint_id, int) else -1)
        .first()
    )
    if touchpoint is None:
        raise ValidationFailed(
            "No such touchpoint in this organisation.",
            fields={"touchpoint": ["Choose a touchpoint of this questionnaire's journey."]},
        )
    if touchpoint.journey_id != questionnaire.journey_id:
        raise ValidationFailed(
            "The touchpoint belongs to another journey.",
            fields={"touchpoint": ["Choose a touchpoint of this questionnaire's journey."]},
        )
    return touchpoint


def _choices(value: Any, languages: list[str]) -> list[dict]:
    """[{"value": "...", "texts": {"en": "..."}}] from that shape or from plain strings."""
    if not isinstance(value, list) or len(value) < 2:
        raise ValidationFailed(
            "A choice question needs at least two choices.",
            fields={"choices": ["Give at least two choices."]},
        )
    cleaned: list[dict] = []
    for index, choice in enumerate(value, start=1):
        if isinstance(choice, str):
            choice = {"texts": {languages[0]: choice}}
        if not isinstance(choice, dict) or not isinstance(choice.get("texts"), dict):
            raise ValidationFailed(
                "Each choice needs its texts.",
                fields={"choices": ['Each choice is {"value": "...", "texts": {"en": "..."}}.']},
            )
        texts = _texts(choice["texts"], languages, "choices")
        if not texts.get(languages[0]):
            raise ValidationFailed(
                f"Choice {index} has no text in {languages[0]}.",
                fields={"choices": [f"Choice {index} needs a text in {languages[0]}."]},
            )
        value_code = str(choice.get("value") or f"c{index}")
        cleaned.append({"value": value_code, "texts": texts})
    if len({c["value"] for c in cleaned}) != len(cleaned):
        raise ValidationFailed(
            "Choice values must differ.", fields={"choices": ["Two choices have the same value."]}
        )
    return cleaned


def _other(audience: str) -> str:
    return Audience.EMPLOYEE if audience == Audience.CUSTOMER else Audience.CUSTOMER


def _side(version: QuestionnaireVersion, audience: str) -> list[Item]:
    return selectors.version_items(version=version, audience=audience)


def _insert_position(side: list[Item], touchpoint: Touchpoint | None) -> int:
    if touchpoint is not None:
        indexes = [i for i, row in enumerate(side) if row.touchpoint_id == touchpoint.pk]
        if indexes:
            return indexes[-1] + 1
    return len(side)


@transaction.atomic
def item_create(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    audience: str,
    kind: str,
    texts: dict[str, str],
    touchpoint_id: int | None = None,
    dimension: str = "",
    scale_lo: int | None = None,
    scale_hi: int | None = None,
    choices: list | None = None,
    required: bool = False,
    allow_not_applicable: bool = False,
    create_twin: bool | None = None,
    twin_texts: dict[str, str] | None = None,
    ip_address: str | None = None,
) -> Item:
    """Add a custom item; a mapped item gets its twin on the other side unless declined.

    The returned item carries the twin (or None) as `item.twin`.
    """
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise _closed_error()
    if audience not in Audience.values:
        raise ValidationFailed(
            f"Unknown audience: {audience!r}.",
            fields={"audience": [f"Choose one of: {', '.join(Audience.values)}."]},
        )
    if kind not in CUSTOM_KINDS:
        raise ValidationFailed(
            f"Items of kind {kind!r} cannot be added by hand.",
            fields={"kind": [f"Choose one of: {', '.join(CUSTOM_KINDS)}."]},
        )
    touchpoint = _touchpoint_for(organization, questionnaire, touchpoint_id)
    dimension = dimension or ""
    if dimension:
        if dimension not in Dimension.values:
            raise ValidationFailed(
                f"Unknown dimension: {dimension!r}.",
                fields={"dimension": [f"Choose one of: {', '.join(Dimension.values)}."]},
            )
        if kind != ItemKind.RATING or touchpoint is None:
            raise ValidationFailed(
                "Only a rating item mapped to a touchpoint has a dimension.",
                fields={"dimension": ["Choose a touchpoint and the rating kind, or no dimension."]},
            )
    scale: tuple[int | None, int | None] = (None, None)
    if kind == ItemKind.RATING:
        scale = _scale(1 if scale_lo is None else scale_lo, 5 if scale_hi is None else scale_hi)
    elif scale_lo is not None or scale_hi is not None:
        raise ValidationFailed(
            "Only rating items have a scale.", fields={"scale_lo": ["Leave the scale empty."]}
        )
    version = _editable_version(organization, actor, questionnaire, ip_address)
    languages = version.languages
    cleaned_texts = _texts(texts, languages)
    if not cleaned_texts.get(languages[0]):
        raise ValidationFailed(
            f"The question needs a wording in {languages[0]}.",
            fields={"texts": [f"Write the question in {languages[0]}."]},
        )
    cleaned_choices = _choices(choices, languages) if kind in CHOICE_KINDS else []
    if create_twin is None:
        create_twin = touchpoint is not None
    fields = dict(
        organization=organization, version=version, kind=kind,
        key=f"custom:{secrets.token_hex(4)}", touchpoint=touchpoint, dimension=dimension,
        scale_lo=scale[0], scale_hi=scale[1], choices=cleaned_choices, required=bool(required),
        allow_not_applicable=bool(allow_not_applicable),
    )  # fmt: skip
    item = _create_on_side(version, audience, touchpoint, {**fields, "texts": cleaned_texts})
    twin = None
    if create_twin:
        if twin_texts is not None:
            other_texts = _texts(twin_texts, languages, "twin_texts")
        elif dimension and touchpoint is not None:
            other_texts = _standard_texts(kind, dimension, _other(audience), languages, touchpoint)
        else:
            other_texts = dict(cleaned_texts)
        twin = _create_on_side(
            version, _other(audience), touchpoint, {**fields, "texts": other_texts}
        )
    audit_record(
        organization=organization, actor=actor, action="item.created", target=questionnaire,
        data={"version": version.number, "key": item.key, "audience": audience, "kind": kind,
              "twin": twin is not None},
        ip_address=ip_address,
    )  # fmt: skip
    item.twin = twin  # type: ignore[attr-defined]
    return item


def _create_on_side(
    version: QuestionnaireVersion, audience: str, touchpoint: Touchpoint | None, fields: dict
) -> Item:
    side = _side(version, audience)
    position = _insert_position(side, touchpoint)
    item = Item.objects.create(audience=audience, position=len(side), **fields)
    Item.objects.for_organization(version.organization_id).bulk_update(
        reposition([*side, item], item, position), ["position"]
    )
    item.refresh_from_db(fields=["position"])
    return item


@transaction.atomic
def item_create_twin(
    *,
    organization: Organization,
    actor: Principal,
    item: Item,
    ip_address: str | None = None,
) -> Item:
    """Give an unpaired item its twin on the other side (the publish check's remedy)."""
    questionnaire = item.version.questionnaire
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    version = _editable_version(organization, actor, questionnaire, ip_address)
    item = _in_version(item, version)
    if selectors.item_twin(item=item) is not None:
        raise ValidationFailed(
            "This item already has a twin.", fields={"item": ["The twin already exists."]}
        )
    other = _other(item.audience)
    if item.dimension and item.touchpoint is not None:
        texts = _standard_texts(
            item.kind, item.dimension, other, version.languages, item.touchpoint
        )
    else:
        texts = dict(item.texts)
    twin = _create_on_side(version, other, item.touchpoint, dict(
        organization=organization, version=version, kind=item.kind, key=item.key,
        touchpoint=item.touchpoint, dimension=item.dimension, scale_lo=item.scale_lo,
        scale_hi=item.scale_hi, choices=item.choices, required=item.required,
        allow_not_applicable=item.allow_not_applicable, texts=texts,
    ))  # fmt: skip
    audit_record(
        organization=organization, actor=actor, action="item.twin_created", target=questionnaire,
        data={"version": version.number, "key": item.key, "audience": other},
        ip_address=ip_address,
    )  # fmt: skip
    return twin


ITEM_FIELDS = ("texts", "required", "allow_not_applicable", "scale_lo", "scale_hi", "choices")


@transaction.atomic
def item_update(
    *,
    organization: Organization,
    actor: Principal,
    item: Item,
    ip_address: str | None = None,
    **changes: Any,
) -> Item:
    """Change an item's wording, choices, scale or whether it is required.

    On a published questionnaire this edits the new draft version (opened on the first change);
    the published version never changes. A rating item's scale change applies to its twin too,
    so the pair keeps measuring the same thing.
    """
    questionnaire = item.version.questionnaire
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    unknown = sorted(set(changes) - set(ITEM_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"Unknown fields: {', '.join(unknown)}.",
            fields={name: ["This field cannot be changed here."] for name in unknown},
        )
    questionnaire = _lock(questionnaire)
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise _closed_error()
    version = _editable_version(organization, actor, questionnaire, ip_address)
    item = _in_version(item, version)
    languages = list(version.languages)
    cleaned: dict[str, Any] = {}
    if "texts" in changes:
        merged = {**item.texts, **_texts(changes["texts"], languages)}
        if not merged.get(languages[0]):
            raise ValidationFailed(
                f"The question needs a wording in {languages[0]}.",
                fields={"texts": [f"Write the question in {languages[0]}."]},
            )
        cleaned["texts"] = merged
    for flag in ("required", "allow_not_applicable"):
        if flag in changes:
            cleaned[flag] = bool(changes[flag])
    if "scale_lo" in changes or "scale_hi" in changes:
        if item.kind != ItemKind.RATING:
            raise ValidationFailed(
                "Only rating items have a scale that can change.",
                fields={"scale_lo": ["This item's scale is fixed."]},
            )
        cleaned["scale_lo"], cleaned["scale_hi"] = _scale(
            changes.get("scale_lo", item.scale_lo), changes.get("scale_hi", item.scale_hi)
        )
    if "choices" in changes:
        if item.kind not in CHOICE_KINDS:
            raise ValidationFailed(
                "Only choice items have choices.", fields={"choices": ["Leave choices empty."]}
            )
        cleaned["choices"] = _choices(changes["choices"], languages)
    changed = {f: v for f, v in cleaned.items() if getattr(item, f) != v}
    if not changed:
        return item
    for field, value in changed.items():
        setattr(item, field, value)
    item.save(update_fields=list(changed))
    if "scale_lo" in changed or "scale_hi" in changed:
        twin = selectors.item_twin(item=item)
        if twin is not None and twin.kind == item.kind:
            twin.scale_lo, twin.scale_hi = item.scale_lo, item.scale_hi
            twin.save(update_fields=["scale_lo", "scale_hi"])
    audit_record(
        organization=organization, actor=actor, action="item.updated", target=questionnaire,
        data={"version": version.number, "key": item.key, "audience": item.audience,
              "fields": sorted(changed)},
        ip_address=ip_address,
    )  # fmt: skip
    return item


@transaction.atomic
def item_move(
    *,
    organization: Organization,
    actor: Principal,
    item: Item,
    position: int,
    ip_address: str | None = None,
) -> Item:
    """Put the item at `position` (0 is first) on its side; its twin moves to the same place."""
    questionnaire = item.version.questionnaire
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise ValidationFailed(
            "The position must be a whole number of 0 or more.",
            fields={"position": ["Enter a whole number of 0 or more."]},
        )
    questionnaire = _lock(questionnaire)
    version = _editable_version(organization, actor, questionnaire, ip_address)
    item = _in_version(item, version)
    changed: list[Item] = []
    for audience in Audience.values:
        side = _side(version, audience)
        row = next((r for r in side if r.key == item.key), None)
        if row is not None:
            changed += reposition(side, row, position)
            if row.pk == item.pk:
                item.position = row.position
    Item.objects.for_organization(version.organization_id).bulk_update(changed, ["position"])
    if changed:
        audit_record(
            organization=organization, actor=actor, action="item.moved", target=questionnaire,
            data={"version": version.number, "key": item.key, "position": item.position},
            ip_address=ip_address,
        )  # fmt: skip
    return item


@transaction.atomic
def item_delete(
    *,
    organization: Organization,
    actor: Principal,
    item: Item,
    with_twin: bool = True,
    ip_address: str | None = None,
) -> None:
    """Remove an item (and its twin) from the version being edited."""
    questionnaire = item.version.questionnaire
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    version = _editable_version(organization, actor, questionnaire, ip_address)
    item = _in_version(item, version)
    audiences = Audience.values if with_twin else [item.audience]
    Item.objects.for_organization(organization).filter(
        version=version, key=item.key, audience__in=audiences
    ).delete()
    for audience in audiences:
        side = _side(version, audience)
        for index, row in enumerate(side):
            row.position = index
        Item.objects.for_organization(version.organization_id).bulk_update(side, ["position"])
    audit_record(
        organization=organization, actor=actor, action="item.deleted", target=questionnaire,
        data={"version": version.number, "key": item.key, "audiences": list(audiences)},
        ip_address=ip_address,
    )  # fmt: skip


def items_drop_for_touchpoint(*, organization: Organization, touchpoint: Touchpoint) -> int:
    """Delete draft items about a touchpoint that is being deleted (called by journeys)."""
    deleted, _ = (
        Item.objects.for_organization(organization)
        .filter(touchpoint=touchpoint, version__published_at__isnull=True)
        .delete()
    )
    return deleted


# --- lifecycle ------------------------------------------------------------------------------


@transaction.atomic
def questionnaire_publish(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    ip_address: str | None = None,
) -> QuestionnaireVersion:
    """Publish the draft version: every mapped item paired, every wording written."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise _closed_error()
    version = selectors.draft_version(questionnaire=questionnaire)
    if version is None:
        raise ValidationFailed(
            "There are no changes to publish.",
            fields={"version": ["The published version is already the latest."]},
        )
    items = selectors.version_items(version=version)
    if not items:
        raise ValidationFailed(
            "The questionnaire has no items.", fields={"items": ["Add items before publishing."]}
        )
    unpaired = selectors.unpaired_items(items=items)
    if unpaired:
        raise ValidationFailed(
            f"{len(unpaired)} mapped item(s) have no matching twin on the other side.",
            fields={"items": [problem.describe() for problem in unpaired]},
        )
    missing = [
        f"{item.audience} item {item.key}: no wording in {lang}"
        for item in items
        for lang in version.languages
        if not item.text_in(lang) or any(not c["texts"].get(lang) for c in item.choices)
    ]
    if missing:
        raise ValidationFailed(f"{len(missing)} wording(s) are missing.", fields={"texts": missing})
    version.published_at = timezone.now()
    version.save(update_fields=["published_at"])
    questionnaire.published_version = version
    questionnaire.status = QuestionnaireStatus.PUBLISHED
    questionnaire.save(update_fields=["published_version", "status"])
    audit_record(
        organization=organization, actor=actor, action="questionnaire.published",
        target=questionnaire, data={"version": version.number, "items": len(items)},
        ip_address=ip_address,
    )  # fmt: skip
    return version


@transaction.atomic
def questionnaire_close(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    ip_address: str | None = None,
) -> Questionnaire:
    """Stop collecting answers; a closed questionnaire is read-only for good."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    questionnaire = _lock(questionnaire)
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise _closed_error()
    questionnaire.status = QuestionnaireStatus.CLOSED
    questionnaire.closed_at = timezone.now()
    questionnaire.save(update_fields=["status", "closed_at"])
    audit_record(
        organization=organization, actor=actor, action="questionnaire.closed",
        target=questionnaire, data={}, ip_address=ip_address,
    )  # fmt: skip
    return questionnaire

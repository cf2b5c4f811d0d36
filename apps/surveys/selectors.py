"""Reads on questionnaires: versions, items side by side, pairing, and whether answers exist."""

from dataclasses import dataclass

from django.db.models import QuerySet

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization

from .models import Audience, Item, Questionnaire, QuestionnaireVersion


def touchpoint_has_answers(*, touchpoint: Touchpoint) -> bool:
    """Whether answers may refer to the touchpoint, so it must be archived rather than deleted.

    Responses arrive with a later issue; until then an item of a published version stands for
    its answers (respondents could have answered it).
    """
    return (
        Item.objects.for_organization(touchpoint.organization_id)
        .filter(touchpoint=touchpoint, version__published_at__isnull=False)
        .exists()
    )


def questionnaires_for_journey(
    *, organization: Organization, journey: Journey
) -> QuerySet[Questionnaire]:
    return (
        Questionnaire.objects.for_organization(organization)
        .filter(journey=journey)
        .select_related("published_version")
    )


def questionnaire_get(*, organization: Organization, questionnaire_id: int) -> Questionnaire | None:
    return (
        Questionnaire.objects.for_organization(organization)
        .select_related("journey", "published_version")
        .filter(pk=questionnaire_id)
        .first()
    )


def draft_version(*, questionnaire: Questionnaire) -> QuestionnaireVersion | None:
    return (
        QuestionnaireVersion.objects.for_organization(questionnaire.organization_id)
        .filter(questionnaire=questionnaire, published_at__isnull=True)
        .first()
    )


def current_version(*, questionnaire: Questionnaire) -> QuestionnaireVersion | None:
    """The version being edited if there is one, else the published one."""
    return (
        QuestionnaireVersion.objects.for_organization(questionnaire.organization_id)
        .filter(questionnaire=questionnaire)
        .order_by("-number")
        .first()
    )


def versions(*, questionnaire: Questionnaire) -> QuerySet[QuestionnaireVersion]:
    return QuestionnaireVersion.objects.for_organization(questionnaire.organization_id).filter(
        questionnaire=questionnaire
    )


def version_items(*, version: QuestionnaireVersion, audience: str | None = None) -> list[Item]:
    items = (
        Item.objects.for_organization(version.organization_id)
        .filter(version=version)
        .select_related("touchpoint", "version")
        .order_by("audience", "position", "id")
    )
    if audience:
        items = items.filter(audience=audience)
    return list(items)


@dataclass(frozen=True)
class Unpaired:
    item: Item
    reason: str

    def describe(self) -> str:
        item = self.item
        where = item.touchpoint.name if item.touchpoint is not None else ""
        if item.dimension:
            where = f"{where}, {item.dimension}"
        return f"{item.audience} item {item.key} ({where}): {self.reason}"


def unpaired_items(*, items: list[Item]) -> list[Unpaired]:
    """Mapped items without a matching twin (same key, touchpoint, dimension, kind and scale)."""
    by_side = {(item.audience, item.key): item for item in items}
    other = {Audience.CUSTOMER: Audience.EMPLOYEE, Audience.EMPLOYEE: Audience.CUSTOMER}
    problems = []
    for item in items:
        if not item.is_mapped:
            continue
        twin = by_side.get((other[Audience(item.audience)], item.key))
        if twin is None:
            problems.append(Unpaired(item, f"no {other[Audience(item.audience)]} twin"))
        elif (twin.touchpoint_id, twin.dimension, twin.kind, twin.scale_lo, twin.scale_hi) != (
            item.touchpoint_id, item.dimension, item.kind, item.scale_lo, item.scale_hi
        ):  # fmt: skip
            problems.append(Unpaired(item, "its twin differs in touchpoint, dimension or scale"))
    return problems


def item_twin(*, item: Item) -> Item | None:
    other = Audience.EMPLOYEE if item.audience == Audience.CUSTOMER else Audience.CUSTOMER
    return (
        Item.objects.for_organization(item.organization_id)
        .filter(version_id=item.version_id, audience=other, key=item.key)
        .first()
    )

"""Reads for the respondent pages: the items a link's respondents answer, in one query."""

from apps.distribution.models import SurveyLink
from apps.surveys.models import Item


def respondent_items(*, link: SurveyLink, version_id: int) -> list[Item]:
    """The link's side of a published version of the link's questionnaire, in order.

    Empty when the version belongs to another questionnaire or was never published: such a
    form cannot be answered. An older published version is fine (the respondent opened the
    form before a new one was published).
    """
    return list(
        Item.objects.for_organization(link.organization_id)
        .filter(
            version_id=version_id,
            version__questionnaire_id=link.questionnaire_id,
            version__published_at__isnull=False,
            audience=link.audience,
        )
        .select_related("version")
        .order_by("position", "id")
    )

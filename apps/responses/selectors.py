"""Reads for the respondent pages: the items a link's respondents answer, in one query."""

import threading

from apps.distribution.models import SurveyLink
from apps.surveys.models import Item

# A published version never changes, so each web process keeps its items once loaded: the
# respondent path then skips a query and ~40 model instances per request. Only non-empty
# results are kept (a version that is not published yet may be published later).
_PUBLISHED_ITEMS: dict[tuple[int, int, int, str], tuple[Item, ...]] = {}
_PUBLISHED_ITEMS_MAX = 512
_lock = threading.Lock()


def respondent_items(*, link: SurveyLink, version_id: int) -> list[Item]:
    """The link's side of a published version of the link's questionnaire, in order.

    Empty when the version belongs to another questionnaire or was never published: such a
    form cannot be answered. An older published version is fine (the respondent opened the
    form before a new one was published). The items are shared between requests: read them,
    never change them.
    """
    key = (link.organization_id, link.questionnaire_id, version_id, link.audience)
    cached = _PUBLISHED_ITEMS.get(key)
    if cached is not None:
        return list(cached)
    items = tuple(
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
    if items:
        with _lock:
            if len(_PUBLISHED_ITEMS) >= _PUBLISHED_ITEMS_MAX:
                _PUBLISHED_ITEMS.pop(next(iter(_PUBLISHED_ITEMS)))
            _PUBLISHED_ITEMS[key] = items
    return list(items)


def respondent_items_cache_clear() -> None:
    """Tests reuse ids after rolling back; production never does."""
    with _lock:
        _PUBLISHED_ITEMS.clear()

"""Reads on responses: for the respondent pages, the link a token names and the items its
respondents answer; for staff, customers' comments.

Both are kept per web process, so the hot path (a submission) usually reads nothing before its
INSERTs: published items for good (a published version never changes), links for a few
seconds (a paused or closed link, a newly published version, takes effect within
LINK_CACHE_SECONDS everywhere, and at once in the process that saved the change).
"""

import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models.signals import post_delete, post_save

from apps.distribution.models import SurveyLink
from apps.distribution.selectors import link_resolve
from apps.organizations.models import Organization
from apps.surveys.models import Audience, Item, ItemKind

from .models import Answer
from .services import ItemPlan, PlannedItems

LINK_CACHE_SECONDS = 5.0
_LINKS_MAX = 1024
_LINKS: dict[str, tuple[float, SurveyLink]] = {}

# A published version never changes, so each web process keeps its items once loaded: the
# respondent path then skips a query and ~40 model instances per request. Only non-empty
# results are kept (a version that is not published yet may be published later).
_PUBLISHED_ITEMS: dict[tuple[int, int, int, str], tuple[tuple[Item, ...], ItemPlan]] = {}
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
        return PlannedItems(*cached)
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
    if not items:
        return []
    plan = ItemPlan(items)
    with _lock:
        if len(_PUBLISHED_ITEMS) >= _PUBLISHED_ITEMS_MAX:
            _PUBLISHED_ITEMS.pop(next(iter(_PUBLISHED_ITEMS)))
        _PUBLISHED_ITEMS[key] = (items, plan)
    return PlannedItems(items, plan)


def respondent_link(token: str) -> SurveyLink | None:
    """The link a public token names (see `link_resolve`), at most LINK_CACHE_SECONDS old.

    Unknown tokens are not remembered (a guesser must not fill the cache; a new link works at
    once). The link is shared between requests: read it, never change it.
    """
    now = time.monotonic()
    cached = _LINKS.get(token)
    if cached is not None and cached[0] > now:
        return cached[1]
    return _link_load(token, now)


def respondent_link_cached(token: str) -> SurveyLink | None:
    """The link if this process has it fresh, else None (and no query)."""
    cached = _LINKS.get(token)
    return cached[1] if cached is not None and cached[0] > time.monotonic() else None


def _link_load(token: str, now: float) -> SurveyLink | None:
    link = link_resolve(token)
    if link is not None:
        with _lock:
            if len(_LINKS) >= _LINKS_MAX:
                _LINKS.pop(next(iter(_LINKS)))
            _LINKS[token] = (now + LINK_CACHE_SECONDS, link)
    return link


def _links_forget(**kwargs: Any) -> None:
    # A link, its questionnaire (status, published version) or its organisation (time zone)
    # changed in this process: drop every cached link rather than work out which.
    with _lock:
        _LINKS.clear()


for _model in ("distribution.SurveyLink", "surveys.Questionnaire", "organizations.Organization"):
    post_save.connect(_links_forget, sender=_model, dispatch_uid=f"respondent_links:{_model}")
    post_delete.connect(_links_forget, sender=_model, dispatch_uid=f"respondent_links:{_model}:d")


def respondent_items_cache_clear() -> None:
    """Tests reuse ids after rolling back; production never does."""
    with _lock:
        _PUBLISHED_ITEMS.clear()
        _LINKS.clear()


# --- comments (staff pages) ------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    text: str
    day: date


@dataclass(frozen=True)
class CommentPage:
    items: list[Comment]
    total: int
    page: int
    pages: int


def touchpoint_comments(
    *,
    organization: Organization,
    touchpoint_id: int,
    date_from: date,
    date_to: date,
    search: str = "",
    page: int = 1,
    per_page: int = 20,
) -> CommentPage:
    """Customers' comments on one touchpoint, newest first, one page (two queries).

    Only customers': an employee's free text with its day could identify them, so employee
    comments are never listed here. Only the day is shown, never the time.
    """
    answers = (
        Answer.objects.for_organization(organization)
        .filter(
            item__touchpoint_id=touchpoint_id,
            item__kind=ItemKind.COMMENT,
            response__audience=Audience.CUSTOMER,
            response__submitted_on__range=(date_from, date_to),
        )
        .exclude(text="")
    )
    if search:
        answers = answers.filter(text__icontains=search)
    total = answers.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = answers.order_by("-response__submitted_on", "-response_id").values_list(
        "text", "response__submitted_on"
    )[(page - 1) * per_page : page * per_page]
    return CommentPage(
        items=[Comment(text=text, day=day) for text, day in rows],
        total=total,
        page=page,
        pages=pages,
    )

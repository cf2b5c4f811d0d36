"""Storing a response: validate the answers against the version they answer, write once.

The path must stay fast: validation works on items already loaded, and the write is one
INSERT for the response and one bulk INSERT for all its answers, in one transaction. A
duplicate idempotency key (double tap, retry, two tabs) stores nothing new.
"""

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ValidationFailed
from apps.core.logging import detached_request_id
from apps.distribution.models import SurveyLink
from apps.surveys.models import CHOICE_KINDS, SCALED_KINDS, Audience, Item, ItemKind

from .models import Answer, Response

logger = logging.getLogger(__name__)

NOT_APPLICABLE = "na"
MAX_TEXT = 2000
TEXT_KINDS = (ItemKind.COMMENT, ItemKind.TEXT)


def field_name(item: Item) -> str:
    return f"i{item.pk}"


@dataclass
class CleanedAnswer:
    item: Item
    value: int | None = None
    not_applicable: bool = False
    text: str = ""
    choices: list[str] = field(default_factory=list)


def used_touchpoints(items: Sequence[Item], data: Mapping[str, Sequence[str]]) -> set[int]:
    """Touchpoints the respondent used: screening answered "yes", or no screening question."""
    screened = {item.touchpoint_id for item in items if item.kind == ItemKind.SCREENING}
    used = {
        item.touchpoint_id
        for item in items
        if item.kind == ItemKind.SCREENING and list(data.get(field_name(item), [])) == ["yes"]
    }
    unscreened = {item.touchpoint_id for item in items if item.touchpoint_id not in screened}
    return {tp for tp in used | unscreened if tp is not None}


def visible_items(
    items: Sequence[Item], data: Mapping[str, Sequence[str]], step: int
) -> list[Item]:
    """Step 1: the screening questions. Step 2: the rest, for used touchpoints only."""
    if step == 1:
        return [item for item in items if item.kind == ItemKind.SCREENING]
    used = used_touchpoints(items, data)
    return [
        item
        for item in items
        if item.kind != ItemKind.SCREENING
        and (item.touchpoint_id is None or item.touchpoint_id in used)
    ]


def _clean_one(item: Item, values: list[str]) -> tuple[CleanedAnswer | None, str | None]:
    values = [v.strip() for v in values if v.strip()]
    if not values:
        return None, _("Please answer this question.") if item.required else None
    answer = CleanedAnswer(item=item)
    if item.kind in SCALED_KINDS:
        if len(values) > 1:
            return None, _("Choose one answer.")
        if values[0] == NOT_APPLICABLE and item.allow_not_applicable:
            answer.not_applicable = True
            return answer, None
        try:
            value = int(values[0])
        except ValueError:
            return None, _("Choose one of the options.")
        if (
            item.scale_lo is None
            or item.scale_hi is None
            or not (item.scale_lo <= value <= item.scale_hi)
        ):
            return None, _("Choose a value from %(lo)s to %(hi)s.") % {
                "lo": item.scale_lo, "hi": item.scale_hi,
            }  # fmt: skip
        answer.value = value
    elif item.kind in (*CHOICE_KINDS, ItemKind.SCREENING):
        known = {str(choice["value"]) for choice in item.choices}
        if any(v not in known for v in values):
            return None, _("Choose one of the options.")
        if item.kind != ItemKind.MULTIPLE_CHOICE and len(values) > 1:
            return None, _("Choose one answer.")
        answer.choices = list(dict.fromkeys(values))
    elif item.kind in TEXT_KINDS:
        text = "\n".join(values)
        if len(text) > MAX_TEXT:
            return None, _("Keep the answer under %(max)s characters.") % {"max": MAX_TEXT}
        answer.text = text
    return answer, None


def answers_clean(
    items: Sequence[Item], data: Mapping[str, Sequence[str]], *, step: int
) -> tuple[list[CleanedAnswer], dict[str, list[str]]]:
    """The answers of the steps up to `step`, and error messages per form field.

    A field naming an item that is not in this version's side is an error; answers to
    touchpoints the respondent said they did not use are dropped (they changed their mind).
    """
    known = {field_name(item) for item in items}
    errors: dict[str, list[str]] = {
        name: [_("Unknown question.")]
        for name in data
        if name.startswith("i") and name[1:].isdigit() and name not in known
    }
    shown = visible_items(items, data, 1)
    if step >= 2:
        shown += visible_items(items, data, 2)
    cleaned = []
    for item in shown:
        answer, error = _clean_one(item, list(data.get(field_name(item), [])))
        if error:
            errors[field_name(item)] = [error]
        elif answer is not None:
            cleaned.append(answer)
    return cleaned, errors


@dataclass(frozen=True)
class Respondent:
    """What the form and the request tell about one submission."""

    idempotency_key: uuid.UUID
    language: str
    started_at: datetime
    segment: dict[str, str]
    ip_address: str | None = None
    user_agent: str = ""


def response_submit(
    *,
    link: SurveyLink,
    items: Sequence[Item],
    data: Mapping[str, Sequence[str]],
    respondent: Respondent,
) -> Response | None:
    """Validate and store one response with all its answers; None if it was already stored.

    Raises ValidationFailed (fields named as in the form) and stores nothing on bad input.
    Employee responses keep no address, user agent or exact time, only the date.
    """
    if not items:
        raise ValidationFailed(
            _("This form belongs to another survey."),
            fields={"version": [_("Not a version of this questionnaire.")]},
        )
    cleaned, errors = answers_clean(items, data, step=2)
    if errors:
        raise ValidationFailed(_("Please check the answers marked below."), fields=errors)
    if not cleaned:
        raise ValidationFailed(
            _("Please answer at least one question."), fields={"answers": [_("No answers.")]}
        )
    now = timezone.now()
    employee = link.audience == Audience.EMPLOYEE
    response = Response(
        organization_id=link.organization_id,
        questionnaire_id=link.questionnaire_id,
        version_id=items[0].version_id,
        audience=link.audience,
        link=link,
        segment=respondent.segment,
        idempotency_key=respondent.idempotency_key,
        submitted_on=_day(link, now),
        submitted_at=None if employee else now,
        ip_address=None if employee else respondent.ip_address,
        user_agent="" if employee else respondent.user_agent[:300],
        language=respondent.language,
        duration_seconds=max(0, int((now - respondent.started_at).total_seconds())),
    )
    try:
        with transaction.atomic():
            response.save(force_insert=True)
            Answer.objects.bulk_create(
                [
                    Answer(
                        organization_id=link.organization_id,
                        response=response,
                        item_id=a.item.pk,
                        value=a.value,
                        not_applicable=a.not_applicable,
                        text=a.text,
                        choices=a.choices,
                    )
                    for a in cleaned
                ]
            )
            transaction.on_commit(lambda: _queue(response))
    except IntegrityError:
        # The same form was already stored (double tap, retry, a second tab, a race).
        if (
            Response.objects.for_organization(link.organization_id)
            .filter(idempotency_key=respondent.idempotency_key)
            .exists()
        ):
            return None
        raise
    return response


def _day(link: SurveyLink, now: datetime) -> date:
    try:
        zone = ZoneInfo(link.organization.time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return timezone.localtime(now, zone).date()


def _queue(response: Response) -> None:
    """Hand the stored response to the pipeline. A broker outage must not fail the respondent:
    the response is committed and stays unprocessed until the sweeper queues it again."""
    from .tasks import process_response

    # The task must not log under the respondent request's id: with the web server's log of
    # that request it would tie an (employee) response to a moment and a connection.
    with detached_request_id():
        try:
            process_response.delay(
                organization_id=response.organization_id, response_id=response.pk
            )
        except Exception:
            logger.exception("could not queue a response; it stays unprocessed")

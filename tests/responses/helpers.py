"""Answering a link's form in tests as a browser would: GET, then the posts of each step."""

import re

from apps.responses.services import field_name
from apps.surveys.models import Item, ItemKind


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields of a rendered respondent form."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def items_of(link) -> list[Item]:
    return list(
        Item.objects.for_organization(link.organization_id)
        .filter(version=link.questionnaire.published_version, audience=link.audience)
        .order_by("position", "id")
    )


def full_answers(link, used: int | None = None, value: int = 4) -> dict[str, str]:
    """Screening "yes" for the first `used` touchpoints (all if None), "no" for the rest, and a
    value (or text) for every shown question."""
    data: dict[str, str] = {}
    items = items_of(link)
    touchpoints = list(dict.fromkeys(i.touchpoint_id for i in items if i.touchpoint_id))
    chosen = set(touchpoints if used is None else touchpoints[:used])
    for item in items:
        if item.kind == ItemKind.SCREENING:
            data[field_name(item)] = "yes" if item.touchpoint_id in chosen else "no"
        elif item.touchpoint_id is not None and item.touchpoint_id not in chosen:
            continue
        elif item.kind in (ItemKind.COMMENT, ItemKind.TEXT):
            data[field_name(item)] = "Fine."
        elif item.kind == ItemKind.NPS:
            data[field_name(item)] = "9"
        elif item.scale_lo is not None:
            data[field_name(item)] = str(value)
    return data


def open_form(client, link, **extra) -> dict[str, str]:
    response = client.get(f"/s/{link.token}/", **extra)
    assert response.status_code == 200, response.status_code
    return form_fields(response.content.decode())


def submit(client, link, answers: dict[str, str], hidden: dict[str, str] | None = None, **extra):
    hidden = hidden or open_form(client, link)
    payload = {**hidden, **answers, "step": "2", "action": "submit"}
    return client.post(f"/s/{link.token}/", payload, **extra)

"""A link's touchpoint in focus on the respondent form: marked as used, asked first, recorded."""

import re

import pytest

from apps.responses.models import Response
from apps.responses.services import field_name
from apps.surveys.models import ItemKind

from .helpers import form_fields, full_answers, items_of, submit

pytestmark = pytest.mark.django_db


def _screening(link):
    return [item for item in items_of(link) if item.kind == ItemKind.SCREENING]


def _field_order(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'<(?:input|textarea)[^>]* name="(i\d+)"', html)))


@pytest.fixture
def focus_link(make_link, customer_link):
    # Focus on the third screened touchpoint, so that "first" is a change of order.
    focus = _screening(customer_link)[2].touchpoint_id
    return make_link(name="Counter", touchpoint=focus), focus


def test_the_focus_is_marked_as_used_and_asked_first_in_the_screening(client, focus_link):
    link, focus = focus_link
    html = client.get(f"/s/{link.token}/").content.decode()
    screening = _screening(link)
    focused = next(item for item in screening if item.touchpoint_id == focus)
    assert _field_order(html)[0] == field_name(focused)
    assert re.search(rf'name="{field_name(focused)}" value="yes"[^>]* checked', html)
    for item in screening:
        if item is not focused:
            assert not re.search(rf'name="{field_name(item)}" value="\w+"[^>]* checked', html)


def test_a_link_without_focus_keeps_the_questionnaires_order(client, customer_link):
    html = client.get(f"/s/{customer_link.token}/").content.decode()
    assert _field_order(html) == [field_name(item) for item in _screening(customer_link)]
    assert " checked" not in html


def test_the_focus_touchpoints_questions_come_first_in_step_two(client, focus_link):
    link, focus = focus_link
    hidden = form_fields(client.get(f"/s/{link.token}/").content.decode())
    screening = {field_name(i): "yes" for i in _screening(link)}  # used them all
    step2 = client.post(f"/s/{link.token}/", {**hidden, **screening, "action": "next"})
    assert step2.status_code == 200
    order = _field_order(step2.content.decode())
    by_name = {field_name(item): item for item in items_of(link)}
    shown = [by_name[name] for name in order if by_name[name].kind != ItemKind.SCREENING]
    touchpoints = [item.touchpoint_id for item in shown]
    asked = touchpoints.count(focus)
    assert asked > 0
    assert touchpoints[:asked] == [focus] * asked  # all of them, before any other question


def test_the_response_segment_records_the_focus(client, focus_link):
    link, focus = focus_link
    response = submit(client, link, full_answers(link))
    assert response.status_code == 302
    stored = Response.objects.for_organization(link.organization_id).get(link=link)
    assert stored.segment == {"touchpoint": str(focus)}


def test_the_focus_cannot_be_set_from_the_url(client, customer_link):
    # Only staff put a touchpoint in focus (checked against the journey); a URL cannot.
    focus = _screening(customer_link)[0].touchpoint_id
    html = client.get(f"/s/{customer_link.token}/?touchpoint={focus}").content.decode()
    assert " checked" not in html
    response = submit(client, customer_link, full_answers(customer_link),
                      form_fields(html))  # fmt: skip
    assert response.status_code == 302
    assert Response.objects.for_organization(customer_link.organization_id).get().segment == {}

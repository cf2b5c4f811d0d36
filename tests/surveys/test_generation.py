"""Generating a paired questionnaire from a journey (SCORING.md section 1)."""

import pytest

from apps.core.errors import ValidationFailed
from apps.journeys.models import Touchpoint
from apps.surveys import selectors, services
from apps.surveys.models import Item, Questionnaire
from tests.journeys.helpers import b2b_journey, principal

pytestmark = pytest.mark.django_db


def _generate(org, user, journey, **kwargs):
    return services.questionnaire_generate(
        organization=org, actor=principal(org, user), journey=journey, **kwargs
    )


def test_every_touchpoint_gets_screening_and_three_dimensions_on_both_sides(org, analyst):
    journey = b2b_journey(org, analyst)
    questionnaire = _generate(org, analyst, journey)
    version = selectors.current_version(questionnaire=questionnaire)
    assert version.number == 1 and not version.is_published
    assert version.languages == ["en", "fi"]
    items = selectors.version_items(version=version)
    touchpoints = Touchpoint.objects.for_organization(org).filter(journey=journey)
    assert touchpoints.count() == 7
    for touchpoint in touchpoints:
        for audience in ("customer", "employee"):
            mine = [i for i in items if i.touchpoint_id == touchpoint.pk and i.audience == audience]
            kinds = sorted(i.kind for i in mine)
            assert kinds == ["comment", "rating", "rating", "rating", "screening"]
            dimensions = {i.dimension for i in mine if i.kind == "rating"}
            assert dimensions == {"effectiveness", "ease", "emotion"}
            screening = next(i for i in mine if i.kind == "screening")
            assert [c["value"] for c in screening.choices] == ["yes", "no"]
    assert selectors.unpaired_items(items=items) == []


def test_twins_share_touchpoint_dimension_key_and_scale(org, analyst):
    questionnaire = _generate(org, analyst, b2b_journey(org, analyst), scale_lo=1, scale_hi=7)
    items = selectors.version_items(version=selectors.current_version(questionnaire=questionnaire))
    customer = {i.key: i for i in items if i.audience == "customer"}
    employee = {i.key: i for i in items if i.audience == "employee"}
    assert customer.keys() == employee.keys()
    assert len(customer) == 7 * 5 + 3
    for key, item in customer.items():
        twin = employee[key]
        assert (twin.touchpoint_id, twin.dimension, twin.kind, twin.scale_lo, twin.scale_hi) == (
            item.touchpoint_id, item.dimension, item.kind, item.scale_lo, item.scale_hi
        )  # fmt: skip
        assert twin.position == item.position
    ratings = [i for i in items if i.kind == "rating"]
    assert {(i.scale_lo, i.scale_hi) for i in ratings} == {(1, 7)}
    assert all(i.allow_not_applicable for i in ratings)


def test_outcome_items_nps_0_10_and_overall_on_both_sides(org, analyst):
    questionnaire = _generate(org, analyst, b2b_journey(org, analyst))
    items = selectors.version_items(version=selectors.current_version(questionnaire=questionnaire))
    for audience in ("customer", "employee"):
        nps = next(i for i in items if i.audience == audience and i.key == "nps")
        overall = next(i for i in items if i.audience == audience and i.key == "overall")
        assert (nps.kind, nps.scale_lo, nps.scale_hi, nps.touchpoint_id) == ("nps", 0, 10, None)
        assert (overall.kind, overall.scale_lo, overall.scale_hi) == ("overall", 1, 5)
        comment = next(i for i in items if i.audience == audience and i.key == "comment")
        assert comment.kind == "comment" and comment.touchpoint_id is None


def test_texts_in_english_and_finnish_differ_per_audience(org, analyst):
    questionnaire = _generate(org, analyst, b2b_journey(org, analyst))
    items = selectors.version_items(version=selectors.current_version(questionnaire=questionnaire))
    website = Touchpoint.objects.for_organization(org).get(name="Website")
    ease = {i.audience: i for i in items if i.touchpoint_id == website.pk and i.dimension == "ease"}
    assert ease["customer"].texts["en"] == "How easy was it to deal with “Website”?"
    assert ease["employee"].texts["en"] == "How easy do you think customers find “Website”?"
    assert "Verkkosivusto" in ease["customer"].texts["fi"]
    assert "asiakkaiden" in ease["employee"].texts["fi"]
    for item in items:
        assert item.texts["en"] and item.texts["fi"], item.key
        assert item.texts["en"] != item.texts["fi"]
    customer = {i.key: i.texts["en"] for i in items if i.audience == "customer"}
    employee = {i.key: i.texts["en"] for i in items if i.audience == "employee"}
    assert all(customer[key] != employee[key] for key in customer)


def test_finnish_journey_generates_finnish_first(org, analyst):
    questionnaire = _generate(org, analyst, b2b_journey(org, analyst, language="fi"))
    version = selectors.current_version(questionnaire=questionnaire)
    assert version.languages == ["fi", "en"]


def test_inactive_touchpoints_are_left_out(org, analyst):
    journey = b2b_journey(org, analyst)
    Touchpoint.objects.for_organization(org).filter(name="Website").update(is_active=False)
    questionnaire = _generate(org, analyst, journey)
    items = selectors.version_items(version=selectors.current_version(questionnaire=questionnaire))
    assert len({i.touchpoint_id for i in items if i.touchpoint_id}) == 6


@pytest.mark.parametrize(("lo", "hi"), [(5, 5), (5, 1), (0, -1)])
def test_scale_whose_top_is_not_above_bottom_is_refused(org, analyst, lo, hi):
    journey = b2b_journey(org, analyst)
    with pytest.raises(ValidationFailed) as exc:
        _generate(org, analyst, journey, scale_lo=lo, scale_hi=hi)
    assert "scale_hi" in exc.value.fields
    assert Questionnaire.objects.for_organization(org).count() == 0
    assert Item.objects.for_organization(org).count() == 0


def test_the_database_refuses_a_scale_top_not_above_bottom(org, analyst):
    from django.db import IntegrityError, transaction

    questionnaire = _generate(org, analyst, b2b_journey(org, analyst))
    item = Item.objects.for_organization(org).filter(version__questionnaire=questionnaire).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.for_organization(org).filter(pk=item.pk).update(scale_lo=5, scale_hi=5)


def test_viewer_cannot_generate(org, analyst, viewer):
    from apps.core.errors import PermissionDenied

    journey = b2b_journey(org, analyst)
    with pytest.raises(PermissionDenied):
        _generate(org, viewer, journey)

"""Editing, pairing, versions and the lifecycle of paired questionnaires."""

import pytest

from apps.audit.models import AuditEntry
from apps.core.errors import ValidationFailed
from apps.journeys import services as journey_services
from apps.journeys.models import Touchpoint
from apps.surveys import selectors, services
from apps.surveys.models import Item, QuestionnaireVersion
from tests.journeys.helpers import b2b_journey, principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(org, analyst):
    return b2b_journey(org, analyst)


@pytest.fixture
def actor(org, analyst):
    return principal(org, analyst)


@pytest.fixture
def questionnaire(org, actor, journey):
    return services.questionnaire_generate(organization=org, actor=actor, journey=journey)


def _items(questionnaire):
    return selectors.version_items(version=selectors.current_version(questionnaire=questionnaire))


def _item(questionnaire, audience, key):
    return next(i for i in _items(questionnaire) if i.audience == audience and i.key == key)


def _website(org):
    return Touchpoint.objects.for_organization(org).get(name="Website")


def test_custom_mapped_item_gets_its_twin(org, actor, questionnaire):
    website = _website(org)
    item = services.item_create(
        organization=org, actor=actor, questionnaire=questionnaire, audience="customer",
        kind="rating", texts={"en": "How fast did the page load?", "fi": "Kuinka nopeasti?"},
        touchpoint_id=website.pk, dimension="ease", scale_lo=0, scale_hi=10,
    )  # fmt: skip
    twin = item.twin
    assert twin is not None and twin.audience == "employee"
    assert (twin.key, twin.touchpoint_id, twin.dimension, twin.scale_lo, twin.scale_hi) == (
        item.key, website.pk, "ease", 0, 10
    )  # fmt: skip
    assert twin.texts["en"] == "How easy do you think customers find “Website”?"
    # Placed with the touchpoint's other items, on both sides.
    customer = [i for i in _items(questionnaire) if i.audience == "customer"]
    index = [i.pk for i in customer].index(item.pk)
    assert customer[index - 1].touchpoint_id == website.pk
    assert selectors.unpaired_items(items=_items(questionnaire)) == []


def test_unpaired_mapped_item_blocks_publishing_and_is_named(org, actor, questionnaire):
    website = _website(org)
    item = services.item_create(
        organization=org, actor=actor, questionnaire=questionnaire, audience="customer",
        kind="single_choice", texts={"en": "Which page?", "fi": "Mikä sivu?"},
        choices=[{"texts": {"en": "Home", "fi": "Etusivu"}},
                 {"texts": {"en": "Shop", "fi": "Kauppa"}}],
        touchpoint_id=website.pk, create_twin=False,
    )  # fmt: skip
    assert item.twin is None
    with pytest.raises(ValidationFailed) as exc:
        services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    assert "items" in exc.value.fields
    assert item.key in exc.value.fields["items"][0]
    version = selectors.current_version(questionnaire=questionnaire)
    assert version.published_at is None
    questionnaire.refresh_from_db()
    assert questionnaire.status == "draft"
    # The remedy: create the twin, then publishing works.
    services.item_create_twin(organization=org, actor=actor, item=item)
    services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    assert questionnaire.status == "published"


def test_twin_differing_in_scale_is_unpaired(org, actor, questionnaire):
    item = _item(questionnaire, "employee", f"tp:{_website(org).pk}:ease")
    Item.objects.for_organization(org).filter(pk=item.pk).update(scale_hi=7)
    problems = selectors.unpaired_items(items=_items(questionnaire))
    assert {p.item.key for p in problems} == {item.key}
    with pytest.raises(ValidationFailed):
        services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)


def test_scale_change_keeps_twins_paired(org, actor, questionnaire):
    key = f"tp:{_website(org).pk}:emotion"
    services.item_update(
        organization=org, actor=actor, item=_item(questionnaire, "customer", key), scale_lo=1,
        scale_hi=7,
    )  # fmt: skip
    twin = _item(questionnaire, "employee", key)
    assert (twin.scale_lo, twin.scale_hi) == (1, 7)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "rating", "scale_lo": 3, "scale_hi": 3}, "scale_hi"),
        ({"kind": "rating", "texts": {"en": ""}}, "texts"),
        ({"kind": "rating", "texts": {"sv": "Hur?"}}, "texts"),
        ({"kind": "screening"}, "kind"),
        ({"kind": "rating", "audience": "martians"}, "audience"),
        ({"kind": "single_choice", "choices": ["only one"]}, "choices"),
        ({"kind": "text", "dimension": "ease"}, "dimension"),
    ],
)
def test_bad_item_input_names_the_field_and_adds_nothing(org, actor, questionnaire, kwargs, field):
    before = Item.objects.for_organization(org).count()
    params = {"audience": "customer", "texts": {"en": "Q?", "fi": "K?"}, **kwargs}
    with pytest.raises(ValidationFailed) as exc:
        services.item_create(organization=org, actor=actor, questionnaire=questionnaire, **params)
    assert field in exc.value.fields
    assert Item.objects.for_organization(org).count() == before


def test_mapped_item_on_another_journeys_touchpoint_is_refused(org, actor, questionnaire):
    other = journey_services.journey_create(
        organization=org, actor=actor, template="retail-web-shop", language="en"
    )
    foreign = Touchpoint.objects.for_organization(org).filter(journey=other).first()
    before = Item.objects.for_organization(org).count()
    with pytest.raises(ValidationFailed) as exc:
        services.item_create(
            organization=org, actor=actor, questionnaire=questionnaire, audience="customer",
            kind="rating", texts={"en": "Q?"}, touchpoint_id=foreign.pk, dimension="ease",
        )  # fmt: skip
    assert exc.value.fields["touchpoint"]
    assert "another journey" in exc.value.message
    assert Item.objects.for_organization(org).count() == before


def test_mapped_item_on_another_organisations_touchpoint_is_refused(
    org, other_org, stranger, actor, questionnaire
):
    foreign_journey = b2b_journey(other_org, stranger)
    foreign = Touchpoint.objects.for_organization(other_org).filter(journey=foreign_journey).first()
    before = Item.objects.for_organization(org).count()
    with pytest.raises(ValidationFailed) as exc:
        services.item_create(
            organization=org, actor=actor, questionnaire=questionnaire, audience="customer",
            kind="rating", texts={"en": "Q?"}, touchpoint_id=foreign.pk, dimension="ease",
        )  # fmt: skip
    assert "touchpoint" in exc.value.fields
    assert Item.objects.for_organization(org).count() == before


def test_published_version_never_changes_and_editing_opens_version_2(org, actor, questionnaire):
    website = _website(org)
    key = f"tp:{website.pk}:ease"
    v1 = services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    v1_item = Item.objects.for_organization(org).get(version=v1, audience="customer", key=key)
    v1_snapshot = {i.pk: (i.texts, i.position) for i in selectors.version_items(version=v1)}

    edited = services.item_update(
        organization=org, actor=actor, item=v1_item,
        texts={"en": "How easy was our website to use?"},
    )  # fmt: skip
    v2 = edited.version
    assert v2.number == 2 and v2.published_at is None and edited.pk != v1_item.pk
    assert edited.key == key and edited.touchpoint_id == website.pk
    assert edited.texts["fi"] == v1_item.texts["fi"]  # other languages kept
    # Version 1 is untouched, and still maps each answer to its touchpoint and dimension.
    v1_item.refresh_from_db()
    assert v1_item.texts["en"] == "How easy was it to deal with “Website”?"
    assert {i.pk: (i.texts, i.position) for i in selectors.version_items(version=v1)} == v1_snapshot
    assert (v1_item.touchpoint_id, v1_item.dimension, v1_item.scale_lo, v1_item.scale_hi) == (
        website.pk, "ease", 1, 5
    )  # fmt: skip
    # A second edit reuses the same draft.
    services.item_update(organization=org, actor=actor, item=v1_item, required=True)
    assert (
        QuestionnaireVersion.objects.for_organization(org)
        .filter(questionnaire=questionnaire)
        .count()
        == 2
    )
    # Respondents keep getting v1 until v2 is published.
    questionnaire.refresh_from_db()
    assert questionnaire.published_version_id == v1.pk
    v2 = services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    assert questionnaire.published_version_id == v2.pk
    assert len(selectors.version_items(version=v1)) == len(selectors.version_items(version=v2))
    assert (
        AuditEntry.objects.for_organization(org)
        .filter(action="questionnaire.version_created")
        .count()
        == 1
    )


def test_nothing_to_publish_is_refused(org, actor, questionnaire):
    services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    with pytest.raises(ValidationFailed) as exc:
        services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    assert "version" in exc.value.fields


def test_closed_questionnaire_cannot_be_edited(org, actor, questionnaire):
    services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    services.questionnaire_close(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    item = _item(questionnaire, "customer", "nps")
    attempts = [
        lambda: services.item_update(organization=org, actor=actor, item=item, texts={"en": "X"}),
        lambda: services.item_create(
            organization=org,
            actor=actor,
            questionnaire=questionnaire,
            audience="customer",
            kind="text",
            texts={"en": "X"},
        ),
        lambda: services.item_move(organization=org, actor=actor, item=item, position=0),
        lambda: services.questionnaire_publish(
            organization=org, actor=actor, questionnaire=questionnaire
        ),
        lambda: services.questionnaire_add_language(
            organization=org, actor=actor, questionnaire=questionnaire, language="sv"
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationFailed) as exc:
            attempt()
        assert "status" in exc.value.fields
    item.refresh_from_db()
    assert item.texts["en"].startswith("How likely")
    assert QuestionnaireVersion.objects.for_organization(org).count() == 1


def test_reordering_moves_twins_together(org, actor, questionnaire):
    nps = _item(questionnaire, "customer", "nps")
    services.item_move(organization=org, actor=actor, item=nps, position=0)
    for audience in ("customer", "employee"):
        side = [i for i in _items(questionnaire) if i.audience == audience]
        assert side[0].key == "nps"
        assert [i.position for i in side] == list(range(len(side)))


def test_adding_a_language(org, actor, questionnaire):
    version = services.questionnaire_add_language(
        organization=org, actor=actor, questionnaire=questionnaire, language="sv"
    )
    assert version.languages == ["en", "fi", "sv"]
    assert all(i.texts.get("sv") == "" for i in _items(questionnaire))
    with pytest.raises(ValidationFailed) as exc:
        services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    assert "texts" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.questionnaire_add_language(
            organization=org, actor=actor, questionnaire=questionnaire, language="sv"
        )
    assert "language" in exc.value.fields


def test_deleting_an_item_removes_its_twin(org, actor, questionnaire):
    item = _item(questionnaire, "customer", "comment")
    services.item_delete(organization=org, actor=actor, item=item)
    assert not [i for i in _items(questionnaire) if i.key == "comment"]


def test_new_touchpoints_get_their_items_before_the_outcomes(org, actor, journey, questionnaire):
    stage = journey.stages.order_by("position").first()
    chat = journey_services.touchpoint_create(
        organization=org, actor=actor, stage=stage, name="Chat", channel="digital"
    )
    added = services.questionnaire_add_touchpoints(
        organization=org, actor=actor, questionnaire=questionnaire
    )
    assert added == [chat]
    items = _items(questionnaire)
    for audience in ("customer", "employee"):
        side = [i for i in items if i.audience == audience]
        mine = [i for i in side if i.touchpoint_id == chat.pk]
        assert sorted(i.kind for i in mine) == [
            "comment",
            "rating",
            "rating",
            "rating",
            "screening",
        ]
        assert max(i.position for i in mine) < next(i.position for i in side if i.key == "nps")
        assert [i.position for i in side] == list(range(len(side)))
    assert selectors.unpaired_items(items=items) == []
    assert (
        services.questionnaire_add_touchpoints(
            organization=org, actor=actor, questionnaire=questionnaire
        )
        == []
    )


def test_archiving_a_touchpoint_drops_it_from_the_draft_but_not_from_published(
    org, actor, questionnaire
):
    v1 = services.questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    website = _website(org)
    services.questionnaire_edit_start(organization=org, actor=actor, questionnaire=questionnaire)
    assert (
        journey_services.touchpoint_delete(organization=org, actor=actor, touchpoint=website)
        == "archived"
    )
    assert not [i for i in _items(questionnaire) if i.touchpoint_id == website.pk]
    assert (
        len([i for i in selectors.version_items(version=v1) if i.touchpoint_id == website.pk]) == 10
    )

"""Journey services: templates, ordering, ownership, deletion, and bad input."""

import pytest
from django.core import mail

from apps.audit.models import AuditEntry
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.journeys import services
from apps.journeys.models import Journey, Stage, Touchpoint
from apps.journeys.templates_data import TEMPLATES
from apps.surveys import services as survey_services
from tests.factories import MembershipFactory
from tests.journeys.helpers import b2b_journey, principal

pytestmark = pytest.mark.django_db

B2B_EN = ["Brand impression", "Website", "Sales visit", "Offer", "Delivery", "Invoicing",
          "Support call"]  # fmt: skip
B2B_FI = ["Brändimielikuva", "Verkkosivusto", "Myyntikäynti", "Tarjous", "Toimitus", "Laskutus",
          "Tukipuhelu"]  # fmt: skip


def _touchpoints(org, journey):
    return list(
        Touchpoint.objects.for_organization(org)
        .filter(journey=journey)
        .order_by("stage__position", "position")
    )


def test_b2b_template_is_copied_in_english_with_finnish_stored(org, analyst):
    journey = b2b_journey(org, analyst, language="en")
    touchpoints = _touchpoints(org, journey)
    assert [tp.name for tp in touchpoints] == B2B_EN
    assert [tp.name_in("fi") for tp in touchpoints] == B2B_FI
    assert journey.name == "B2B sales and service"
    assert journey.name_in("fi") == "B2B-myynti ja palvelu"
    assert {tp.channel for tp in touchpoints} >= {"digital", "in_person", "phone", "email"}
    assert all(1 <= tp.importance <= 5 for tp in touchpoints)
    stages = Stage.objects.for_organization(org).filter(journey=journey).order_by("position")
    assert [s.position for s in stages] == [0, 1, 2, 3]
    assert AuditEntry.objects.for_organization(org).filter(action="journey.created").count() == 1


def test_b2b_template_in_finnish_keeps_english(org, analyst):
    journey = b2b_journey(org, analyst, language="fi")
    touchpoints = _touchpoints(org, journey)
    assert [tp.name for tp in touchpoints] == B2B_FI
    assert [tp.name_in("en") for tp in touchpoints] == B2B_EN
    assert journey.language == "fi"


@pytest.mark.parametrize("slug", sorted(TEMPLATES))
def test_every_template_copies_in_both_languages(org, analyst, slug):
    for language in ("en", "fi"):
        journey = services.journey_create(
            organization=org, actor=principal(org, analyst), template=slug, language=language
        )
        touchpoints = _touchpoints(org, journey)
        assert len(touchpoints) >= 5
        other = "fi" if language == "en" else "en"
        assert all(tp.name_in(other) and tp.name_in(other) != "" for tp in touchpoints)
        assert journey.name == TEMPLATES[slug].name_in(language)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_refused_and_nothing_is_created(org, analyst, name):
    with pytest.raises(ValidationFailed) as exc:
        services.journey_create(organization=org, actor=principal(org, analyst), name=name)
    assert "name" in exc.value.fields
    assert Journey.objects.for_organization(org).count() == 0


def test_duplicate_journey_name_conflicts(org, analyst):
    b2b_journey(org, analyst)
    with pytest.raises(Conflict) as exc:
        b2b_journey(org, analyst)
    assert "name" in exc.value.fields
    assert Journey.objects.for_organization(org).count() == 1


def test_unknown_template_names_the_field(org, analyst):
    with pytest.raises(ValidationFailed) as exc:
        services.journey_create(organization=org, actor=principal(org, analyst), template="nope")
    assert "template" in exc.value.fields


def test_viewer_cannot_create_journeys(org, viewer):
    with pytest.raises(PermissionDenied):
        services.journey_create(organization=org, actor=principal(org, viewer), name="Mine")


def test_stage_and_touchpoint_reordering(org, analyst):
    journey = b2b_journey(org, analyst)
    actor = principal(org, analyst)
    stages = list(Stage.objects.for_organization(org).filter(journey=journey).order_by("position"))
    services.stage_move(organization=org, actor=actor, stage=stages[3], position=0)
    order = Stage.objects.for_organization(org).filter(journey=journey).order_by("position")
    assert [s.pk for s in order] == [stages[3].pk, stages[0].pk, stages[1].pk, stages[2].pk]
    assert [s.position for s in order] == [0, 1, 2, 3]

    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    services.touchpoint_move(organization=org, actor=actor, touchpoint=website, position=0)
    awareness = [tp.name for tp in _touchpoints(org, journey) if tp.stage_id == stages[0].pk]
    assert awareness == ["Website", "Brand impression"]
    # Into another stage, at its end; the stage it left is renumbered.
    services.touchpoint_move(
        organization=org, actor=actor, touchpoint=website, position=99, stage_id=stages[3].pk
    )
    service = Touchpoint.objects.for_organization(org).filter(stage=stages[3]).order_by("position")
    assert [tp.name for tp in service] == ["Support call", "Website"]
    assert [tp.position for tp in service] == [0, 1]
    brand = Touchpoint.objects.for_organization(org).get(journey=journey, name="Brand impression")
    assert brand.position == 0


def test_touchpoint_cannot_move_to_a_stage_of_another_journey(org, analyst):
    journey = b2b_journey(org, analyst)
    other = services.journey_create(organization=org, actor=principal(org, analyst), name="Other")
    foreign_stage = services.stage_create(
        organization=org, actor=principal(org, analyst), journey=other, name="Elsewhere"
    )
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    with pytest.raises(ValidationFailed) as exc:
        services.touchpoint_move(
            organization=org, actor=principal(org, analyst), touchpoint=website, position=0,
            stage_id=foreign_stage.pk,
        )  # fmt: skip
    assert "stage" in exc.value.fields
    website.refresh_from_db()
    assert website.stage.journey_id == journey.pk


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"importance": 6}, "importance"), ({"importance": 0}, "importance"),
     ({"channel": "telepathy"}, "channel"), ({"name": ""}, "name")],
)  # fmt: skip
def test_bad_touchpoint_input_names_the_field_and_changes_nothing(org, analyst, changes, field):
    journey = b2b_journey(org, analyst)
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    with pytest.raises(ValidationFailed) as exc:
        services.touchpoint_update(
            organization=org, actor=principal(org, analyst), touchpoint=website, **changes
        )
    assert field in exc.value.fields
    website.refresh_from_db()
    assert (website.name, website.importance, website.channel) == ("Website", 3, "digital")


def test_touchpoint_owner_must_be_a_member(org, analyst, stranger):
    journey = b2b_journey(org, analyst)
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    with pytest.raises(ValidationFailed) as exc:
        services.touchpoint_update(
            organization=org, actor=principal(org, analyst), touchpoint=website,
            owner_id=stranger.pk,
        )  # fmt: skip
    assert "owner" in exc.value.fields
    services.touchpoint_update(
        organization=org, actor=principal(org, analyst), touchpoint=website, owner_id=analyst.pk
    )
    assert journey.touchpoint_owner_ids == {analyst.pk}


def test_new_touchpoint_defaults(org, analyst):
    journey = services.journey_create(organization=org, actor=principal(org, analyst), name="J")
    stage = services.stage_create(
        organization=org, actor=principal(org, analyst), journey=journey, name="S"
    )
    touchpoint = services.touchpoint_create(
        organization=org, actor=principal(org, analyst), stage=stage, name="Chat"
    )
    assert (touchpoint.importance, touchpoint.is_active, touchpoint.owner_id) == (3, True, None)
    assert touchpoint.journey_id == journey.pk


def test_touchpoint_without_answers_is_deleted_with_its_draft_items(org, analyst, owner):
    journey = b2b_journey(org, analyst)
    questionnaire = survey_services.questionnaire_generate(
        organization=org, actor=principal(org, analyst), journey=journey
    )
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    result = services.touchpoint_delete(
        organization=org, actor=principal(org, analyst), touchpoint=website
    )
    assert result == "deleted"
    assert not Touchpoint.objects.for_organization(org).filter(pk=website.pk).exists()
    assert (
        questionnaire.versions.get().items.filter(key__startswith=f"tp:{website.pk}:").count() == 0
    )


def test_touchpoint_with_answers_is_archived_not_deleted(org, analyst):
    journey = b2b_journey(org, analyst)
    actor = principal(org, analyst)
    questionnaire = survey_services.questionnaire_generate(
        organization=org, actor=actor, journey=journey
    )
    survey_services.questionnaire_publish(
        organization=org, actor=actor, questionnaire=questionnaire
    )
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    result = services.touchpoint_delete(organization=org, actor=actor, touchpoint=website)
    assert result == "archived"
    website.refresh_from_db()
    assert website.archived_at is not None and website.is_active is False
    # A questionnaire generated now leaves the archived touchpoint out.
    fresh = survey_services.questionnaire_generate(
        organization=org, actor=actor, journey=journey, name="Second"
    )
    assert not fresh.versions.get().items.filter(touchpoint=website).exists()


def test_stage_with_touchpoints_cannot_be_deleted(org, analyst):
    journey = b2b_journey(org, analyst)
    stage = Stage.objects.for_organization(org).filter(journey=journey).first()
    with pytest.raises(Conflict):
        services.stage_delete(organization=org, actor=principal(org, analyst), stage=stage)
    assert Stage.objects.for_organization(org).filter(pk=stage.pk).exists()


def test_admin_assigns_owner_who_is_emailed_and_it_is_audited(
    org, admin, analyst, django_capture_on_commit_callbacks
):
    journey = b2b_journey(org, analyst)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.journey_assign_owner(
            organization=org, actor=principal(org, admin), journey=journey, owner_id=analyst.pk
        )
    assert len(callbacks) == 1
    journey.refresh_from_db()
    assert journey.owner_id == analyst.pk
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [analyst.email]
    assert "B2B sales and service" in message.subject
    assert f"/o/acme/journeys/{journey.pk}/" in message.body
    entry = AuditEntry.objects.for_organization(org).get(action="journey.owner_assigned")
    assert entry.actor == admin and entry.data["to"] == analyst.pk


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_only_admins_and_owners_assign_owners(org, analyst, role):
    journey = b2b_journey(org, analyst)
    member = MembershipFactory(organization=org, role=role)
    actor = principal(org, member.user)
    with pytest.raises(PermissionDenied):
        services.journey_assign_owner(
            organization=org, actor=actor, journey=journey, owner_id=member.user_id
        )
    journey.refresh_from_db()
    assert journey.owner_id is None


def test_owner_must_be_a_member(org, owner, analyst, stranger):
    journey = b2b_journey(org, analyst)
    with pytest.raises(ValidationFailed) as exc:
        services.journey_assign_owner(
            organization=org, actor=principal(org, owner), journey=journey, owner_id=stranger.pk
        )
    assert "owner" in exc.value.fields
    journey.refresh_from_db()
    assert journey.owner_id is None
    assert len(mail.outbox) == 0


def test_journey_owner_with_viewer_role_edits_their_journey_only(org, owner, analyst, viewer):
    journey = b2b_journey(org, analyst)
    other = services.journey_create(organization=org, actor=principal(org, analyst), name="Other")
    services.journey_assign_owner(
        organization=org, actor=principal(org, owner), journey=journey, owner_id=viewer.pk
    )
    journey.refresh_from_db()
    updated = services.journey_update(
        organization=org, actor=principal(org, viewer), journey=journey, description="Ours"
    )
    assert updated.description == "Ours"
    with pytest.raises(PermissionDenied):
        services.journey_update(
            organization=org, actor=principal(org, viewer), journey=other, description="No"
        )


def test_archiving_a_journey(org, analyst):
    journey = b2b_journey(org, analyst)
    services.journey_archive(organization=org, actor=principal(org, analyst), journey=journey)
    journey.refresh_from_db()
    assert journey.status == "archived"
    assert AuditEntry.objects.for_organization(org).filter(action="journey.archived").exists()


def test_items_hold_their_touchpoint_but_the_organisation_can_still_go(org, analyst):
    from django.db.models import RestrictedError

    from apps.organizations.models import Organization
    from apps.surveys.models import Item

    journey = b2b_journey(org, analyst)
    survey_services.questionnaire_generate(
        organization=org, actor=principal(org, analyst), journey=journey
    )
    website = Touchpoint.objects.for_organization(org).get(journey=journey, name="Website")
    with pytest.raises(RestrictedError):
        website.delete()  # only touchpoint_delete decides between deleting and archiving
    Organization.objects.filter(pk=org.pk).delete()
    assert Item.unscoped.count() == 0 and Journey.unscoped.count() == 0

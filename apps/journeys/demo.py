"""The demo organisation's journey: the B2B template with an owner and a published questionnaire."""

from django.db import transaction

from apps.accounts.models import User
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Principal

from .models import Journey
from .templates_data import B2B_SALES_AND_SERVICE


@transaction.atomic
def demo_journey_load(organization: Organization, owner: User) -> Journey:
    """Create the demo B2B journey unless it exists (idempotent); returns the journey.

    Written in the organisation's default language with the other language stored too, owned
    by `owner` (a member), with a generated paired questionnaire published as version 1.
    """
    from apps.surveys.selectors import questionnaires_for_journey
    from apps.surveys.services import questionnaire_generate, questionnaire_publish

    from .services import journey_assign_owner, journey_create, journey_update

    language = organization.default_language
    name = B2B_SALES_AND_SERVICE.name_in(language)
    journey = Journey.objects.for_organization(organization).filter(name=name).first()
    # Seed data acts as the organisation's first owner, so the audit log reads naturally.
    membership = (
        Membership.objects.for_organization(organization)
        .select_related("user", "organization")
        .filter(role="owner")
        .order_by("id")
        .first()
    )
    actor = Principal(
        organization=organization, role="owner", user=membership.user if membership else None
    )
    if journey is None:
        journey = journey_create(
            organization=organization,
            actor=actor,
            language=language,
            template=B2B_SALES_AND_SERVICE.slug,
            status="active",
        )
    if journey.owner_id is None:
        journey = journey_assign_owner(
            organization=organization, actor=actor, journey=journey, owner_id=owner.pk
        )
    if journey.status != "active":
        journey = journey_update(
            organization=organization, actor=actor, journey=journey, status="active"
        )
    if not questionnaires_for_journey(organization=organization, journey=journey).exists():
        questionnaire = questionnaire_generate(
            organization=organization, actor=actor, journey=journey
        )
        questionnaire_publish(organization=organization, actor=actor, questionnaire=questionnaire)
    return journey

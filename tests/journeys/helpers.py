"""Shared set-up for journey and questionnaire tests."""

from apps.journeys import services as journey_services
from apps.organizations.models import Membership
from apps.organizations.permissions import Principal


def principal(organization, user) -> Principal:
    membership = Membership.objects.for_organization(organization).get(user=user)
    return Principal.for_membership(membership)


def b2b_journey(organization, user, language: str = "en", **kwargs):
    """The B2B starter journey, created by `user` (who must be allowed to create journeys)."""
    return journey_services.journey_create(
        organization=organization,
        actor=principal(organization, user),
        template="b2b-sales-service",
        language=language,
        **kwargs,
    )

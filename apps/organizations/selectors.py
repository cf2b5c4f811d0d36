"""Reads about organisations and memberships."""

from django.db.models import QuerySet

from apps.accounts.models import User

from .models import Membership, Organization


def membership_for(*, user: User, slug: str) -> Membership | None:
    """The user's membership in the organisation with this slug, or None (also when no such org)."""
    if not user.is_authenticated:
        return None
    return (
        Membership.unscoped.select_related("organization", "user")
        .filter(user=user, organization__slug=slug)
        .first()
    )


def memberships_of(*, user: User) -> QuerySet[Membership]:
    """Every organisation the user belongs to (for the switcher); crosses tenants by design."""
    return (
        Membership.unscoped.select_related("organization")
        .filter(user=user)
        .order_by("organization__name")
    )


def members(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .order_by("user__email")
    )


def owner_count(*, organization: Organization) -> int:
    return Membership.objects.for_organization(organization).filter(role="owner").count()

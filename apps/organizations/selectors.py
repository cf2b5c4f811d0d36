"""Reads about organisations, memberships, invitations and API keys."""

import hashlib

from django.db.models import F, QuerySet

from apps.accounts.models import User
from apps.core.tenancy import token_context, user_context

from .models import ApiKey, Invitation, Membership, Organization


def membership_for(*, user: User, slug: str) -> Membership | None:
    """The user's membership in the organisation with this slug, or None (also when no such org)."""
    if not user.is_authenticated:
        return None
    with user_context(user):  # the user's own memberships are readable in every organisation
        return (
            Membership.unscoped.select_related("organization", "user")
            .filter(user=user, organization__slug=slug)
            .first()
        )


def memberships_of(*, user: User) -> list[Membership]:
    """Every organisation the user belongs to (for the switcher); crosses tenants by design."""
    with user_context(user):
        return list(
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


def member(*, organization: Organization, membership_id: int) -> Membership | None:
    return members(organization=organization).filter(pk=membership_id).first()


def invitations(*, organization: Organization) -> QuerySet[Invitation]:
    """Every invitation of the organisation, newest first (the API lists them all)."""
    return (
        Invitation.objects.for_organization(organization)
        .select_related("invited_by", "accepted_by")
        .order_by("-created_at", "-pk")
    )


def invitations_open(*, organization: Organization) -> QuerySet[Invitation]:
    """Invitations not yet accepted or revoked (expired ones included: they can be resent)."""
    return invitations(organization=organization).filter(
        accepted_at__isnull=True, revoked_at__isnull=True
    )


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation a link points at; the token, not the URL, names the organisation."""
    with token_context("member_invitation", invitation_token_hash(token)) as found:
        if found is None:
            return None
        return (
            Invitation.objects.for_organization(found[1])
            .select_related("organization", "invited_by")
            .filter(pk=found[0])
            .first()
        )


def invitation_token_hash(token: str) -> str:
    """Links carry the token; the database holds only this digest of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_keys(*, organization: Organization) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.for_organization(organization)
        .select_related("created_by")
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at", "-pk")
    )

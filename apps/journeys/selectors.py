"""Reads on journeys: lists, the journey map, and the members who can own things."""

from django.db.models import Prefetch, QuerySet

from apps.organizations.models import Membership, Organization

from .models import Journey, Stage, Touchpoint


def journeys(*, organization: Organization, status: str | None = None) -> QuerySet[Journey]:
    queryset = Journey.objects.for_organization(organization).select_related("owner")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("name", "id")


def journey_get(*, organization: Organization, journey_id: int) -> Journey | None:
    return journeys(organization=organization).filter(pk=journey_id).first()


def journey_map(*, organization: Organization, journey_id: int) -> Journey | None:
    """The journey with its stages and their touchpoints (and owners) in four queries."""
    touchpoints = (
        Touchpoint.objects.for_organization(organization)
        .select_related("owner")
        .order_by("position", "id")
    )
    stages = (
        Stage.objects.for_organization(organization)
        .order_by("position", "id")
        .prefetch_related(Prefetch("touchpoints", queryset=touchpoints))
    )
    return (
        journeys(organization=organization)
        .filter(pk=journey_id)
        .prefetch_related(Prefetch("stages", queryset=stages))
        .first()
    )


def stages(*, organization: Organization, journey_id: int | None = None) -> QuerySet[Stage]:
    queryset = Stage.objects.for_organization(organization).select_related("journey")
    if journey_id is not None:
        queryset = queryset.filter(journey_id=journey_id)
    return queryset.order_by("journey_id", "position", "id")


def touchpoints(
    *, organization: Organization, journey_id: int | None = None
) -> QuerySet[Touchpoint]:
    queryset = Touchpoint.objects.for_organization(organization).select_related(
        "journey", "stage", "owner"
    )
    if journey_id is not None:
        queryset = queryset.filter(journey_id=journey_id)
    return queryset.order_by("journey_id", "stage__position", "position", "id")


def owner_candidates(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )

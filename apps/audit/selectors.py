"""Reading the audit log of one organisation."""

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.organizations.models import Organization

from .models import AuditEntry


def audit_entries(
    *,
    organization: Organization,
    action: str | None = None,
    search: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.for_organization(organization)
    if action:
        entries = entries.filter(action__startswith=action)
    if search:
        entries = entries.filter(
            Q(actor_label__icontains=search)
            | Q(target_label__icontains=search)
            | Q(action__icontains=search)
        )
    if actor:
        entries = entries.filter(actor_label__icontains=actor)
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("-created_at", "-id")


def audit_action_names(*, organization: Organization) -> list[str]:
    """The distinct actions recorded so far: suggestions for the action filter."""
    return list(
        AuditEntry.objects.for_organization(organization)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )

"""Recording audit entries; every service that changes governance data calls `audit_record`."""

from typing import Any

from django.db import models

from apps.organizations.models import Organization
from apps.organizations.permissions import Principal

from .models import AuditEntry


def audit_record(
    *,
    organization: Organization,
    actor: Principal | None,
    action: str,
    target: models.Model | None = None,
    target_label: str = "",
    data: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEntry:
    """Append one entry. Call it inside the service's transaction so both land or neither."""
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor.user if actor is not None else None,
        actor_label=actor.label if actor is not None else "system",
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=target_label or (str(target) if target is not None else ""),
        data=data or {},
        ip_address=ip_address,
    )

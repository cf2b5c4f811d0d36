"""Append-only audit entries: who did what to which object, when and from where."""

from typing import Any

from django.conf import settings
from django.db import models

from apps.core.tenancy import TenantModel, TenantQuerySet


class _AppendOnly:
    def update(self, **kwargs: Any) -> int:
        raise TypeError("Audit entries are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        # Entries go only with their organisation (a cascade does not pass through here).
        raise TypeError("Audit entries are append-only.")


class AuditQuerySet(_AppendOnly, TenantQuerySet):
    pass


class UnscopedAuditQuerySet(_AppendOnly, models.QuerySet):
    """Operators (Django admin) read across organisations, but cannot rewrite history either."""


class AuditEntry(TenantModel):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Who acted, as it read at the time (an email, or an API key's name and prefix).
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = models.Manager.from_queryset(AuditQuerySet)()  # type: ignore[assignment,misc]
    unscoped = models.Manager.from_queryset(UnscopedAuditQuerySet)()  # type: ignore[misc]

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit entries are append-only.")

"""An organisation's retention setting and the record of each retention run."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel

DEFAULT_RETENTION_MONTHS = 24
# "Keep forever" is not offered: every organisation forgets personal data after at most 10 years.
MAX_RETENTION_MONTHS = 120


class PrivacySettings(TenantModel):
    """One row per organisation, created on first change; without it the defaults apply."""

    organization = models.OneToOneField(
        "organizations.Organization", on_delete=models.CASCADE, related_name="privacy_settings"
    )
    retention_months = models.PositiveSmallIntegerField(
        _("keep personal data for (months)"),
        default=DEFAULT_RETENTION_MONTHS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_MONTHS)],
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"privacy settings of {self.organization_id}"


class RetentionRun(TenantModel):
    """One pass of the retention task over an organisation: what it anonymised or deleted."""

    cutoff = models.DateTimeField()
    retention_months = models.PositiveSmallIntegerField()
    # {"contacts_deleted": 3, "invitation_addresses": 10, ...}
    counts = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "-id")

    def __str__(self) -> str:
        return f"retention run {self.pk} of {self.organization_id}"

    @property
    def total(self) -> int:
        return sum(int(v) for v in self.counts.values())

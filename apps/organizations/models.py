"""Organisations (tenants), memberships with roles, member invitations and API keys."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(value)s"), params={"value": value})


class Organization(models.Model):
    """A company using the platform. Scoring settings follow SCORING.md and its defaults."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Helsinki", validators=[validate_time_zone]
    )
    default_language = models.CharField(
        _("default language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    # Scoring settings (SCORING.md): what a new organisation gets is the documented default.
    min_n = models.PositiveSmallIntegerField(
        _("minimum answers per cell"),
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(1000)],
    )
    gap_threshold = models.FloatField(
        _("gap threshold (points)"),
        default=10.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
    )
    alpha = models.FloatField(
        _("significance level"),
        default=0.05,
        validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)],
    )
    employee_anonymity_min = models.PositiveSmallIntegerField(
        _("minimum employees shown"),
        default=5,
        validators=[MinValueValidator(2), MaxValueValidator(100)],
    )
    top_priorities = models.PositiveSmallIntegerField(
        _("number of top priorities"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    ANALYST = "analyst", _("Analyst")
    VIEWER = "viewer", _("Viewer")


class Membership(TenantModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user"),
        ]
        ordering = ("organization_id", "user__email")

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id} as {self.role}"


class Invitation(TenantModel):
    """An invitation to join an organisation; its link carries a token stored here only hashed."""

    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one open invitation per address and organisation.
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.organization_id}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiAccess(models.TextChoices):
    READ_ONLY = "read_only", _("Read only")
    READ_WRITE = "read_write", _("Read and write")


class ApiKey(TenantModel):
    """A machine credential for one organisation: shown once, stored as a hash, revocable.

    The key reads `cx_<prefix>_<secret>`; the prefix is stored in clear so people can tell
    keys apart in lists and logs.
    """

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    access = models.CharField(
        _("access"), max_length=16, choices=ApiAccess.choices, default=ApiAccess.READ_ONLY
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} (cx_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

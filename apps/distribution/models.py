"""Public links to one side of a published questionnaire, and the context they may carry.

A link's token is stored as it is (unique, indexed) rather than hashed: staff must see and
print the link again and again, and the token opens one survey form, never an account. It has
192 random bits, and the public URL carries nothing else (no organisation, no sequential id).
"""

import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel
from apps.surveys.models import Audience


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 24 bytes = 192 bits, 32 URL-safe characters


class LinkStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    CLOSED = "closed", _("Closed")


class SurveyLink(TenantModel):
    questionnaire = models.ForeignKey(
        "surveys.Questionnaire", on_delete=models.RESTRICT, related_name="links"
    )
    audience = models.CharField(_("audience"), max_length=16, choices=Audience.choices)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=LinkStatus.choices, default=LinkStatus.ACTIVE
    )
    ends_at = models.DateTimeField(_("end date"), null=True, blank=True)
    # Segment attributes baked into the link ({"store": "Helsinki"}), from the whitelist.
    context = models.JSONField(_("context"), default=dict, blank=True)
    kiosk = models.BooleanField(_("kiosk mode"), default=False)
    one_response_per_device = models.BooleanField(_("one response per device"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["questionnaire"], name="link_questionnaire")]

    def __str__(self) -> str:
        return self.name

    def is_open(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.status != LinkStatus.ACTIVE:
            return False
        return self.ends_at is None or self.ends_at > now


class ContextAttribute(TenantModel):
    """A segment attribute a questionnaire's links may carry (store, region, channel...).

    The whitelist: a link's context and the URL's query parameters are kept only for names
    listed here, and only with listed values when `allowed_values` is not empty.
    """

    questionnaire = models.ForeignKey(
        "surveys.Questionnaire", on_delete=models.CASCADE, related_name="context_attributes"
    )
    name = models.SlugField(_("name"), max_length=40)
    label = models.CharField(_("label"), max_length=100, blank=True)
    allowed_values = models.JSONField(_("allowed values"), default=list, blank=True)

    class Meta:
        ordering = ("questionnaire_id", "name")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "name"], name="context_attribute_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

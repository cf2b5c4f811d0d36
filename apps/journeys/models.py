"""Journeys: how customers meet a company, as ordered stages holding touchpoints.

Names and descriptions are written in the journey's `language`; `translations` holds the same
texts in other languages ({"fi": {"name": ..., "description": ...}}) so that questionnaires can
be generated in every language the company uses.
"""

from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    ARCHIVED = "archived", _("Archived")


class Channel(models.TextChoices):
    DIGITAL = "digital", _("Digital")
    PHYSICAL = "physical", _("Physical place")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    IN_PERSON = "in_person", _("In person")
    OTHER = "other", _("Other")


class Translatable(models.Model):
    """A name and description in the row's language, and their translations."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def name_in(self, language: str) -> str:
        return self._text_in("name", language)

    def _text_in(self, field: str, language: str) -> str:
        translated: dict[str, Any] = (self.translations or {}).get(language) or {}
        return str(translated.get(field) or getattr(self, field))


class Journey(Translatable, TenantModel):
    language = models.CharField(
        _("language"), max_length=8, default="en", help_text=_("The language of name and texts.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    # Assigned by an admin or owner; may edit the journey whatever their role.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_journeys",
        verbose_name=_("owner"),
    )
    template = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="journey_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def touchpoint_owner_ids(self) -> set[int]:
        """Users owning a touchpoint of this journey (the permissions module reads it)."""
        return set(
            Touchpoint.objects.for_organization(self.organization_id)
            .filter(journey=self, owner__isnull=False)
            .values_list("owner_id", flat=True)
        )


class Stage(Translatable, TenantModel):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("journey_id", "position", "id")
        indexes = [models.Index(fields=["journey", "position"], name="stage_journey_position")]

    def __str__(self) -> str:
        return self.name


class Touchpoint(Translatable, TenantModel):
    # `journey` repeats the stage's journey so that a touchpoint is scoped in one hop.
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="touchpoints")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="touchpoints")
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.DIGITAL
    )
    importance = models.PositiveSmallIntegerField(
        _("importance"), default=3, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_touchpoints",
        verbose_name=_("owner"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Set instead of deleting when answers refer to the touchpoint.
    archived_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("stage__position", "position", "id")
        indexes = [models.Index(fields=["stage", "position"], name="touchpoint_stage_position")]
        constraints = [
            models.CheckConstraint(
                condition=Q(importance__gte=1, importance__lte=5),
                name="touchpoint_importance_1_5",
            ),
        ]

    def __str__(self) -> str:
        return self.name

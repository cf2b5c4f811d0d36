"""Paired questionnaires: one for customers and its mirror for employees, versioned.

A questionnaire belongs to a journey. Its items live in a version; a published version never
changes (editing a published questionnaire opens a new draft version that copies its items), so
an answer stored against an item keeps the exact wording, scale and mapping it answered.

Every item carries what scoring needs to map an answer: `audience`, `touchpoint`, `dimension`,
`scale_lo`..`scale_hi` and a `key` that is stable across versions. The customer item and its
employee twin share the key (and touchpoint, dimension and scale) and differ by audience.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel


class QuestionnaireStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CLOSED = "closed", _("Closed")


class Audience(models.TextChoices):
    CUSTOMER = "customer", _("Customers")
    EMPLOYEE = "employee", _("Employees")


class Dimension(models.TextChoices):
    EFFECTIVENESS = "effectiveness", _("Effectiveness")
    EASE = "ease", _("Ease")
    EMOTION = "emotion", _("Emotion")


class ItemKind(models.TextChoices):
    SCREENING = "screening", _("Screening (did you use it?)")
    RATING = "rating", _("Rating")
    NPS = "nps", _("Likelihood to recommend (0-10)")
    OVERALL = "overall", _("Overall satisfaction")
    COMMENT = "comment", _("Comment")
    SINGLE_CHOICE = "single_choice", _("Single choice")
    MULTIPLE_CHOICE = "multiple_choice", _("Multiple choice")
    TEXT = "text", _("Open text")


SCALED_KINDS = (ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL)
CHOICE_KINDS = (ItemKind.SINGLE_CHOICE, ItemKind.MULTIPLE_CHOICE)
# What people may add by hand; the rest are generated from the journey.
CUSTOM_KINDS = (ItemKind.RATING, ItemKind.SINGLE_CHOICE, ItemKind.MULTIPLE_CHOICE, ItemKind.TEXT)


class Questionnaire(TenantModel):
    journey = models.ForeignKey(
        "journeys.Journey", on_delete=models.RESTRICT, related_name="questionnaires"
    )
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=QuestionnaireStatus.choices,
        default=QuestionnaireStatus.DRAFT,
    )
    # The version respondents get; None until the first publication.
    published_version = models.ForeignKey(
        "QuestionnaireVersion", on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("journey_id", "-created_at", "-id")

    def __str__(self) -> str:
        return self.name


class QuestionnaireVersion(TenantModel):
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    # Languages respondents may choose, the first being the default.
    languages = models.JSONField(default=list)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("questionnaire_id", "number")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "number"], name="version_unique_number"
            ),
            # At most one version is being edited at a time.
            models.UniqueConstraint(
                fields=["organization", "questionnaire"],
                condition=Q(published_at__isnull=True),
                name="version_one_draft",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire_id} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class Item(TenantModel):
    version = models.ForeignKey(
        QuestionnaireVersion, on_delete=models.CASCADE, related_name="items"
    )
    audience = models.CharField(_("audience"), max_length=16, choices=Audience.choices)
    kind = models.CharField(_("kind"), max_length=24, choices=ItemKind.choices)
    # Stable across versions; twins share it: "tp:<touchpoint id>:ease", "nps", "custom:<hex>".
    key = models.CharField(max_length=64)
    # RESTRICT: a touchpoint that items refer to is archived, never deleted from under them.
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="items",
        verbose_name=_("touchpoint"),
    )
    dimension = models.CharField(
        _("dimension"), max_length=16, choices=Dimension.choices, blank=True, default=""
    )
    scale_lo = models.SmallIntegerField(_("scale bottom"), null=True, blank=True)
    scale_hi = models.SmallIntegerField(_("scale top"), null=True, blank=True)
    allow_not_applicable = models.BooleanField(_("offer 'not applicable'"), default=False)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(default=0)
    # {"en": "How easy was it to ...", "fi": "Kuinka helppoa ..."}
    texts = models.JSONField(default=dict)
    # Choice items: [{"value": "a1", "texts": {"en": "...", "fi": "..."}}, ...]
    choices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ("version_id", "audience", "position", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "version", "audience", "key"], name="item_unique_key"
            ),
            models.CheckConstraint(
                condition=Q(scale_lo__isnull=True, scale_hi__isnull=True)
                | Q(scale_hi__gt=F("scale_lo")),
                name="item_scale_top_above_bottom",
            ),
        ]
        indexes = [models.Index(fields=["touchpoint"], name="item_touchpoint")]

    def __str__(self) -> str:
        return f"{self.audience}:{self.key}"

    @property
    def is_mapped(self) -> bool:
        return self.touchpoint_id is not None

    def text_in(self, language: str) -> str:
        return str(self.texts.get(language) or "")

    def scale_points(self) -> list[int]:
        if self.scale_lo is None or self.scale_hi is None:
            return []
        return list(range(self.scale_lo, self.scale_hi + 1))

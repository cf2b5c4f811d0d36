"""Improvement actions on a touchpoint (or one of its dimensions), their baseline and history.

The baseline is the gap report's cell for the touchpoint and dimension over the window before
the action started, copied at creation: later rescoring or new late answers do not move the
reference the team committed to. Progress is read live from the scoring selectors.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel


class ActionStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


# The workflow: planned -> in progress -> done; planned or in progress may be cancelled.
TRANSITIONS: dict[str, frozenset[str]] = {
    ActionStatus.PLANNED: frozenset({ActionStatus.IN_PROGRESS, ActionStatus.CANCELLED}),
    ActionStatus.IN_PROGRESS: frozenset({ActionStatus.DONE, ActionStatus.CANCELLED}),
    ActionStatus.DONE: frozenset(),
    ActionStatus.CANCELLED: frozenset(),
}
OPEN_STATUSES = (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)


class ActionSource(models.TextChoices):
    BLIND_SPOT = "blind_spot", _("Blind spot")
    WEAK_LINK = "weak_link", _("Weak link")
    TOP_PRIORITY = "top_priority", _("Top priority")
    MANUAL = "manual", _("Manual")


class ImprovementAction(TenantModel):
    journey = models.ForeignKey(
        "journeys.Journey", on_delete=models.CASCADE, related_name="improvement_actions"
    )
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint", on_delete=models.CASCADE, related_name="improvement_actions"
    )
    # One of effectiveness, ease, emotion; blank: the touchpoint as a whole.
    dimension = models.CharField(_("dimension"), max_length=16, blank=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="improvement_actions",
        verbose_name=_("owner"),
    )
    due_date = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=16, choices=ActionStatus.choices, default=ActionStatus.PLANNED
    )
    source = models.CharField(
        _("source"), max_length=16, choices=ActionSource.choices, default=ActionSource.MANUAL
    )
    # The organisation's day the action started; progress is measured from it to today.
    started_on = models.DateField()
    # The baseline: the gap report cell over baseline_from..baseline_to (the days before the
    # start). Employee figures withheld for anonymity stay None with `baseline_employee_withheld`.
    baseline_from = models.DateField()
    baseline_to = models.DateField()
    baseline_customer_n = models.PositiveIntegerField(default=0)
    baseline_customer_score = models.FloatField(null=True, blank=True)
    baseline_customer_variance = models.FloatField(null=True, blank=True)
    baseline_employee_n = models.PositiveIntegerField(null=True, blank=True)
    baseline_employee_score = models.FloatField(null=True, blank=True)
    baseline_employee_withheld = models.BooleanField(default=False)
    baseline_gap = models.FloatField(null=True, blank=True)
    baseline_p_value = models.FloatField(null=True, blank=True)
    baseline_classification = models.CharField(max_length=24, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # done or cancelled
    # When the current owner was told the action is theirs (cleared when the owner changes):
    # the email is claimed on this field, so a retried task never sends it twice.
    owner_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("due_date", "id")
        indexes = [
            models.Index(fields=["organization", "status"], name="action_org_status"),
            models.Index(fields=["journey", "status"], name="action_journey_status"),
            models.Index(fields=["owner"], name="action_owner"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ActionEvent(TenantModel):
    """The action's history: created, edited, moved along the workflow, a note."""

    action = models.ForeignKey(ImprovementAction, on_delete=models.CASCADE, related_name="events")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=254, blank=True)
    kind = models.CharField(max_length=16)  # created, updated, status, note
    status_from = models.CharField(max_length=16, blank=True)
    status_to = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [models.Index(fields=["action", "created_at"], name="actionevent_action_time")]

    def __str__(self) -> str:
        return f"{self.kind} {self.action_id}"

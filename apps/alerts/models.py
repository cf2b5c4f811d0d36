"""Alerts for unhappy customers: one per customer response that trips a journey's rules.

The processing worker raises them (apps/scoring calls `alerts_raise_for_responses` inside its
batch transaction); the unique (organization, response) constraint makes raising idempotent.
Each alert walks new -> in progress -> resolved; the SLA for the first action is per journey.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel

DEFAULT_SLA_HOURS = 24
NPS_DETRACTOR_MAX = 6  # SCORING.md section 3: detractors answer 0-6


class AlertStatus(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")


class AlertOutcome(models.TextChoices):
    RECOVERED = "recovered", _("Recovered")
    NOT_RECOVERED = "not_recovered", _("Not recovered")
    COULD_NOT_REACH = "could_not_reach", _("Could not reach")


class TriggerKind(models.TextChoices):
    RATING = "rating", _("Touchpoint rating")
    NPS = "nps", _("NPS detractor")
    OVERALL = "overall", _("Overall satisfaction")
    KEYWORD = "keyword", _("Keyword in a comment")


class NotificationMode(models.TextChoices):
    IMMEDIATE = "immediate", _("Immediately, one email per alert")
    DIGEST = "digest", _("Once a day, a digest")


class AlertRuleSet(TenantModel):
    """A journey's alert rules. A journey without a row uses the defaults (every rule on)."""

    journey = models.OneToOneField(
        "journeys.Journey", on_delete=models.CASCADE, related_name="alert_rules"
    )
    enabled = models.BooleanField(_("alerts on"), default=True)
    rating_enabled = models.BooleanField(_("low touchpoint ratings"), default=True)
    # Raw scale values: an answer at or below the threshold trips the rule. None: bottom box
    # (SCORING.md section 3: the two lowest points, one for scales of fewer than 5 points).
    rating_threshold = models.SmallIntegerField(
        _("touchpoint rating threshold"), null=True, blank=True
    )
    nps_enabled = models.BooleanField(_("NPS detractors"), default=True)
    nps_threshold = models.SmallIntegerField(_("NPS threshold"), default=NPS_DETRACTOR_MAX)
    overall_enabled = models.BooleanField(_("low overall satisfaction"), default=True)
    overall_threshold = models.SmallIntegerField(
        _("overall satisfaction threshold"), null=True, blank=True
    )
    # Case-insensitive words or phrases; a comment containing one trips the rule.
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    sla_hours = models.PositiveSmallIntegerField(
        _("hours to first action"), default=DEFAULT_SLA_HOURS
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sla_hours__gte=1), name="alert_rules_sla_positive")
        ]

    def __str__(self) -> str:
        return f"alert rules of journey {self.journey_id}"


class Alert(TenantModel):
    # Every index is written for every alert raised (a busy batch raises thousands). The
    # organisation, journey and assignee columns have no single-column index: the composite
    # indexes below start with them and serve their lookups and the deletes' cascades
    # (organisation: alert_one_per_response and alert_status_due; journey: alert_journey_status;
    # assignee: alert_assignee_status). The response keeps its own (a deleted response's alert
    # is found by response alone), the touchpoint too (no composite starts with it).
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    response = models.ForeignKey(
        "responses.Response", on_delete=models.CASCADE, related_name="alerts"
    )
    journey = models.ForeignKey(
        "journeys.Journey", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The lowest-scoring touchpoint among those that tripped a rule (None: only NPS, overall
    # or keywords did).
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # [{"kind": "rating", "touchpoint": 3, "dimension": "ease", "value": 1, "lo": 1, "hi": 5},
    #  {"kind": "nps", "value": 2, ...}, {"kind": "keyword", "keyword": "huono"}]
    triggers = models.JSONField(default=list)
    status = models.CharField(
        _("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.NEW
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
        db_index=False,
    )
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=AlertOutcome.choices, blank=True
    )
    resolution_note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()  # the SLA: the first action is due by then
    escalate_at = models.DateTimeField()  # one more SLA period: the journey owner is told
    first_action_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When the assignee was told (an email, or a digest); reset by a reassignment.
    notified_at = models.DateTimeField(null=True, blank=True)
    # The SLA's two stages, each sent once: the reminder to the assignee when overdue, the
    # escalation to the journey owner one more SLA period later.
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "response"], name="alert_one_per_response"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "due_at"], name="alert_status_due"),
            models.Index(fields=["assignee", "status"], name="alert_assignee_status"),
            models.Index(fields=["journey", "status"], name="alert_journey_status"),
        ]

    def __str__(self) -> str:
        return f"alert {self.pk} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status != AlertStatus.RESOLVED

    def is_overdue(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.first_action_at is None and self.is_open and self.due_at < now


class AlertEvent(TenantModel):
    """The alert's own history, shown on its page (the audit log keeps the same facts)."""

    # No single-column index: alert_event_alert (alert, created_at) starts with it.
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=32)  # status, assigned, reminded, escalated
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("alert_id", "created_at", "id")
        indexes = [models.Index(fields=["alert", "created_at"], name="alert_event_alert")]

    def __str__(self) -> str:
        return f"{self.kind} on alert {self.alert_id}"


class AlertNotificationPreference(TenantModel):
    """How one member of one organisation hears about alerts assigned to them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(
        _("alert emails"),
        max_length=16,
        choices=NotificationMode.choices,
        default=NotificationMode.IMMEDIATE,
    )
    # The organisation's local day of the last digest: one digest a day whatever ticks race.
    digest_sent_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="alert_pref_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.mode}"

"""Report files (gap-report PDFs, exports), report schedules, their recipients and deliveries.

Files are stored in the database rather than on a disk: a worker on one host renders what the
web process on another serves, and nothing may assume a shared file system (DESIGN.md). They are
small (a PDF of a few hundred kB, an export of a few MB) and expire after a week.

Download and unsubscribe tokens are stored as they are (unique, indexed), like survey links:
the page that shows a file's progress must show its link again, and a token opens one file for
a member who is signed in and allowed to see it, or removes one address from one schedule.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel

FILE_VALIDITY = timedelta(days=7)


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


def file_expiry() -> datetime:
    return timezone.now() + FILE_VALIDITY


class FileKind(models.TextChoices):
    GAP_REPORT_PDF = "gap_report_pdf", _("Gap report (PDF)")
    RESPONSES_CSV = "responses_csv", _("Responses (CSV)")
    RESPONSES_XLSX = "responses_xlsx", _("Responses (Excel)")
    SCORES_CSV = "scores_csv", _("Scores (CSV)")
    SCORES_XLSX = "scores_xlsx", _("Scores (Excel)")


class FileStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("In progress")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ReportFile(TenantModel):
    """One generated file: requested, rendered by a worker with progress, downloaded by token."""

    journey = models.ForeignKey("journeys.Journey", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=24, choices=FileKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=FileStatus.choices, default=FileStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    # {"filters": {query params}, "language": "fi", "period": "..."}
    parameters = models.JSONField(default=dict, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    filename = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    content = models.BinaryField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the worker last started or reported progress: a running file silent for long was
    # left by a stopped worker (report_files_fail_stale).
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(default=file_expiry)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["journey", "created_at"], name="reportfile_journey_created"),
            models.Index(fields=["expires_at"], name="reportfile_expires"),
        ]

    def __str__(self) -> str:
        return self.filename or f"{self.kind} {self.pk}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_downloadable(self) -> bool:
        return self.status == FileStatus.READY and not self.is_expired


class Frequency(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class Period(models.TextChoices):
    LAST_7_DAYS = "last_7_days", _("Last 7 days")
    LAST_30_DAYS = "last_30_days", _("Last 30 days")
    PREVIOUS_MONTH = "previous_month", _("Previous calendar month")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class ReportSchedule(TenantModel):
    """A journey's gap report, emailed as a PDF every week or month at an hour of a time zone."""

    journey = models.ForeignKey(
        "journeys.Journey", on_delete=models.CASCADE, related_name="report_schedules"
    )
    name = models.CharField(_("name"), max_length=200)
    frequency = models.CharField(_("frequency"), max_length=16, choices=Frequency.choices)
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), choices=Weekday.choices, null=True, blank=True
    )
    # 29-31 fall on the month's last day in shorter months.
    day_of_month = models.PositiveSmallIntegerField(_("day of month"), null=True, blank=True)
    hour = models.PositiveSmallIntegerField(_("hour"))
    time_zone = models.CharField(_("time zone"), max_length=64)
    period = models.CharField(_("period covered"), max_length=24, choices=Period.choices)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    # The report filter as query parameters ({"questionnaire": "3", "attr.store": ["Tampere"]}).
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("journey_id", "name", "id")
        indexes = [
            models.Index(fields=["next_due_at"], condition=Q(is_active=True), name="schedule_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(hour__lte=23), name="schedule_hour_0_23"),
            models.CheckConstraint(
                condition=Q(frequency="weekly", weekday__isnull=False, weekday__lte=6)
                | Q(frequency="monthly", day_of_month__gte=1, day_of_month__lte=31),
                name="schedule_day_fits_frequency",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduleRecipient(TenantModel):
    """A member or an outside address receiving a schedule's reports; each has their own
    unsubscribe link. An unsubscribed row is kept so that the address is not added back."""

    schedule = models.ForeignKey(
        ReportSchedule, on_delete=models.CASCADE, related_name="recipients"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    email = models.EmailField(_("email address"))
    unsubscribe_token = models.CharField(
        max_length=64, unique=True, default=new_token, editable=False
    )
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("schedule_id", "email")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "schedule", "email"], name="schedule_recipient_unique"
            )
        ]

    def __str__(self) -> str:
        return self.email


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RENDERING = "rendering", _("Rendering")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # A worker stopped while the mail server had the message: it may or may not have gone.
    UNCERTAIN = "uncertain", _("Uncertain")


ACTIVE_DELIVERY_STATUSES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.RENDERING,
    DeliveryStatus.SENDING,
)


class Trigger(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    MANUAL = "manual", _("Sent now")


class ReportDelivery(TenantModel):
    """One sending of a schedule's report for one due time: created once per (schedule, due
    time) whatever the number of beat ticks racing for it."""

    schedule = models.ForeignKey(
        ReportSchedule, on_delete=models.CASCADE, related_name="deliveries"
    )
    due_at = models.DateTimeField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULED)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    period_start = models.DateField()
    period_end = models.DateField()
    language = models.CharField(max_length=8)
    filters = models.JSONField(default=dict, blank=True)
    pdf = models.ForeignKey(
        ReportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # A worker holds the delivery until then; past it the beat tick queues it again.
    lease_until = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-due_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "schedule", "due_at"], name="delivery_once_per_due_time"
            )
        ]
        indexes = [
            models.Index(
                fields=["lease_until"],
                condition=Q(status__in=["pending", "rendering", "sending"]),
                name="delivery_active_lease",
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of schedule {self.schedule_id} due {self.due_at:%Y-%m-%d %H:%M}"


class DeliveryRecipient(TenantModel):
    """One message of a delivery: one address, its own status, error and attempts."""

    delivery = models.ForeignKey(
        ReportDelivery, on_delete=models.CASCADE, related_name="recipients"
    )
    recipient = models.ForeignKey(
        ScheduleRecipient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    email = models.EmailField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("delivery_id", "email")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "delivery", "email"], name="delivery_recipient_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email}: {self.status}"

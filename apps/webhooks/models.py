"""Webhook endpoints of an organisation, the events emitted to them and every delivery attempt.

An event is stored once with the exact body that is signed and sent; each subscribed endpoint
gets one delivery row, and each try of that delivery leaves an attempt row (the log people read).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel


class EventType(models.TextChoices):
    RESPONSE_SUBMITTED = "response.submitted", _("A response was submitted")
    ALERT_CREATED = "alert.created", _("An alert was created")
    REPORT_DELIVERED = "report.delivered", _("A scheduled report was delivered")


# Sent only by the "send test event" button, to one endpoint, whatever it subscribes to.
TEST_EVENT = "webhook.test"


class DisabledReason(models.TextChoices):
    NONE = "", _("Active")
    MANUAL = "manual", _("Disabled by a person")
    FAILURES = "failures", _("Disabled after repeated failures")


class WebhookEndpoint(TenantModel):
    url = models.CharField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    # Signs every delivery: kept server-side, shown to people once (on creation and rotation).
    secret = models.CharField(max_length=100)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # Deliveries that failed for good in a row; a success starts it again from zero.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(
        max_length=16, choices=DisabledReason.choices, default=DisabledReason.NONE, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("created_at", "id")
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url


class WebhookEvent(TenantModel):
    """One event as sent: `id` is the envelope's id and the X-CX-Webhook-Id header."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    body = models.TextField()  # the JSON envelope, byte for byte what is signed and posted
    created_at = models.DateTimeField()

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Not sent: endpoint disabled")


class WebhookDelivery(TenantModel):
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due (a lost retry message is requeued by the sweeper after it).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker is posting until then: nobody else takes the delivery meanwhile.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "endpoint", "event"], name="webhook_delivery_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to endpoint {self.endpoint_id}"


class WebhookAttempt(TenantModel):
    """One POST of a delivery (or one refusal to post it): the delivery log."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_body = models.TextField(blank=True)  # the first RESPONSE_BODY_LIMIT characters
    error = models.CharField(max_length=500, blank=True)
    # Seconds until the next attempt was scheduled (None: delivered, or no attempt left).
    retry_in = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("delivery_id", "number", "id")

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

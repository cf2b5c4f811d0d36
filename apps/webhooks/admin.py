"""Operator admin for webhooks: read-only (changes go through the product, where they are
audited); the signing secret is never shown."""

from django.contrib import admin
from django.http import HttpRequest

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnlyAdmin):
    list_display = ("url", "organization", "is_active", "consecutive_failures", "created_at")
    list_filter = ("is_active", "disabled_reason")
    search_fields = ("url", "organization__slug")
    list_select_related = ("organization",)
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnlyAdmin):
    list_display = ("id", "organization", "endpoint", "status", "attempts", "created_at")
    list_filter = ("status",)
    list_select_related = ("organization", "endpoint")
    raw_id_fields = ("endpoint", "event")


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(_ReadOnlyAdmin):
    list_display = ("delivery", "number", "status_code", "duration_ms", "started_at")
    raw_id_fields = ("delivery",)

"""Operator views of alerts and their rules (Django admin crosses organisations by design)."""

from django.contrib import admin

from .models import Alert, AlertEvent, AlertNotificationPreference, AlertRuleSet


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "organization",
        "journey",
        "touchpoint",
        "status",
        "assignee",
        "created_at",
        "due_at",
    )
    list_filter = ("status", "outcome")
    raw_id_fields = ("response", "journey", "touchpoint", "assignee")


@admin.register(AlertRuleSet)
class AlertRuleSetAdmin(admin.ModelAdmin):
    list_display = ("journey", "organization", "enabled", "sla_hours", "updated_at")
    raw_id_fields = ("journey",)


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = ("alert", "kind", "actor_label", "created_at")
    raw_id_fields = ("alert", "actor")


@admin.register(AlertNotificationPreference)
class AlertNotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "mode", "digest_sent_on")
    raw_id_fields = ("user",)

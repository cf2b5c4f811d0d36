"""Operator views of journeys (Django admin crosses organisations by design)."""

from django.contrib import admin

from .models import Journey, Stage, Touchpoint


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "status", "owner", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "organization__slug")
    raw_id_fields = ("organization", "owner")


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("name", "journey", "position")
    raw_id_fields = ("organization", "journey")


@admin.register(Touchpoint)
class TouchpointAdmin(admin.ModelAdmin):
    list_display = ("name", "journey", "stage", "channel", "importance", "is_active")
    list_filter = ("channel", "is_active")
    raw_id_fields = ("organization", "journey", "stage", "owner")

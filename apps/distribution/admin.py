"""Operator views of links (Django admin crosses organisations by design)."""

from django.contrib import admin

from .models import ContextAttribute, SurveyLink


@admin.register(SurveyLink)
class SurveyLinkAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "audience", "status", "kiosk", "created_at")
    list_filter = ("status", "audience", "kiosk")
    readonly_fields = ("token",)


@admin.register(ContextAttribute)
class ContextAttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "questionnaire", "organization")

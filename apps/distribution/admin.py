"""Operator views of links and email distribution (Django admin crosses organisations by
design)."""

from django.contrib import admin

from .models import (
    Campaign,
    ContactImport,
    ContactList,
    ContextAttribute,
    Suppression,
    SurveyInvitation,
    SurveyLink,
)


@admin.register(SurveyLink)
class SurveyLinkAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "audience", "status", "kiosk", "created_at")
    list_filter = ("status", "audience", "kiosk")
    readonly_fields = ("token",)


@admin.register(ContextAttribute)
class ContextAttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "questionnaire", "organization")


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "audience", "created_at")


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = ("file_name", "organization", "status", "total_rows", "rejected_rows")
    list_filter = ("status",)
    exclude = ("content",)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "audience", "status", "started_at")
    list_filter = ("status", "audience")


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "campaign", "status", "sent_count", "last_sent_at")
    list_filter = ("status",)
    readonly_fields = ("token",)
    raw_id_fields = ("campaign", "contact", "response")


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "reason", "created_at")
    list_filter = ("reason",)

"""Operator views of questionnaires (Django admin crosses organisations by design)."""

from django.contrib import admin

from .models import Item, Questionnaire, QuestionnaireVersion


@admin.register(Questionnaire)
class QuestionnaireAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "journey", "status", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("organization", "journey", "published_version")


@admin.register(QuestionnaireVersion)
class QuestionnaireVersionAdmin(admin.ModelAdmin):
    list_display = ("questionnaire", "number", "published_at")
    raw_id_fields = ("organization", "questionnaire")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("key", "audience", "kind", "dimension", "version")
    list_filter = ("audience", "kind", "dimension")
    raw_id_fields = ("organization", "version", "touchpoint")

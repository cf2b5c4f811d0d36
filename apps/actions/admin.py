"""Operator views of improvement actions (Django admin crosses organisations by design)."""

from django.contrib import admin

from .models import ActionEvent, ImprovementAction


@admin.register(ImprovementAction)
class ImprovementActionAdmin(admin.ModelAdmin):
    list_display = ("title", "organization", "journey", "touchpoint", "status", "due_date")
    list_filter = ("status", "source")
    search_fields = ("title", "organization__slug")
    raw_id_fields = ("organization", "journey", "touchpoint", "owner", "created_by")


@admin.register(ActionEvent)
class ActionEventAdmin(admin.ModelAdmin):
    list_display = ("action", "kind", "status_from", "status_to", "author_label", "created_at")
    raw_id_fields = ("organization", "action", "author")

"""Operator views of responses (read-only: a response is never edited)."""

from django.contrib import admin

from .models import Response


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "organization",
        "questionnaire",
        "audience",
        "submitted_on",
        "processed_at",
    )
    list_filter = ("audience", "submitted_on")
    readonly_fields = [f.name for f in Response._meta.fields]

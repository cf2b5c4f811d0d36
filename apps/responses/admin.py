"""Operator views of responses (read-only: a response is never edited)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Response


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "organization",
        "questionnaire",
        "audience",
        "submitted_on",
        "processed",
    )
    list_filter = ("audience", "submitted_on")
    list_select_related = ("pending",)
    readonly_fields = [f.name for f in Response._meta.fields]

    @admin.display(boolean=True, description=_("processed"))
    def processed(self, response: Response) -> bool:
        """Counted by the scoring pipeline: no pending row left."""
        return not hasattr(response, "pending")

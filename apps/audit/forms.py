"""The audit log's filters, shared by the web page (a GET form) and the API (query parameters)."""

import datetime
import zoneinfo
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.organizations.models import Organization


class DateInput(forms.DateInput):
    input_type = "date"


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=64,
        help_text=_("The start of an action name, e.g. api_key or member."),
    )
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Part of who acted or of what they acted on."),
    )
    actor = forms.CharField(
        label=_("Actor"),
        required=False,
        max_length=254,
        help_text=_("Part of the email address or API key name of who acted."),
    )
    since = forms.DateField(label=_("From"), required=False, widget=DateInput)
    until = forms.DateField(label=_("To"), required=False, widget=DateInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date is before the start date."))
        return cleaned

    def selection(self, organization: Organization) -> dict[str, Any]:
        """Keyword arguments for `audit_entries`: whole days in the organisation's time zone."""
        zone = zoneinfo.ZoneInfo(organization.time_zone)
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return {
            "action": self.cleaned_data.get("action", "").strip(),
            "search": self.cleaned_data.get("q", "").strip(),
            "actor": self.cleaned_data.get("actor", "").strip(),
            "since": _start_of(since, zone) if since else None,
            "until": _start_of(until + datetime.timedelta(days=1), zone) if until else None,
        }


def _start_of(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)

"""Forms for schedules and for asking for a report or an export; the services validate, these
only parse (a service's field errors land on the field of the same name)."""

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.scoring.filters import ATTRIBUTE_PREFIX

from .models import Frequency, Period, Weekday

ATTRIBUTES_HELP = _("One per line, such as store=Helsinki; repeat a name for several values.")


def parse_attributes(text: str) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise forms.ValidationError(_("Write each line as name=value."))
        attributes.setdefault(name.strip(), []).append(value.strip())
    return attributes


def attributes_text(filters: dict[str, Any]) -> str:
    lines = []
    for key, values in sorted((filters or {}).items()):
        if key.startswith(ATTRIBUTE_PREFIX):
            for value in values if isinstance(values, list) else [values]:
                lines.append(f"{key[len(ATTRIBUTE_PREFIX) :]}={value}")
    return "\n".join(lines)


class _FilterFields(forms.Form):
    questionnaire = forms.TypedChoiceField(
        label=_("Questionnaire"), required=False, coerce=str, empty_value=""
    )
    attributes = forms.CharField(
        label=_("Segment attributes"),
        required=False,
        help_text=ATTRIBUTES_HELP,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self, *args: Any, questionnaires: list[tuple[int, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["questionnaire"].choices = [("", _("All questionnaires"))] + [  # type: ignore[attr-defined]
            (str(pk), name) for pk, name in questionnaires or []
        ]

    def clean_attributes(self) -> dict[str, list[str]]:
        return parse_attributes(self.cleaned_data.get("attributes") or "")

    def filter_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.cleaned_data.get("questionnaire"):
            params["questionnaire"] = self.cleaned_data["questionnaire"]
        for name, values in (self.cleaned_data.get("attributes") or {}).items():
            params[ATTRIBUTE_PREFIX + name] = values
        return params


LANGUAGE_CHOICES = [(code, name) for code, name in settings.LANGUAGES]


class ReportRequestForm(_FilterFields):
    """A gap-report PDF or an export, for days from-to."""

    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    language = forms.ChoiceField(label=_("Language of the report"), choices=LANGUAGE_CHOICES)

    field_order = ["date_from", "date_to", "questionnaire", "attributes", "language"]

    def filter_params(self) -> dict[str, Any]:
        params = super().filter_params()
        if self.cleaned_data.get("date_from"):
            params["from"] = self.cleaned_data["date_from"].isoformat()
        if self.cleaned_data.get("date_to"):
            params["to"] = self.cleaned_data["date_to"].isoformat()
        return params


class ScheduleForm(_FilterFields):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    frequency = forms.ChoiceField(label=_("How often"), choices=Frequency.choices)
    weekday = forms.TypedChoiceField(
        label=_("Day of the week (weekly)"),
        choices=Weekday.choices,
        coerce=int,
        required=False,
        empty_value=None,
    )
    day_of_month = forms.CharField(
        label=_("Day of the month (monthly)"),
        required=False,
        help_text=_("1-31; the 29th-31st fall on the last day of shorter months."),
        widget=forms.NumberInput(attrs={"min": 1, "max": 31}),
    )
    hour = forms.CharField(
        label=_("Hour"),
        help_text=_("0-23, on the clock of the time zone below."),
        widget=forms.NumberInput(attrs={"min": 0, "max": 23}),
    )
    time_zone = forms.CharField(label=_("Time zone"), max_length=64)
    period = forms.ChoiceField(label=_("Period covered"), choices=Period.choices)
    language = forms.ChoiceField(label=_("Language of the report"), choices=LANGUAGE_CHOICES)
    recipients = forms.CharField(
        label=_("Recipients"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Email addresses of members or of anyone else, one per line."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    field_order = [
        "name",
        "frequency",
        "weekday",
        "day_of_month",
        "hour",
        "time_zone",
        "period",
        "language",
        "questionnaire",
        "attributes",
        "recipients",
        "is_active",
    ]

    def service_data(self) -> dict[str, Any]:
        data = {
            key: self.cleaned_data.get(key)
            for key in (
                "name",
                "frequency",
                "weekday",
                "day_of_month",
                "hour",
                "time_zone",
                "period",
                "language",
                "recipients",
                "is_active",
            )
        }
        data["filters"] = self.filter_params()
        return data


def schedule_initial(schedule: Any) -> dict[str, Any]:
    filters = schedule.filters or {}
    return {
        "name": schedule.name,
        "frequency": schedule.frequency,
        "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month,
        "hour": schedule.hour,
        "time_zone": schedule.time_zone,
        "period": schedule.period,
        "language": schedule.language,
        "questionnaire": filters.get("questionnaire", ""),
        "attributes": attributes_text(filters),
        "is_active": schedule.is_active,
        "recipients": "\n".join(
            r.email for r in schedule.recipients.all() if r.unsubscribed_at is None
        ),
    }

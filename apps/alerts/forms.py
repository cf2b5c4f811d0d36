"""Alert forms: the inbox filters, working an alert, a journey's rules, the email preference."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import AlertOutcome, AlertStatus, NotificationMode


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any")), ("open", _("Open")), *AlertStatus.choices],
    )
    journey = forms.ChoiceField(label=_("Journey"), required=False)
    touchpoint = forms.ChoiceField(label=_("Touchpoint"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    overdue = forms.ChoiceField(
        label=_("Overdue"),
        required=False,
        choices=[("", _("Any")), ("true", _("Overdue only")), ("false", _("Not overdue"))],
    )

    def __init__(
        self, *args: Any, journeys: list, touchpoints: list, members: list, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["journey"].choices = [("", _("Any")), *[(j.pk, j.name) for j in journeys]]
        self.fields["touchpoint"].choices = [
            ("", _("Any")),
            *[(t.pk, f"{t.journey.name}: {t.name}") for t in touchpoints],
        ]
        self.fields["assignee"].choices = [
            ("", _("Anyone")),
            ("me", _("Me")),
            ("none", _("Unassigned")),
            *[(m.user_id, m.user.full_name or m.user.email) for m in members],
        ]


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=AlertOutcome.choices)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was done, and what the customer said."),
    )


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)

    def __init__(self, *args: Any, members: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The service refuses non-members; the list only offers members.
        self.fields["assignee"].choices = [
            ("", _("Nobody")),
            *[(m.user_id, m.user.full_name or m.user.email) for m in members],
        ]


class RulesForm(forms.Form):
    enabled = forms.BooleanField(label=_("Raise alerts for this journey"), required=False)
    rating_enabled = forms.BooleanField(label=_("Low touchpoint ratings"), required=False)
    rating_threshold = forms.CharField(
        label=_("Touchpoint rating threshold"),
        required=False,
        help_text=_(
            "An answer at or below this value raises an alert. Empty: the bottom box "
            "(the two lowest points of the scale)."
        ),
    )
    nps_enabled = forms.BooleanField(label=_("NPS detractors"), required=False)
    nps_threshold = forms.CharField(
        label=_("NPS threshold"), help_text=_("0-10; detractors answer 0-6.")
    )
    overall_enabled = forms.BooleanField(label=_("Low overall satisfaction"), required=False)
    overall_threshold = forms.CharField(
        label=_("Overall satisfaction threshold"),
        required=False,
        help_text=_("Empty: the bottom box."),
    )
    keywords = forms.CharField(
        label=_("Keywords in comments"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Separated by commas; upper or lower case alike, e.g. angry, cancel, huono."),
    )
    sla_hours = forms.CharField(
        label=_("Hours to first action"),
        help_text=_("After this the assignee is reminded; after twice this the journey owner."),
    )

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values: dict[str, Any] = {
            name: bool(data.get(name))
            for name in ("enabled", "rating_enabled", "nps_enabled", "overall_enabled")
        }
        for name in ("rating_threshold", "overall_threshold", "nps_threshold", "sla_hours"):
            values[name] = (data.get(name) or "").strip() or None
        values["keywords"] = data.get("keywords") or ""
        return values


class PreferenceForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("Alert emails"), choices=NotificationMode.choices, widget=forms.RadioSelect
    )

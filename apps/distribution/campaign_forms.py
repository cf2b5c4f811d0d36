"""Forms for campaigns: the first step (what and to whom), the details, sending and testing."""

from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Campaign


class CampaignCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    questionnaire = forms.TypedChoiceField(label=_("Questionnaire"), coerce=int)
    contact_list = forms.TypedChoiceField(
        label=_("Contact list"), coerce=int,
        help_text=_("The list decides the side: customers answer the customer questionnaire, "
                    "employees its mirror."),
    )  # fmt: skip

    def __init__(
        self,
        *args: Any,
        questionnaires: list[tuple[int, str]],
        lists: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["questionnaire"]).choices = [
            ("", "---------"),
            *questionnaires,
        ]
        cast(forms.ChoiceField, self.fields["contact_list"]).choices = [("", "---------"), *lists]


class CampaignEditForm(forms.Form):
    """Name, filter (one field per attribute of the list), messages per language, reminders."""

    name = forms.CharField(label=_("Name"), max_length=200)
    default_language = forms.ChoiceField(
        label=_("Default language"), choices=settings.LANGUAGES,
        help_text=_("For people whose language is not known or has no message."),
    )  # fmt: skip
    reminder_after_days = forms.IntegerField(
        label=_("Remind after (days)"), required=False, min_value=1, max_value=60
    )
    reminder_max = forms.IntegerField(
        label=_("Reminders at most"), required=False, min_value=0, max_value=5, initial=0,
        help_text=_("Only people who have not answered are reminded."),
    )  # fmt: skip

    def __init__(
        self, *args: Any, attributes: list[str], draft: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.attributes = attributes if draft else []
        self.draft = draft
        for name in self.attributes:
            self.fields[f"filter_{name}"] = forms.CharField(
                label=_("Only %(name)s") % {"name": name}, required=False,
                help_text=_("Values separated by commas; empty: everyone."),
            )  # fmt: skip
        if draft:
            for code, language in settings.LANGUAGES:
                self.fields[f"subject_{code}"] = forms.CharField(
                    label=_("Subject (%(language)s)") % {"language": language},
                    required=False, max_length=200,
                )  # fmt: skip
                self.fields[f"body_{code}"] = forms.CharField(
                    label=_("Message (%(language)s)") % {"language": language},
                    required=False, widget=forms.Textarea(attrs={"rows": 9}),
                )  # fmt: skip
        else:
            del self.fields["default_language"]

    def _bound(self, names: list[str]) -> list[Any]:
        return [self[name] for name in names if name in self.fields]

    def filter_fields(self) -> list[Any]:
        return self._bound([f"filter_{name}" for name in self.attributes])

    def message_fields(self) -> list[Any]:
        names = ["default_language"]
        for code, _language in settings.LANGUAGES:
            names += [f"subject_{code}", f"body_{code}"]
        return self._bound(names)

    def reminder_fields(self) -> list[Any]:
        return self._bound(["reminder_after_days", "reminder_max"])

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes: dict[str, Any] = {
            "name": data["name"],
            "reminder_after_days": data.get("reminder_after_days"),
            "reminder_max": data.get("reminder_max") or 0,
        }
        if self.draft:
            changes["default_language"] = data["default_language"]
            changes["filters"] = {
                name: [v.strip() for v in (data.get(f"filter_{name}") or "").split(",")
                       if v.strip()]
                for name in self.attributes
                if (data.get(f"filter_{name}") or "").strip()
            }  # fmt: skip
            codes = [code for code, _name in settings.LANGUAGES]
            changes["subjects"] = {c: data.get(f"subject_{c}") or "" for c in codes}
            changes["bodies"] = {c: data.get(f"body_{c}") or "" for c in codes}
        return changes


def edit_initial(campaign: Campaign) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "name": campaign.name, "default_language": campaign.default_language,
        "reminder_after_days": campaign.reminder_after_days,
        "reminder_max": campaign.reminder_max,
    }  # fmt: skip
    for name, values in (campaign.filters or {}).items():
        initial[f"filter_{name}"] = ", ".join(values)
    for code, _language in settings.LANGUAGES:
        initial[f"subject_{code}"] = campaign.subjects.get(code, "")
        initial[f"body_{code}"] = campaign.bodies.get(code, "")
    return initial


class SendForm(forms.Form):
    when = forms.ChoiceField(
        label=_("When"), choices=[("now", _("Now")), ("later", _("At a set time"))],
        widget=forms.RadioSelect, initial="now",
    )  # fmt: skip
    send_at = forms.DateTimeField(
        label=_("Send at"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("In the organisation's time zone."),
    )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("when") == "later" and not data.get("send_at"):
            self.add_error("send_at", _("Choose the time."))
        return data


class TestForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

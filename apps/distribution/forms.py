"""Forms for creating and changing links; the services validate, these only parse."""

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.surveys.models import Audience

from .services import FOCUS_KEY, link_attributes

CONTEXT_HELP = _("One attribute per line, such as store=Helsinki.")


def parse_context(text: str) -> dict[str, str]:
    context = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise forms.ValidationError(_("Write each line as name=value."))
        context[name.strip()] = value.strip()
    return context


class LinkForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    ends_at = forms.DateTimeField(
        label=_("End date"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    context = forms.CharField(
        label=_("Context"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=CONTEXT_HELP,
    )  # fmt: skip
    kiosk = forms.BooleanField(
        label=_("Kiosk mode (the form resets for the next person)"), required=False
    )
    one_response_per_device = forms.BooleanField(label=_("One response per device"), required=False)
    touchpoint = forms.TypedChoiceField(
        label=_("Touchpoint in focus"), required=False, coerce=int, empty_value=None,
        help_text=_("Asked first and already marked as used; each response records it."),
    )  # fmt: skip

    def __init__(self, *args: Any, touchpoints: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["touchpoint"].choices = [  # type: ignore[attr-defined]
            ("", _("None")),
            *((tp.pk, tp.name) for tp in touchpoints),
        ]

    def clean_context(self) -> dict[str, str]:
        return parse_context(self.cleaned_data.get("context") or "")


class LinkCreateForm(LinkForm):
    audience = forms.ChoiceField(label=_("Who answers"), choices=Audience.choices)

    field_order = [
        "audience", "name", "ends_at", "context", "touchpoint", "kiosk", "one_response_per_device",
    ]  # fmt: skip


def initial_for(link: Any) -> dict[str, Any]:
    return {
        "name": link.name, "ends_at": link.ends_at, "kiosk": link.kiosk,
        "one_response_per_device": link.one_response_per_device,
        "context": "\n".join(f"{k}={v}" for k, v in link_attributes(link.context).items()),
        "touchpoint": link.context.get(FOCUS_KEY),
    }  # fmt: skip


class ContextAttributeForm(forms.Form):
    name = forms.CharField(label=_("Attribute"), max_length=40, help_text=_("Such as store."))
    label = forms.CharField(label=_("Label"), max_length=100, required=False)
    allowed_values = forms.CharField(
        label=_("Allowed values"), required=False,
        help_text=_("Separated by commas; leave empty to allow any value."),
    )  # fmt: skip

    def clean_allowed_values(self) -> list[str]:
        text = self.cleaned_data.get("allowed_values") or ""
        return [value.strip() for value in text.split(",") if value.strip()]

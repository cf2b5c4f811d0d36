"""Forms for journey pages; they check shape, the services check meaning."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Channel, JourneyStatus
from .templates_data import TEMPLATES


def template_choices() -> list[tuple[str, str]]:
    return [("", _("Blank journey"))] + [
        (slug, f"{t.texts['en'][0]} / {t.texts['fi'][0]}") for slug, t in TEMPLATES.items()
    ]


class JourneyCreateForm(forms.Form):
    template = forms.ChoiceField(label=_("Start from"), choices=template_choices, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        required=False,
        help_text=_("Leave empty to use the template's name."),
    )
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, required=False)


class JourneyEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    status = forms.ChoiceField(label=_("Status"), choices=JourneyStatus.choices)


class OwnerForm(forms.Form):
    owner = forms.TypedChoiceField(
        label=_("Journey owner"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args: object, members: list = (), **kwargs: object) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["owner"].choices = [("", _("No owner"))] + [
            (m.user_id, m.user.full_name or m.user.email) for m in members
        ]


class StageForm(forms.Form):
    name = forms.CharField(label=_("Stage name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class TouchpointForm(forms.Form):
    name = forms.CharField(label=_("Touchpoint name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    importance = forms.TypedChoiceField(
        label=_("Importance"),
        coerce=int,
        choices=[(i, str(i)) for i in range(1, 6)],
        initial=3,
        help_text=_("1 = minor, 5 = critical to customers."),
    )
    owner = forms.TypedChoiceField(
        label=_("Touchpoint owner"), coerce=int, required=False, empty_value=None
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: object, members: list = (), **kwargs: object) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["owner"].choices = [("", _("No owner"))] + [
            (m.user_id, m.user.full_name or m.user.email) for m in members
        ]

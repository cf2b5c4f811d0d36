"""Forms for improvement actions. They only parse; the services validate (a service's field
errors land on the field of the same name: `owner`, `due_date`, `touchpoint`, ...)."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import TRANSITIONS, ActionSource, ActionStatus

DIMENSION_CHOICES = [
    ("", _("The touchpoint as a whole")),
    ("effectiveness", _("Effectiveness")),
    ("ease", _("Ease")),
    ("emotion", _("Emotion")),
]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _int_choices(pairs: list[tuple[int, str]], empty: str) -> list[tuple[str, str]]:
    return [("", empty)] + [(str(pk), label) for pk, label in pairs]


class _ActionFields(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("What will be done"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int)
    due_date = forms.DateField(label=_("Due date"), widget=DateInput())

    def __init__(self, *args: Any, owners: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = _int_choices(owners, _("Choose a member"))  # type: ignore[attr-defined]


class ActionCreateForm(_ActionFields):
    journey = forms.TypedChoiceField(label=_("Journey"), coerce=int)
    touchpoint = forms.TypedChoiceField(label=_("Touchpoint"), coerce=int)
    dimension = forms.ChoiceField(label=_("Dimension"), choices=DIMENSION_CHOICES, required=False)
    source = forms.ChoiceField(
        choices=ActionSource.choices, initial=ActionSource.MANUAL, widget=forms.HiddenInput
    )
    field_order = ("journey", "touchpoint", "dimension", "title", "description", "owner",
                   "due_date")  # fmt: skip

    def __init__(
        self,
        *args: Any,
        journeys: list[tuple[int, str]],
        touchpoints: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["journey"].choices = _int_choices(journeys, _("Choose a journey"))  # type: ignore[attr-defined]
        self.fields["touchpoint"].choices = _int_choices(touchpoints, _("Choose a touchpoint"))  # type: ignore[attr-defined]


class ActionEditForm(_ActionFields):
    pass


class ActionStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"))
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What was done, what is next."),
    )

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = [current, *sorted(TRANSITIONS[current], key=ActionStatus.values.index)]
        self.fields["status"].choices = [  # type: ignore[attr-defined]
            (value, ActionStatus(value).label) for value in allowed
        ]
        self.fields["status"].initial = current

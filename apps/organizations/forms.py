"""Forms for organisation pages; they validate shape, services validate meaning."""

import zoneinfo
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError

from .models import ApiAccess, Organization, Role

TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz]


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(label=_("Organisation name"), max_length=120)


class OrganizationSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=TIME_ZONE_CHOICES)

    class Meta:
        model = Organization
        fields = (
            "name",
            "time_zone",
            "default_language",
            "min_n",
            "gap_threshold",
            "alpha",
            "employee_anonymity_min",
            "top_priorities",
        )
        help_texts = {
            "min_n": _("Cells with fewer answers on either side are 'insufficient data'."),
            "gap_threshold": _("A gap of at least this many points (0-100) can be a blind spot."),
            "alpha": _("A gap counts only if its p-value is below this."),
            "employee_anonymity_min": _("Employee figures from fewer people are withheld."),
            "top_priorities": _("How many themes the report puts first."),
        }


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's field errors next to their fields, the rest at the top."""
    placed = False
    for field, messages in error.fields.items():
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
                placed = True
    if not placed:
        form.add_error(None, error.message)


def _role_choices(roles: list[str]) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if value in roles]


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, prefix="invite", **kwargs)
        self.fields["role"].choices = _role_choices(roles)
        self.fields["role"].initial = Role.VIEWER


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(roles)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses the key, e.g. 'CRM export'."),
    )
    access = forms.ChoiceField(
        label=_("Access"), choices=ApiAccess.choices, initial=ApiAccess.READ_ONLY
    )

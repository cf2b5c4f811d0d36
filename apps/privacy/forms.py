"""Forms of the privacy pages: the retention period, an address to look up or erase, and the
organisation deletion's confirmation."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import MAX_RETENTION_MONTHS


class RetentionForm(forms.Form):
    retention_months = forms.IntegerField(
        label=_("Keep personal data for (months)"),
        min_value=1,
        max_value=MAX_RETENTION_MONTHS,
        help_text=_(
            "Contacts, invitation addresses, contact details given with consent and response "
            "addresses older than this are deleted or anonymised every night."
        ),
    )


class SubjectForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))


class ErasureForm(SubjectForm):
    confirm = forms.BooleanField(
        label=_("I understand that erasure cannot be undone."), required=True
    )


class OrganizationDeleteForm(forms.Form):
    confirmation = forms.CharField(label=_("Type the organisation's slug to confirm"))
    password = forms.CharField(label=_("Your password"), widget=forms.PasswordInput)

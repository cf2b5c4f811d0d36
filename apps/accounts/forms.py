"""Signup: a new person names their organisation and becomes its owner."""

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core.errors import ApplicationError
from apps.organizations.services import organization_create

PENDING_INVITATION_SESSION_KEY = "pending_invitation_token"


class SignupForm(AllauthSignupForm):
    organization_name = forms.CharField(
        label=_("Organisation name"),
        max_length=120,
        help_text=_("Your company or team. You can invite colleagues next."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Someone who arrives through an invitation joins that organisation instead.
        request = getattr(self, "request", None)
        if request is not None and request.session.get(PENDING_INVITATION_SESSION_KEY):
            self.fields["organization_name"].required = False
            self.fields["organization_name"].widget = forms.HiddenInput()
        self.order_fields(["organization_name", "email", "password1", "password2"])

    def save(self, request: HttpRequest) -> User:
        user = super().save(request)
        if not request.session.get(PENDING_INVITATION_SESSION_KEY):
            try:
                organization_create(
                    name=self.cleaned_data["organization_name"],
                    owner=user,
                    ip_address=request.META.get("REMOTE_ADDR"),
                )
            except ApplicationError as exc:  # pragma: no cover - validated above; race only
                raise forms.ValidationError(exc.message) from exc
        return user

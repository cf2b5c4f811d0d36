"""Signup: a new person names their organisation and becomes its owner, or joins through an
invitation link instead."""

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core.errors import ApplicationError
from apps.organizations.base import client_ip
from apps.organizations.selectors import invitation_by_token
from apps.organizations.services import invitation_accept_at_signup, organization_create

# Set by the invitation page for a visitor who is not signed in.
PENDING_INVITATION_SESSION_KEY = "pending_invitation_token"


def pending_invitation_token(request: HttpRequest | None) -> str | None:
    """The token of the open invitation this visitor arrived through, if any."""
    if request is None:
        return None
    token = request.session.get(PENDING_INVITATION_SESSION_KEY)
    if not token:
        return None
    invitation = invitation_by_token(token=token)
    if invitation is None or invitation.status != "pending":
        return None
    return str(token)


class SignupForm(AllauthSignupForm):
    organization_name = forms.CharField(
        label=_("Organisation name"),
        max_length=120,
        help_text=_("Your company or team. You can invite colleagues next."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Someone who arrives through an invitation joins that organisation instead.
        # allauth does not hand the request to its signup form; its middleware keeps it here.
        self.invitation_token = pending_invitation_token(getattr(context, "request", None))
        if self.invitation_token:
            self.fields["organization_name"].required = False
            self.fields["organization_name"].widget = forms.HiddenInput()
        self.order_fields(["organization_name", "email", "password1", "password2"])

    def save(self, request: HttpRequest) -> User:
        user = super().save(request)
        ip_address = client_ip(request)
        if self.invitation_token:
            # The invited address is proven by the link: verify it and join at once. Another
            # address is verified by email first; the person then accepts on the invitation page.
            if invitation_accept_at_signup(
                token=self.invitation_token, user=user, ip_address=ip_address
            ):
                request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
            return user
        try:
            organization_create(
                name=self.cleaned_data["organization_name"], owner=user, ip_address=ip_address
            )
        except ApplicationError as exc:  # pragma: no cover - validated above; race only
            raise forms.ValidationError(exc.message) from exc
        return user

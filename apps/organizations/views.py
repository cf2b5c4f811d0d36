"""Organisation pages: choosing and creating one, overview, settings, members, invitations, keys."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.accounts.forms import PENDING_INVITATION_SESSION_KEY
from apps.core.errors import ApplicationError, NotFound
from apps.core.tenancy import token_view

from . import api_keys, selectors, services
from .base import OrganizationView, client_ip
from .forms import (
    ApiKeyCreateForm,
    InvitationForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationSettingsForm,
    add_service_errors,
)
from .models import Role
from .permissions import Action, assignable_roles, can


@login_required
def organization_choose(request: HttpRequest) -> HttpResponse:
    """Where people land after signing in: straight into their only organisation, else a list."""
    memberships = list(selectors.memberships_of(user=request.user))
    if len(memberships) == 1 and not request.GET.get("all"):
        return redirect("organizations:home", org_slug=memberships[0].organization.slug)
    return render(request, "organizations/choose.html", {"memberships": memberships})


@login_required
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(
                name=form.cleaned_data["name"], owner=request.user, ip_address=client_ip(request)
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Organisation created. Invite your colleagues next."))
            return redirect("organizations:home", org_slug=organization.slug)
    return render(request, "organizations/create.html", {"form": form})


class OrganizationHomeView(OrganizationView):
    actions = {"GET": Action.ORG_VIEW}

    def get(self, request: HttpRequest) -> HttpResponse:
        from apps.journeys.selectors import journeys

        context = self.get_context_data(
            member_count=selectors.members(organization=self.organization).count(),
            journeys=list(journeys(organization=self.organization)),
        )
        return render(request, "organizations/home.html", context)


class OrganizationSettingsView(OrganizationView):
    actions = {"GET": Action.ORG_VIEW, "POST": Action.ORG_EDIT}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, OrganizationSettingsForm(instance=self.organization))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OrganizationSettingsForm(request.POST, instance=self.organization)
        if form.is_valid():
            try:
                services.organization_update(
                    organization=self.organization,
                    actor=self.principal,
                    ip_address=client_ip(request),
                    **{f: form.cleaned_data[f] for f in form.changed_data},
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("organizations:settings", org_slug=self.organization.slug)
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        editable = can(self.principal, Action.ORG_EDIT)
        if not editable:
            for field in form.fields.values():
                field.disabled = True
        context = self.get_context_data(form=form, editable=editable)
        return render(request, "organizations/settings.html", context, status=status)


# --- Members and invitations ------------------------------------------------------------------


class _MembersPage(OrganizationView):
    """Renders the members page; the write views below render it again when something fails."""

    def render_page(
        self,
        request: HttpRequest,
        *,
        invite_form: InvitationForm | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        roles = assignable_roles(self.principal)
        may_manage = can(self.principal, Action.MEMBERS_MANAGE)
        may_manage_owners = can(self.principal, Action.OWNERS_MANAGE)
        rows = [
            {
                "membership": membership,
                "is_self": membership.pk == self.principal.membership.pk
                if self.principal.membership
                else False,
                "manageable": may_manage and (membership.role != Role.OWNER or may_manage_owners),
            }
            for membership in selectors.members(organization=self.organization)
        ]
        context = self.get_context_data(
            rows=rows,
            roles=[(value, label) for value, label in Role.choices if value in roles],
            invitations=list(selectors.invitations_open(organization=self.organization))
            if may_manage
            else [],
            invite_form=invite_form or (InvitationForm(roles=roles) if may_manage else None),
            may_manage=may_manage,
            may_manage_owners=may_manage_owners,
            error=error,
        )
        return render(request, "organizations/members.html", context, status=status)

    def done(self, request: HttpRequest, message: str) -> HttpResponse:
        messages.success(request, message)
        return redirect("organizations:members", org_slug=self.organization.slug)

    def failed(self, request: HttpRequest, exc: ApplicationError) -> HttpResponse:
        if isinstance(exc, NotFound):
            raise Http404(exc.message)
        return self.render_page(request, error=exc.message, status=exc.status_code)


class MembersView(_MembersPage):
    actions = {"GET": Action.MEMBERS_VIEW}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_page(request)


class InvitationCreateView(_MembersPage):
    actions = {"POST": Action.MEMBERS_MANAGE}

    def post(self, request: HttpRequest) -> HttpResponse:
        form = InvitationForm(request.POST, roles=assignable_roles(self.principal))
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    organization=self.organization,
                    actor=self.principal,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    ip_address=client_ip(request),
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
                return self.render_page(request, invite_form=form, status=exc.status_code)
            return self.done(request, _("Invitation sent to %s.") % invitation.email)
        return self.render_page(request, invite_form=form, status=400)


class InvitationResendView(_MembersPage):
    actions = {"POST": Action.MEMBERS_MANAGE}

    def post(self, request: HttpRequest, invitation_id: int) -> HttpResponse:
        try:
            invitation = services.invitation_resend(
                organization=self.organization,
                actor=self.principal,
                invitation_id=invitation_id,
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            return self.failed(request, exc)
        return self.done(request, _("Invitation sent again to %s.") % invitation.email)


class InvitationRevokeView(_MembersPage):
    actions = {"POST": Action.MEMBERS_MANAGE}

    def post(self, request: HttpRequest, invitation_id: int) -> HttpResponse:
        try:
            invitation = services.invitation_revoke(
                organization=self.organization,
                actor=self.principal,
                invitation_id=invitation_id,
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            return self.failed(request, exc)
        return self.done(request, _("The invitation of %s was revoked.") % invitation.email)


class MemberRoleView(_MembersPage):
    actions = {"POST": Action.MEMBERS_MANAGE}

    def post(self, request: HttpRequest, membership_id: int) -> HttpResponse:
        form = MemberRoleForm(request.POST, roles=list(Role.values))
        if not form.is_valid():
            return self.render_page(
                request,
                error=_("Role: %s") % " ".join(form.errors.get("role", [])),
                status=400,
            )
        try:
            membership = services.membership_change_role(
                organization=self.organization,
                actor=self.principal,
                membership_id=membership_id,
                role=form.cleaned_data["role"],
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            return self.failed(request, exc)
        return self.done(
            request,
            _("%(email)s is now %(role)s.")
            % {"email": membership.user.email, "role": membership.get_role_display()},
        )


class MemberRemoveView(_MembersPage):
    actions = {"POST": Action.MEMBERS_MANAGE}

    def post(self, request: HttpRequest, membership_id: int) -> HttpResponse:
        membership = selectors.member(organization=self.organization, membership_id=membership_id)
        if membership is None:
            raise Http404(_("No such member."))
        try:
            services.membership_remove(
                organization=self.organization,
                actor=self.principal,
                membership_id=membership_id,
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            return self.failed(request, exc)
        return self.done(
            request,
            _("%(email)s was removed from %(organization)s.")
            % {"email": membership.user.email, "organization": self.organization.name},
        )


class LeaveView(_MembersPage):
    actions = {"POST": Action.ORG_VIEW}

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            services.membership_leave(
                organization=self.organization, actor=self.principal, ip_address=client_ip(request)
            )
        except ApplicationError as exc:
            return self.failed(request, exc)
        messages.success(request, _("You left %s.") % self.organization.name)
        return redirect(f"{reverse('organizations:choose')}?all=1")


@require_http_methods(["GET", "POST"])
@token_view("member_invitation", key=selectors.invitation_token_hash)
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens. Its URL names no organisation: the token does."""
    found = selectors.invitation_by_token(token=token)
    if found is None:
        raise Http404(_("No such invitation."))
    user = request.user
    if found.status == "accepted" and user.is_authenticated and found.accepted_by_id == user.pk:
        # Back from signing up through the link: the invitation was accepted on the way.
        request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
        return redirect("organizations:home", org_slug=found.organization.slug)
    if found.status != "pending":
        context = {"invitation": found, "status": found.status}
        return render(request, "organizations/invitation_closed.html", context, status=410)
    if not user.is_authenticated:
        # Signing up through the link joins this organisation instead of creating one.
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        if request.method == "POST":
            return redirect(f"{reverse('account_login')}?next={request.path}")
        return render(
            request, "organizations/invitation.html", {"invitation": found, "next": request.path}
        )
    membership = selectors.membership_for(user=user, slug=found.organization.slug)
    if request.method == "POST":
        try:
            membership, created = services.invitation_accept(
                token=token, user=user, ip_address=client_ip(request)
            )
        except ApplicationError as exc:
            raise Http404(exc.message) from exc  # pragma: no cover - closed between GET and POST
        request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
        organization = membership.organization
        if created:
            messages.success(
                request,
                _("Welcome to %(organization)s. You joined as %(role)s.")
                % {"organization": organization.name, "role": membership.get_role_display()},
            )
        else:
            messages.info(
                request,
                _("You were already a member of %(organization)s as %(role)s.")
                % {"organization": organization.name, "role": membership.get_role_display()},
            )
        return redirect("organizations:home", org_slug=organization.slug)
    context = {
        "invitation": found,
        "membership": membership,
        "email_differs": found.email.lower() != user.email.lower(),
    }
    return render(request, "organizations/invitation.html", context)


# --- API keys ---------------------------------------------------------------------------------


class ApiKeysView(OrganizationView):
    actions = {"GET": Action.API_KEYS_MANAGE, "POST": Action.API_KEYS_MANAGE}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ApiKeyCreateForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiKeyCreateForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            key, plaintext = api_keys.api_key_create(
                organization=self.organization,
                actor=self.principal,
                name=form.cleaned_data["name"],
                access=form.cleaned_data["access"],
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self._render(request, form, status=exc.status_code)
        # The secret is shown on this response only: never stored, redirected or kept in a session.
        response = self._render(request, ApiKeyCreateForm(), created=key, plaintext=plaintext)
        response["Cache-Control"] = "no-store"
        return response

    def _render(
        self, request: HttpRequest, form: ApiKeyCreateForm, status: int = 200, **extra: Any
    ) -> HttpResponse:
        context = self.get_context_data(
            form=form, keys=list(selectors.api_keys(organization=self.organization)), **extra
        )
        return render(request, "organizations/api_keys.html", context, status=status)


class ApiKeyRevokeView(OrganizationView):
    actions = {"POST": Action.API_KEYS_MANAGE}

    def post(self, request: HttpRequest, key_id: int) -> HttpResponse:
        try:
            key = api_keys.api_key_revoke(
                organization=self.organization,
                actor=self.principal,
                key_id=key_id,
                ip_address=client_ip(request),
            )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        messages.success(request, _("The API key %s was revoked.") % key.name)
        return redirect("organizations:api_keys", org_slug=self.organization.slug)

"""Organisation pages: choosing and creating an organisation, its overview and settings."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

from . import selectors, services
from .base import OrganizationView, client_ip
from .forms import OrganizationCreateForm, OrganizationSettingsForm, add_service_errors
from .permissions import Action, can


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
        context = self.get_context_data(
            member_count=selectors.members(organization=self.organization).count(),
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

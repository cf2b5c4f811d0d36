"""Privacy pages under /o/<org_slug>/privacy/: the retention period and its runs, looking up,
exporting and erasing one person's data (admins), and deleting the organisation (owners)."""

import json
from typing import Any

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.forms import add_service_errors
from apps.organizations.permissions import Action

from . import selectors, services
from .forms import ErasureForm, OrganizationDeleteForm, RetentionForm, SubjectForm

MANAGE = {"GET": Action.PRIVACY_MANAGE, "POST": Action.PRIVACY_MANAGE}

RUNS_SHOWN = 10


class PrivacyView(OrganizationView):
    actions = MANAGE

    def get(self, request: HttpRequest) -> HttpResponse:
        form = RetentionForm(
            initial={"retention_months": selectors.retention_months_of(self.organization)}
        )
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RetentionForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            services.retention_settings_update(
                organization=self.organization,
                actor=self.principal,
                retention_months=form.cleaned_data["retention_months"],
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self._render(request, form, status=exc.status_code)
        messages.success(request, _("Retention period saved."))
        return redirect("privacy:settings", self.organization.slug)

    def _render(self, request: HttpRequest, form: RetentionForm, status: int = 200) -> HttpResponse:
        context = self.get_context_data(
            form=form,
            subject_form=SubjectForm(),
            runs=list(selectors.retention_runs(organization=self.organization)[:RUNS_SHOWN]),
        )
        return render(request, "privacy/settings.html", context, status=status)


class SubjectView(OrganizationView):
    """Everything linked to an address: shown, or downloaded as JSON (the address travels in
    the POST body, never in a URL that proxies and logs would keep)."""

    actions = MANAGE

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SubjectForm(request.POST)
        if not form.is_valid():
            context = self.get_context_data(subject_form=form, found=None)
            return render(request, "privacy/subject.html", context, status=400)
        email = form.cleaned_data["email"]
        found = selectors.personal_data_find(organization=self.organization, email=email)
        if request.POST.get("download"):
            audit_record(
                organization=self.organization,
                actor=self.principal,
                action="privacy.access_exported",
                target_label=f"subject {services.email_hash(email)}",
                data={"subject_hash": services.email_hash(email)},
                ip_address=client_ip(request),
            )
            body = json.dumps(found, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
            response = HttpResponse(body, content_type="application/json; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="personal-data-{services.email_hash(email)}.json"'
            )
            response["Cache-Control"] = "no-store"
            return response
        context = self.get_context_data(
            subject_form=form,
            erasure_form=ErasureForm(initial={"email": email}),
            found=found,
            total=selectors.personal_data_total(found),
        )
        response = render(request, "privacy/subject.html", context)
        response["Cache-Control"] = "no-store"
        return response


class ErasureView(OrganizationView):
    actions = MANAGE

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ErasureForm(request.POST)
        if form.is_valid():
            try:
                counts = services.personal_data_erase(
                    organization=self.organization,
                    actor=self.principal,
                    email=form.cleaned_data["email"],
                    confirm=form.cleaned_data["confirm"],
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Erased: %(count)s records deleted or anonymised.")
                    % {"count": sum(counts.values())},
                )
                return redirect("privacy:settings", self.organization.slug)
        found = None
        email = form.data.get("email", "")
        if email and "email" not in form.errors:
            found = selectors.personal_data_find(organization=self.organization, email=email)
        context = self.get_context_data(
            subject_form=SubjectForm(initial={"email": email}),
            erasure_form=form,
            found=found,
            total=selectors.personal_data_total(found) if found else 0,
        )
        return render(request, "privacy/subject.html", context, status=400)


class OrganizationDeleteView(OrganizationView):
    actions = {"GET": Action.ORG_DELETE, "POST": Action.ORG_DELETE}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, OrganizationDeleteForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OrganizationDeleteForm(request.POST)
        if form.is_valid():
            name = self.organization.name
            try:
                services.organization_delete(
                    organization=self.organization,
                    actor=self.principal,
                    confirmation=form.cleaned_data["confirmation"],
                    password=form.cleaned_data["password"],
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("%(name)s was deleted.") % {"name": name})
                return redirect("organizations:choose")
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        return render(
            request, "privacy/delete.html", self.get_context_data(form=form), status=status
        )

"""Staff pages for contact lists: lists, people (search, add, edit, delete), imports with column
mapping, preview, progress and a report of rejected rows, and the suppression list."""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.journeys.views import call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.forms import add_service_errors
from apps.organizations.permissions import Action, can

from . import contact_imports as files
from . import contact_selectors as selectors
from . import contact_services as services
from .contact_forms import (
    ContactForm,
    ContactListForm,
    MappingForm,
    SuppressionForm,
    UploadForm,
    attributes_text,
    mapping_initial,
)
from .models import Contact, ContactImport, ContactList, ImportStatus

MANAGE = {"GET": Action.CONTACTS_MANAGE, "POST": Action.CONTACTS_MANAGE}
PAGE_SIZE = 50


class ContactBase(OrganizationView):
    actions = MANAGE

    def contact_list(self, list_id: int) -> ContactList:
        contact_list = selectors.contact_list_get(organization=self.organization, list_id=list_id)
        if contact_list is None:
            raise Http404
        return contact_list

    def contact(self, contact_id: int) -> Contact:
        contact = selectors.contact_get(organization=self.organization, contact_id=contact_id)
        if contact is None:
            raise Http404
        return contact

    def contact_import(self, import_id: int) -> ContactImport:
        found = selectors.contact_import_get(organization=self.organization, import_id=import_id)
        if found is None:
            raise Http404
        return found

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }


class ContactListsView(ContactBase):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ContactListForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ContactListForm(request.POST)
        if form.is_valid():
            contact_list, ok = call_service(
                services.contact_list_create, form=form, **self.service_kwargs(),
                **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("List created: add people or import a file."))
                return redirect("contacts:list", org_slug=self.organization.slug,
                                list_id=contact_list.pk)  # fmt: skip
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        context = self.get_context_data(
            lists=list(selectors.contact_lists(organization=self.organization)), form=form,
            can_suppress=can(self.principal, Action.DELIVERY_ADMIN),
        )  # fmt: skip
        return render(request, "distribution/contacts/lists.html", context, status=status)


class ContactListView(ContactBase):
    """One list: search, page through, add a person."""

    def get(self, request: HttpRequest, list_id: int) -> HttpResponse:
        return self._render(request, self.contact_list(list_id), ContactForm())

    def post(self, request: HttpRequest, list_id: int) -> HttpResponse:
        contact_list = self.contact_list(list_id)
        form = ContactForm(request.POST)
        if form.is_valid():
            _contact, ok = call_service(
                services.contact_create, form=form, contact_list=contact_list,
                **self.service_kwargs(), **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("%(email)s added.") % {"email": _contact.email})
                return redirect("contacts:list", org_slug=self.organization.slug,
                                list_id=contact_list.pk)  # fmt: skip
        return self._render(request, contact_list, form, status=400)

    def _render(
        self, request: HttpRequest, contact_list: ContactList, form: Any, status: int = 200
    ) -> HttpResponse:
        query = request.GET.get("q", "")[:100]
        contacts = selectors.contacts_search(
            organization=self.organization, contact_list=contact_list, query=query
        )
        page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("page"))
        context = self.get_context_data(
            contact_list=contact_list, page=page, query=query, form=form,
            imports=list(selectors.contact_imports(organization=self.organization,
                                                   contact_list=contact_list)[:5]),
        )  # fmt: skip
        return render(request, "distribution/contacts/list.html", context, status=status)


class ContactListDeleteView(ContactBase):
    def post(self, request: HttpRequest, list_id: int) -> HttpResponse:
        contact_list = self.contact_list(list_id)
        call_service(services.contact_list_delete, contact_list=contact_list,
                     **self.service_kwargs())  # fmt: skip
        messages.success(request, _("List deleted."))
        return redirect("contacts:lists", org_slug=self.organization.slug)


class ContactListExportView(ContactBase):
    """The list as CSV; every cell is made safe to open in a spreadsheet."""

    def get(self, request: HttpRequest, list_id: int) -> HttpResponse:
        contact_list = self.contact_list(list_id)
        names = list(contact_list.attribute_names)
        contacts = selectors.contacts_search(
            organization=self.organization, contact_list=contact_list
        ).values_list("email", "name", "language", "attributes", "opted_out")
        rows = (
            [email, name, language, *[attributes.get(n, "") for n in names],
             "yes" if opted_out else ""]
            for email, name, language, attributes, opted_out in contacts.iterator()
        )  # fmt: skip
        body = files.csv_export(["email", "name", "language", *names, "opted_out"], rows)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="contacts-{contact_list.pk}.csv"'
        return response


class ContactEditView(ContactBase):
    def get(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        contact = self.contact(contact_id)
        initial = {"email": contact.email, "name": contact.name, "language": contact.language,
                   "attributes": attributes_text(contact.attributes)}  # fmt: skip
        return self._render(request, contact, ContactForm(initial=initial))

    def post(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        contact = self.contact(contact_id)
        form = ContactForm(request.POST)
        if form.is_valid():
            _contact, ok = call_service(
                services.contact_update, form=form, contact=contact, **self.service_kwargs(),
                **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("Contact saved."))
                return redirect("contacts:list", org_slug=self.organization.slug,
                                list_id=contact.contact_list_id)  # fmt: skip
        return self._render(request, contact, form, status=400)

    def _render(
        self, request: HttpRequest, contact: Contact, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(contact=contact, contact_list=contact.contact_list,
                                        form=form)  # fmt: skip
        return render(request, "distribution/contacts/contact.html", context, status=status)


class ContactDeleteView(ContactBase):
    def post(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        contact = self.contact(contact_id)
        call_service(services.contact_delete, contact=contact, **self.service_kwargs())
        messages.success(request, _("%(email)s deleted.") % {"email": contact.email})
        return redirect("contacts:list", org_slug=self.organization.slug,
                        list_id=contact.contact_list_id)  # fmt: skip


class ImportUploadView(ContactBase):
    def get(self, request: HttpRequest, list_id: int) -> HttpResponse:
        return self._render(request, self.contact_list(list_id), UploadForm())

    def post(self, request: HttpRequest, list_id: int) -> HttpResponse:
        contact_list = self.contact_list(list_id)
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            contact_import, ok = call_service(
                services.contact_import_upload, form=form, contact_list=contact_list,
                file_name=upload.name, content=upload.read(), **self.service_kwargs(),
            )  # fmt: skip
            if ok:
                return redirect("contacts:import", org_slug=self.organization.slug,
                                import_id=contact_import.pk)  # fmt: skip
        return self._render(request, contact_list, form, status=400)

    def _render(
        self, request: HttpRequest, contact_list: ContactList, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(contact_list=contact_list, form=form)
        return render(request, "distribution/contacts/upload.html", context, status=status)


class ImportView(ContactBase):
    """Before the import: the column mapping with a preview. During: progress (the page
    refreshes itself, no script). After: the report."""

    def get(self, request: HttpRequest, import_id: int) -> HttpResponse:
        contact_import = self.contact_import(import_id)
        form = None
        if contact_import.status == ImportStatus.PENDING:
            initial = mapping_initial(contact_import.mapping, contact_import.columns)
            form = MappingForm(initial=initial, columns=contact_import.columns)
        return self._render(request, contact_import, form, contact_import.mapping)

    def post(self, request: HttpRequest, import_id: int) -> HttpResponse:
        contact_import = self.contact_import(import_id)
        if contact_import.status != ImportStatus.PENDING:
            return redirect("contacts:import", org_slug=self.organization.slug,
                            import_id=import_id)  # fmt: skip
        form = MappingForm(request.POST, columns=contact_import.columns)
        if not form.is_valid():
            return self._render(request, contact_import, form, None, status=400)
        mapping = form.mapping()
        if request.POST.get("action") != "import":
            return self._render(request, contact_import, form, mapping)
        _started, ok = call_service(
            services.contact_import_start, form=form, contact_import=contact_import,
            mapping=mapping, **self.service_kwargs(),
        )  # fmt: skip
        if not ok:
            return self._render(request, contact_import, form, mapping, status=400)
        return redirect("contacts:import", org_slug=self.organization.slug, import_id=import_id)

    def _render(
        self,
        request: HttpRequest,
        contact_import: ContactImport,
        form: Any,
        mapping: dict[str, str] | None,
        status: int = 200,
    ) -> HttpResponse:
        preview: list[Any] = []
        error: ApplicationError | None = None
        if contact_import.status == ImportStatus.PENDING and mapping is not None:
            try:
                preview, error = services.contact_import_preview(contact_import, mapping)
            except ApplicationError as exc:
                preview, error = [], exc
            if error is not None and form is not None and not form.errors:
                add_service_errors(form, error)
        running = contact_import.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
        mapping_rows = []
        if form is not None:
            for index, field in enumerate(form):
                samples = [cells[index] for _n, cells, _c, _r in preview[:3] if index < len(cells)]
                mapping_rows.append((field, [s for s in samples if s]))
        context = self.get_context_data(
            contact_import=contact_import, contact_list=contact_import.contact_list, form=form,
            preview=preview, running=running,
            rejected=contact_import.rejected[:200] if not running else [],
            mapping_rows=mapping_rows,
        )  # fmt: skip
        return render(request, "distribution/contacts/import.html", context, status=status)


class ImportRejectedView(ContactBase):
    """The rejected rows with their reasons, as CSV (formula-safe)."""

    def get(self, request: HttpRequest, import_id: int) -> HttpResponse:
        contact_import = self.contact_import(import_id)
        body = files.csv_export([_("row"), _("reason"), _("value")], contact_import.rejected)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="rejected-{import_id}.csv"'
        return response


class SuppressionsView(ContactBase):
    """Addresses never emailed again: who opted out, bounced, or was added by an admin."""

    actions = {"GET": Action.DELIVERY_ADMIN, "POST": Action.DELIVERY_ADMIN}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, SuppressionForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SuppressionForm(request.POST)
        if form.is_valid():
            _entry, ok = call_service(services.suppression_add, form=form,
                                      **self.service_kwargs(), **form.cleaned_data)  # fmt: skip
            if ok:
                messages.success(request, _("%(email)s will not be emailed.")
                                 % {"email": _entry.email})  # fmt: skip
                return redirect("contacts:suppressions", org_slug=self.organization.slug)
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        query = request.GET.get("q", "")[:100]
        rows = selectors.suppressions(organization=self.organization, query=query)
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        context = self.get_context_data(page=page, query=query, form=form)
        return render(request, "distribution/contacts/suppressions.html", context, status=status)


class SuppressionDeleteView(ContactBase):
    actions = {"POST": Action.DELIVERY_ADMIN}

    def post(self, request: HttpRequest, suppression_id: int) -> HttpResponse:
        entry = selectors.suppression_get(
            organization=self.organization, suppression_id=suppression_id
        )
        if entry is None:
            raise Http404
        try:
            call_service(services.suppression_remove, suppression=entry, **self.service_kwargs())
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(email)s may be emailed again.") % {"email": entry.email})
        return redirect("contacts:suppressions", org_slug=self.organization.slug)

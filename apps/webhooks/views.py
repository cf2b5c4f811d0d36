"""Webhook pages under /o/<slug>/settings/webhooks/: the endpoints with a form to add one, and
each endpoint's page (edit, test event, secret rotation, disable/enable, delete, delivery log).
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError, NotFound
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.forms import add_service_errors
from apps.organizations.permissions import Action

from . import selectors, services
from .forms import EndpointForm
from .models import WebhookEndpoint

MANAGE = {"GET": Action.WEBHOOKS_MANAGE, "POST": Action.WEBHOOKS_MANAGE}
DELIVERIES_PER_PAGE = 20


def _no_store(response: HttpResponse) -> HttpResponse:
    # A page showing a secret must not be kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


class EndpointListView(OrganizationView):
    actions = MANAGE

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, EndpointForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EndpointForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            endpoint, secret = services.webhook_endpoint_create(
                organization=self.organization,
                actor=self.principal,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self._render(request, form, status=exc.status_code)
        # The secret is shown in this response only: never redirected or kept in a session.
        return _no_store(self._render(request, EndpointForm(), created=endpoint, secret=secret))

    def _render(
        self, request: HttpRequest, form: EndpointForm, status: int = 200, **extra: Any
    ) -> HttpResponse:
        context = self.get_context_data(
            form=form, endpoints=list(selectors.endpoints(organization=self.organization)), **extra
        )
        return render(request, "webhooks/list.html", context, status=status)


class _EndpointPage(OrganizationView):
    actions = MANAGE

    def endpoint(self, webhook_id: int) -> WebhookEndpoint:
        endpoint = selectors.endpoint_get(organization=self.organization, endpoint_id=webhook_id)
        if endpoint is None:
            raise Http404(_("No such webhook endpoint."))
        return endpoint

    def render_page(
        self,
        request: HttpRequest,
        endpoint: WebhookEndpoint,
        *,
        form: EndpointForm | None = None,
        status: int = 200,
        **extra: Any,
    ) -> HttpResponse:
        form = form or EndpointForm(
            initial={
                "url": endpoint.url,
                "events": endpoint.events,
                "description": endpoint.description,
            }
        )
        rows = selectors.deliveries(organization=self.organization, endpoint=endpoint)
        page = Paginator(rows, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
        context = self.get_context_data(endpoint=endpoint, form=form, page=page, **extra)
        return render(request, "webhooks/detail.html", context, status=status)

    def done(self, request: HttpRequest, endpoint_id: int, message: str) -> HttpResponse:
        messages.success(request, message)
        return redirect("webhooks:detail", org_slug=self.organization.slug, webhook_id=endpoint_id)


class EndpointDetailView(_EndpointPage):
    def get(self, request: HttpRequest, webhook_id: int) -> HttpResponse:
        return self.render_page(request, self.endpoint(webhook_id))

    def post(self, request: HttpRequest, webhook_id: int) -> HttpResponse:
        endpoint = self.endpoint(webhook_id)
        form = EndpointForm(request.POST)
        if not form.is_valid():
            return self.render_page(request, endpoint, form=form, status=400)
        try:
            services.webhook_endpoint_update(
                organization=self.organization,
                actor=self.principal,
                endpoint_id=endpoint.pk,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                ip_address=client_ip(request),
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render_page(request, endpoint, form=form, status=exc.status_code)
        return self.done(request, endpoint.pk, _("Webhook endpoint saved."))


class EndpointTestView(_EndpointPage):
    def post(self, request: HttpRequest, webhook_id: int) -> HttpResponse:
        endpoint = self.endpoint(webhook_id)
        services.webhook_endpoint_send_test(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=endpoint.pk,
            ip_address=client_ip(request),
        )
        return self.done(
            request, endpoint.pk, _("Test event sent: its delivery is in the log below.")
        )


class EndpointRotateSecretView(_EndpointPage):
    def post(self, request: HttpRequest, webhook_id: int) -> HttpResponse:
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=self.endpoint(webhook_id).pk,
            ip_address=client_ip(request),
        )
        return _no_store(self.render_page(request, endpoint, secret=secret))


class _EndpointActiveView(_EndpointPage):
    active: bool

    def post(self, request: HttpRequest, webhook_id: int) -> HttpResponse:
        endpoint = services.webhook_endpoint_set_active(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=self.endpoint(webhook_id).pk,
            active=self.active,
            ip_address=client_ip(request),
        )
        message = _("Webhook endpoint enabled.") if self.active else _("Webhook endpoint disabled.")
        return self.done(request, endpoint.pk, message)


class EndpointEnableView(_EndpointActiveView):
    active = True


class EndpointDisableView(_EndpointActiveView):
    active = False


class EndpointDeleteView(_EndpointPage):
    def post(self, request: HttpRequest, webhook_id: int) -> HttpResponse:
        endpoint = self.endpoint(webhook_id)
        try:
            services.webhook_endpoint_delete(
                organization=self.organization,
                actor=self.principal,
                endpoint_id=endpoint.pk,
                ip_address=client_ip(request),
            )
        except NotFound as exc:  # pragma: no cover - deleted meanwhile
            raise Http404(exc.message) from exc
        messages.success(request, _("Webhook endpoint deleted."))
        return redirect("webhooks:list", org_slug=self.organization.slug)

"""Staff pages for public links: list, create, change status, QR codes to print."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.journeys import selectors as journey_selectors
from apps.journeys.views import VIEW, call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.permissions import Action, can
from apps.surveys import selectors as survey_selectors
from apps.surveys.models import Questionnaire

from . import qr, selectors, services
from .forms import ContextAttributeForm, LinkCreateForm, LinkForm, initial_for
from .models import LinkStatus, SurveyLink


def public_url(request: HttpRequest, link: SurveyLink, extra: dict[str, str] | None = None) -> str:
    url = request.build_absolute_uri(reverse("responses:respond", args=[link.token]))
    if extra:
        url += "?" + urlencode(extra)
    return url


class LinkBase(OrganizationView):
    actions = VIEW

    def link(self, pk: int) -> SurveyLink:
        link = selectors.link_get(organization=self.organization, link_id=pk)
        if link is None:
            raise Http404
        return link

    def questionnaire(self, pk: Any) -> Questionnaire:
        questionnaire = None
        if str(pk).isdigit():
            questionnaire = survey_selectors.questionnaire_get(
                organization=self.organization, questionnaire_id=int(pk)
            )
        if questionnaire is None:
            raise Http404
        return questionnaire

    def focus_choices(self, journey_id: int) -> Any:
        """The touchpoints a link may put in focus: the journey's current ones."""
        return journey_selectors.touchpoints(
            organization=self.organization, journey_id=journey_id
        ).filter(archived_at__isnull=True)

    def render_list(
        self,
        request: HttpRequest,
        questionnaire: Questionnaire | None,
        attribute_form: ContextAttributeForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        links = selectors.links_for_organization(
            organization=self.organization,
            questionnaire_id=questionnaire.pk if questionnaire else None,
        )
        rows = [(link, public_url(request, link)) for link in links[:200]]
        can_edit = questionnaire is not None and can(
            self.principal, Action.JOURNEY_EDIT, questionnaire.journey
        )
        attributes = (
            list(selectors.context_attributes(organization=self.organization,
                                              questionnaire=questionnaire))
            if questionnaire is not None
            else []
        )  # fmt: skip
        context = self.get_context_data(
            questionnaire=questionnaire, rows=rows, can_edit=can_edit, attributes=attributes,
            attribute_form=attribute_form or ContextAttributeForm(),
        )  # fmt: skip
        return render(request, "distribution/list.html", context, status=status)

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }


class LinkListView(LinkBase):
    def get(self, request: HttpRequest) -> HttpResponse:
        questionnaire = None
        if request.GET.get("questionnaire"):
            questionnaire = self.questionnaire(request.GET["questionnaire"])
        return self.render_list(request, questionnaire)


class LinkCreateView(LinkBase):
    def _questionnaire(self, pk: Any) -> Questionnaire:
        questionnaire = self.questionnaire(pk)
        if not can(self.principal, Action.JOURNEY_EDIT, questionnaire.journey):
            raise DjangoPermissionDenied
        return questionnaire

    def get(self, request: HttpRequest, questionnaire_id: int) -> HttpResponse:
        questionnaire = self._questionnaire(questionnaire_id)
        form = LinkCreateForm(touchpoints=self.focus_choices(questionnaire.journey_id))
        return self._render(request, questionnaire, form)

    def post(self, request: HttpRequest, questionnaire_id: int) -> HttpResponse:
        questionnaire = self._questionnaire(questionnaire_id)
        form = LinkCreateForm(
            request.POST, touchpoints=self.focus_choices(questionnaire.journey_id)
        )
        if form.is_valid():
            link, ok = call_service(
                services.link_create, form=form, questionnaire=questionnaire,
                **self.service_kwargs(), **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("Link created."))
                return redirect("distribution:detail", org_slug=self.organization.slug, pk=link.pk)
        return self._render(request, questionnaire, form, status=400)

    def _render(
        self, request: HttpRequest, questionnaire: Questionnaire, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(questionnaire=questionnaire, form=form)
        return render(request, "distribution/create.html", context, status=status)


class LinkDetailView(LinkBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        link = self.link(pk)
        touchpoints = self.focus_choices(link.questionnaire.journey_id)
        return self._render(
            request, link, LinkForm(initial=initial_for(link), touchpoints=touchpoints)
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        link = self.link(pk)
        form = LinkForm(request.POST, touchpoints=self.focus_choices(link.questionnaire.journey_id))
        if form.is_valid():
            changes = dict(form.cleaned_data)
            if changes["context"] == link.context:
                del changes["context"]  # unchanged: not re-checked against today's whitelist
            _link, ok = call_service(
                services.link_update, form=form, link=link, **self.service_kwargs(), **changes
            )
            if ok:
                messages.success(request, _("Link saved."))
                return redirect("distribution:detail", org_slug=self.organization.slug, pk=pk)
        return self._render(request, link, form, status=400)

    def _render(
        self, request: HttpRequest, link: SurveyLink, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(
            link=link, form=form, url=public_url(request, link),
            can_edit=can(self.principal, Action.JOURNEY_EDIT, link.questionnaire.journey),
            is_open=link.is_open(), closed=link.status == LinkStatus.CLOSED,
        )  # fmt: skip
        return render(request, "distribution/detail.html", context, status=status)


class LinkActionView(LinkBase):
    STATUS_BY_VERB = {
        "pause": LinkStatus.PAUSED,
        "resume": LinkStatus.ACTIVE,
        "close": LinkStatus.CLOSED,
    }

    def post(self, request: HttpRequest, pk: int, verb: str) -> HttpResponse:
        if verb not in self.STATUS_BY_VERB:
            raise Http404
        link = self.link(pk)
        done = {
            "pause": _("Link paused."),
            "resume": _("Link resumed."),
            "close": _("Link closed."),
        }
        try:
            call_service(
                services.link_update, link=link, status=self.STATUS_BY_VERB[verb],
                **self.service_kwargs(),
            )  # fmt: skip
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done[verb])
        return redirect("distribution:detail", org_slug=self.organization.slug, pk=pk)


class LinkQRView(LinkBase):
    kind = "svg"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        link = self.link(pk)
        # `lang` chooses the language the code opens in (a Finnish poster), not an attribute.
        language = request.GET.get("lang", "")
        extra = {
            k: str(request.GET.get(k, "")) for k in request.GET if k not in {"download", "lang"}
        }
        if extra:
            whitelist = selectors.context_whitelist(
                questionnaire_id=link.questionnaire_id, organization_id=link.organization_id
            )
            extra, errors = selectors.context_clean(extra, whitelist, audience=link.audience)
            if errors:
                return HttpResponse(
                    " ".join(m for msgs in errors.values() for m in msgs), status=400,
                    content_type="text/plain; charset=utf-8",
                )  # fmt: skip
        if language in {code for code, _name in settings.LANGUAGES}:
            extra["lang"] = language
        url = public_url(request, link, extra)
        if self.kind == "svg":
            response = HttpResponse(qr.qr_svg(url), content_type="image/svg+xml")
        else:
            response = HttpResponse(qr.qr_png(url), content_type="image/png")
        if request.GET.get("download"):
            response["Content-Disposition"] = f'attachment; filename="link-{link.pk}.{self.kind}"'
        return response


class ContextAttributeCreateView(LinkBase):
    """Allow the questionnaire's links to carry one more attribute (the context whitelist)."""

    def post(self, request: HttpRequest, questionnaire_id: int) -> HttpResponse:
        questionnaire = self.questionnaire(questionnaire_id)
        if not can(self.principal, Action.JOURNEY_EDIT, questionnaire.journey):
            raise DjangoPermissionDenied
        form = ContextAttributeForm(request.POST)
        if form.is_valid():
            _attribute, ok = call_service(
                services.context_attribute_set, form=form, questionnaire=questionnaire,
                **self.service_kwargs(), **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("Attribute saved."))
                return redirect(_list_url(self.organization.slug, questionnaire.pk))
        return self.render_list(request, questionnaire, attribute_form=form, status=400)


class ContextAttributeDeleteView(LinkBase):
    def post(self, request: HttpRequest, attribute_id: int) -> HttpResponse:
        attribute = selectors.context_attribute_get(
            organization=self.organization, attribute_id=attribute_id
        )
        if attribute is None:
            raise Http404
        call_service(services.context_attribute_delete, attribute=attribute,
                     **self.service_kwargs())  # fmt: skip
        messages.success(request, _("Attribute removed."))
        return redirect(_list_url(self.organization.slug, attribute.questionnaire_id))


def _list_url(org_slug: str, questionnaire_id: int) -> str:
    return f"{reverse('distribution:list', args=[org_slug])}?questionnaire={questionnaire_id}"

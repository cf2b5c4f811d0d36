"""Staff pages for email campaigns: the list, a new campaign, its details and messages, preview
and test, sending now or later, and the campaign page with its figures."""

import dataclasses
import zoneinfo
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.journeys.views import call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.permissions import Action, can
from apps.surveys import selectors as survey_selectors
from apps.surveys.models import Questionnaire, QuestionnaireStatus

from . import campaign_selectors as selectors
from . import campaign_services as services
from . import contact_selectors
from .campaign_forms import CampaignCreateForm, CampaignEditForm, SendForm, TestForm, edit_initial
from .models import Campaign, CampaignStatus, InvitationStatus

VIEW = {"GET": Action.CAMPAIGNS_VIEW, "POST": Action.CAMPAIGNS_MANAGE}
MANAGE = {"GET": Action.CAMPAIGNS_MANAGE, "POST": Action.CAMPAIGNS_MANAGE}
PAGE_SIZE = 50


class CampaignBase(OrganizationView):
    actions = MANAGE

    def campaign(self, campaign_id: int) -> Campaign:
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        if campaign is None:
            raise Http404
        return campaign

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }

    def to_campaign(self, campaign: Campaign, page: str = "detail") -> HttpResponse:
        return redirect(f"campaigns:{page}", org_slug=self.organization.slug,
                        campaign_id=campaign.pk)  # fmt: skip


class CampaignListView(CampaignBase):
    actions = VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = list(selectors.campaigns(organization=self.organization)[:200])
        context = self.get_context_data(
            campaigns=rows, can_manage=can(self.principal, Action.CAMPAIGNS_MANAGE)
        )
        return render(request, "distribution/campaigns/list.html", context)


def _open_questionnaires(organization: Any) -> list[Questionnaire]:
    return list(
        Questionnaire.objects.for_organization(organization)
        .filter(status=QuestionnaireStatus.PUBLISHED)
        .order_by("name", "pk")
    )


class CampaignCreateView(CampaignBase):
    def _form(self, data: Any = None) -> CampaignCreateForm:
        lists = [
            (cl.pk, f"{cl.name} ({cl.get_audience_display()}, {getattr(cl, 'contact_count', 0)})")
            for cl in contact_selectors.contact_lists(organization=self.organization)
        ]
        questionnaires = [(q.pk, q.name) for q in _open_questionnaires(self.organization)]
        return CampaignCreateForm(data, questionnaires=questionnaires, lists=lists)

    def get(self, request: HttpRequest) -> HttpResponse:
        form = self._form()
        questionnaire = request.GET.get("questionnaire", "")
        if questionnaire.isdigit():
            form.initial["questionnaire"] = int(questionnaire)
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request.POST)
        if form.is_valid():
            questionnaire = survey_selectors.questionnaire_get(
                organization=self.organization, questionnaire_id=form.cleaned_data["questionnaire"]
            )
            contact_list = contact_selectors.contact_list_get(
                organization=self.organization, list_id=form.cleaned_data["contact_list"]
            )
            if questionnaire is None or contact_list is None:
                raise Http404
            campaign, ok = call_service(
                services.campaign_create, form=form, name=form.cleaned_data["name"],
                questionnaire=questionnaire, contact_list=contact_list, **self.service_kwargs(),
            )  # fmt: skip
            if ok:
                messages.success(request, _("Campaign created: check the message, then send."))
                return self.to_campaign(campaign, "edit")
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: Any, status: int = 200) -> HttpResponse:
        context = self.get_context_data(form=form)
        return render(request, "distribution/campaigns/create.html", context, status=status)


class CampaignDetailView(CampaignBase):
    """The campaign page: status, counts and response rate; the people for those who may see
    addresses; uncertain deliveries for admins."""

    actions = VIEW

    def get(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self.campaign(campaign_id)
        figures = selectors.campaign_figures(campaign)
        see_people = can(self.principal, Action.CONTACTS_MANAGE)
        status = request.GET.get("status", "")
        status = status if status in InvitationStatus.values else ""
        page = None
        if see_people:
            rows = selectors.campaign_invitations(
                campaign=campaign, status=status, query=request.GET.get("q", "")[:100]
            )
            page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        uncertain = []
        if can(self.principal, Action.DELIVERY_ADMIN) and figures.uncertain:
            uncertain = list(
                selectors.campaign_invitations(campaign=campaign, status="uncertain")[:100]
            )
        recipients = None
        if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            recipients = selectors.campaign_recipients(campaign).count()
        context = self.get_context_data(
            campaign=campaign, figures=figures, page=page, status=status,
            query=request.GET.get("q", ""), uncertain=uncertain, recipients=recipients,
            statuses=InvitationStatus.choices,
            count_rows=[(value, label, figures.counts.get(value, 0))
                        for value, label in InvitationStatus.choices],
            can_manage=can(self.principal, Action.CAMPAIGNS_MANAGE),
            can_resolve=can(self.principal, Action.DELIVERY_ADMIN),
            send_form=SendForm(), test_form=TestForm(),
            languages=list(campaign.subjects),
        )  # fmt: skip
        return render(request, "distribution/campaigns/detail.html", context)


class CampaignEditView(CampaignBase):
    def _form(self, campaign: Campaign, data: Any = None) -> CampaignEditForm:
        attributes = list(campaign.contact_list.attribute_names) if campaign.contact_list else []
        return CampaignEditForm(
            data, initial=edit_initial(campaign), attributes=attributes,
            draft=campaign.status == CampaignStatus.DRAFT,
        )  # fmt: skip

    def get(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self.campaign(campaign_id)
        return self._render(request, campaign, self._form(campaign))

    def post(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self.campaign(campaign_id)
        form = self._form(campaign, request.POST)
        if form.is_valid():
            _campaign, ok = call_service(
                services.campaign_update, form=form, campaign=campaign, **self.service_kwargs(),
                **form.changes(),
            )  # fmt: skip
            if ok:
                messages.success(request, _("Campaign saved."))
                return self.to_campaign(campaign, "preview" if form.draft else "detail")
        return self._render(request, campaign, form, status=400)

    def _render(
        self, request: HttpRequest, campaign: Campaign, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(
            campaign=campaign, form=form,
            placeholders=services.allowed_placeholders(campaign.contact_list),
        )  # fmt: skip
        return render(request, "distribution/campaigns/edit.html", context, status=status)


class CampaignPreviewView(CampaignBase):
    """The message as the first recipient gets it, in each language; test it; send it."""

    def get(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self.campaign(campaign_id)
        return self._render(request, campaign, SendForm(), TestForm())

    def _render(
        self,
        request: HttpRequest,
        campaign: Campaign,
        send_form: Any,
        test_form: Any,
        status: int = 200,
    ) -> HttpResponse:
        composer = services.composer_for(campaign)
        sample = selectors.campaign_sample_recipient(campaign)
        previews = []
        for language in composer.languages:
            previews.append(composer.render(dataclasses.replace(sample, language=language)))
        recipients = selectors.campaign_recipients(campaign).count()
        context = self.get_context_data(
            campaign=campaign, previews=previews, sample=sample, recipients=recipients,
            send_form=send_form, test_form=test_form,
            time_zone=self.organization.time_zone,
        )  # fmt: skip
        return render(request, "distribution/campaigns/preview.html", context, status=status)


def _org_zone(organization: Any) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(organization.time_zone)
    except (KeyError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


class CampaignSendView(CampaignPreviewView):
    def get(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        return self.to_campaign(self.campaign(campaign_id), "preview")

    def post(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self.campaign(campaign_id)
        with timezone.override(_org_zone(self.organization)):  # the time as the org reads it
            form = SendForm(request.POST)
            valid = form.is_valid()
        if valid:
            send_at = form.cleaned_data["send_at"] if form.cleaned_data["when"] == "later" else None
            _sent, ok = call_service(services.campaign_send, form=form, campaign=campaign,
                                     send_at=send_at, **self.service_kwargs())  # fmt: skip
            if ok:
                if _sent.status == CampaignStatus.SCHEDULED:
                    messages.success(request, _("Campaign scheduled."))
                else:
                    messages.success(request, _("Sending started."))
                return self.to_campaign(campaign)
        return self._render(request, campaign, form, TestForm(), status=400)


class CampaignTestView(CampaignPreviewView):
    def get(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        return self.to_campaign(self.campaign(campaign_id), "preview")

    def post(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = self.campaign(campaign_id)
        form = TestForm(request.POST)
        if form.is_valid():
            address, ok = call_service(services.campaign_test_send, form=form, campaign=campaign,
                                       **self.service_kwargs(), **form.cleaned_data)  # fmt: skip
            if ok:
                messages.success(request, _("Test sent to %(email)s.") % {"email": address})
                return self.to_campaign(campaign, "preview")
        return self._render(request, campaign, SendForm(), form, status=400)


class CampaignActionView(CampaignBase):
    """Take a scheduled campaign back to draft, or stop one that is sending."""

    verbs = {"unschedule": services.campaign_unschedule, "stop": services.campaign_stop}

    def post(self, request: HttpRequest, campaign_id: int, verb: str) -> HttpResponse:
        if verb not in self.verbs:
            raise Http404
        campaign = self.campaign(campaign_id)
        try:
            call_service(self.verbs[verb], campaign=campaign, **self.service_kwargs())
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Back to draft.") if verb == "unschedule"
                             else _("Campaign stopped."))  # fmt: skip
        return self.to_campaign(campaign)


class InvitationActionView(CampaignBase):
    """Admins settle an uncertain delivery: send it again, or count it as delivered."""

    actions = {"POST": Action.DELIVERY_ADMIN}

    def post(self, request: HttpRequest, survey_invitation_id: int, verb: str) -> HttpResponse:
        if verb not in ("resend", "mark-sent"):
            raise Http404
        invitation = selectors.invitation_get(
            organization=self.organization, invitation_id=survey_invitation_id
        )
        if invitation is None:
            raise Http404
        campaign = self.campaign(invitation.campaign_id)
        try:
            call_service(services.invitation_resolve_uncertain, invitation=invitation,
                         resend=verb == "resend", **self.service_kwargs())  # fmt: skip
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Sent again.") if verb == "resend"
                             else _("Counted as delivered."))  # fmt: skip
        return self.to_campaign(campaign)

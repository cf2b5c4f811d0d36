"""Alert pages: the inbox with its filters, one alert (take it, resolve it, reassign it), a
journey's alert rules, and each member's choice of alert emails.

Pages need `alert.view`; working an alert needs `alert.work` on it and changing rules
`alert.rules_manage` on the journey, both checked by the services (so a touchpoint owner with
the viewer role works their own alerts, and a plain viewer gets 403).
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey, Touchpoint
from apps.journeys.views import call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.permissions import Action, can
from apps.surveys import selectors as survey_selectors
from apps.surveys.models import Questionnaire

from . import selectors, services
from .forms import AlertFilterForm, AssignForm, PreferenceForm, ResolveForm, RulesForm
from .models import Alert

VIEW = {"GET": Action.ALERT_VIEW, "POST": Action.ALERT_VIEW}
PAGE_SIZE = 50


class AlertsBase(OrganizationView):
    actions = VIEW

    def alert(self, pk: int) -> Alert:
        alert = selectors.alert_get(organization=self.organization, alert_id=pk)
        if alert is None or not can(self.principal, Action.ALERT_VIEW, alert):
            raise Http404
        return alert

    def journey(self, journey_id: int) -> Journey:
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=journey_id
        )
        if journey is None:
            raise Http404
        return journey

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }


class InboxView(AlertsBase):
    """Alerts, newest first, filtered by status, journey, touchpoint, assignee and overdue."""

    def get(self, request: HttpRequest) -> HttpResponse:
        members = selectors.assignable_members(organization=self.organization)
        journeys = list(journey_selectors.journeys(organization=self.organization))
        touchpoints = list(
            Touchpoint.objects.for_organization(self.organization)
            .select_related("journey")
            .order_by("journey__name", "stage__position", "position")
        )
        form = AlertFilterForm(
            request.GET or None, journeys=journeys, touchpoints=touchpoints, members=members
        )
        alert_filter, errors = selectors.alert_filter_parse(request.GET, me=self.principal.user_id)
        if form.is_bound:
            form.is_valid()
            for name, field_errors in errors.items():
                for error in field_errors:
                    form.add_error(name if name in form.fields else None, error)
        page = Paginator(
            selectors.alerts(organization=self.organization, alert_filter=alert_filter),
            PAGE_SIZE,
        ).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        now = timezone.now()
        rows = [(alert, alert.is_overdue(now)) for alert in page.object_list]
        return render(
            request,
            "alerts/inbox.html",
            self.get_context_data(
                form=form,
                page=page,
                rows=rows,
                query=query.urlencode(),
                filtered=bool(query),
                journeys=journeys,
                can_manage_rules=can(self.principal, Action.ALERT_RULES_MANAGE),
            ),
        )


class AlertView(AlertsBase):
    """One alert: what tripped it, the customer's answers, the contact they agreed to share,
    its history; take it, resolve it, reassign it."""

    def _render(self, request: HttpRequest, alert: Alert, **forms_: Any) -> HttpResponse:
        members = selectors.assignable_members(organization=self.organization)
        detail = selectors.alert_detail(
            organization=self.organization, alert=alert, language=get_language() or "en"
        )
        context = {
            "alert": alert,
            "detail": detail,
            "overdue": alert.is_overdue(),
            "can_work": can(self.principal, Action.ALERT_WORK, alert),
            "resolve_form": forms_.get("resolve_form") or ResolveForm(),
            "assign_form": forms_.get("assign_form")
            or AssignForm(members=members, initial={"assignee": alert.assignee_id or ""}),
        }
        return render(
            request,
            "alerts/detail.html",
            self.get_context_data(**context),
            status=400 if forms_ else 200,
        )

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, self.alert(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self.alert(pk)
        verb = request.POST.get("action", "")
        if verb == "start":
            call_service(services.alert_start, alert=alert, **self.service_kwargs())
            messages.success(request, _("You took the alert: it is in progress."))
        elif verb == "resolve":
            form = ResolveForm(request.POST)
            if not form.is_valid():
                return self._render(request, alert, resolve_form=form)
            _done, ok = call_service(
                services.alert_resolve,
                form=form,
                alert=alert,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                **self.service_kwargs(),
            )
            if not ok:
                return self._render(request, alert, resolve_form=form)
            messages.success(request, _("The alert is resolved."))
        elif verb == "assign":
            members = selectors.assignable_members(organization=self.organization)
            form = AssignForm(request.POST, members=members)
            # The choices are members only; any other id is still sent to the service, which
            # refuses it naming the field.
            raw = request.POST.get("assignee", "")
            _done, ok = call_service(
                services.alert_assign,
                form=form,
                alert=alert,
                assignee_id=raw or None,
                **self.service_kwargs(),
            )
            if not ok:
                return self._render(request, alert, assign_form=form)
            messages.success(request, _("The alert was reassigned."))
        else:
            return HttpResponse(_("Unknown action."), status=400)
        return redirect("alerts:detail", self.organization.slug, alert.pk)


class RulesView(AlertsBase):
    """A journey's alert rules and SLA, and asking its customers for contact consent."""

    def _render(
        self, request: HttpRequest, journey: Journey, form: RulesForm, status: int = 200
    ) -> HttpResponse:
        questionnaires = list(
            survey_selectors.questionnaires_for_journey(
                organization=self.organization, journey=journey
            )
        )
        asking = selectors.questionnaires_asking_consent(
            organization=self.organization, questionnaires=questionnaires
        )
        panel = selectors.dashboard_figures(organization=self.organization, journey=journey)
        return render(
            request,
            "alerts/rules.html",
            self.get_context_data(
                journey=journey,
                form=form,
                questionnaires=questionnaires,
                asking=asking,
                alerts_panel=panel,
                can_manage=can(self.principal, Action.ALERT_RULES_MANAGE, journey),
            ),
            status=status,
        )

    def get(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self.journey(journey_id)
        rules = selectors.alert_rules_get(organization=self.organization, journey=journey)
        initial = {
            "enabled": rules.enabled,
            "rating_enabled": rules.rating_enabled,
            "rating_threshold": rules.rating_threshold
            if rules.rating_threshold is not None
            else "",
            "nps_enabled": rules.nps_enabled,
            "nps_threshold": rules.nps_threshold,
            "overall_enabled": rules.overall_enabled,
            "overall_threshold": (
                rules.overall_threshold if rules.overall_threshold is not None else ""
            ),
            "keywords": ", ".join(rules.keywords or []),
            "sla_hours": rules.sla_hours,
        }
        return self._render(request, journey, RulesForm(initial=initial))

    def post(self, request: HttpRequest, journey_id: int) -> HttpResponse:
        journey = self.journey(journey_id)
        form = RulesForm(request.POST)
        if not form.is_valid():
            return self._render(request, journey, form, status=400)
        _rules, ok = call_service(
            services.alert_rules_update,
            form=form,
            journey=journey,
            values=form.service_values(),
            **self.service_kwargs(),
        )
        if not ok:
            return self._render(request, journey, form, status=400)
        messages.success(request, _("The alert rules were saved."))
        return redirect("alerts:rules", self.organization.slug, journey.pk)


class ContactQuestionsView(AlertsBase):
    """Add the consent and contact questions to a questionnaire's draft."""

    def post(self, request: HttpRequest, questionnaire_id: int) -> HttpResponse:
        questionnaire = (
            Questionnaire.objects.for_organization(self.organization)
            .select_related("journey")
            .filter(pk=questionnaire_id)
            .first()
        )
        if questionnaire is None:
            raise Http404
        added, _ok = call_service(
            services.contact_questions_add, questionnaire=questionnaire, **self.service_kwargs()
        )
        if added:
            messages.success(
                request,
                _(
                    "The contact questions were added to the draft: "
                    "publish the questionnaire to ask them."
                ),
            )
        else:
            messages.info(request, _("The questionnaire asks for contact consent already."))
        return redirect("alerts:rules", self.organization.slug, questionnaire.journey_id)


class SettingsView(AlertsBase):
    """The member's own choice: an email per alert, or one digest a day."""

    def get(self, request: HttpRequest) -> HttpResponse:
        mode = selectors.notification_mode(organization=self.organization, user_id=request.user.pk)
        return render(
            request,
            "alerts/settings.html",
            self.get_context_data(form=PreferenceForm(initial={"mode": mode})),
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PreferenceForm(request.POST)
        if form.is_valid():
            _pref, ok = call_service(
                services.notification_preference_set,
                form=form,
                mode=form.cleaned_data["mode"],
                **self.service_kwargs(),
            )
            if ok:
                messages.success(request, _("Your alert email choice was saved."))
                return redirect("alerts:settings", self.organization.slug)
        return render(request, "alerts/settings.html", self.get_context_data(form=form), status=400)

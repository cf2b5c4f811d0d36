"""Questionnaire pages: both sides side by side, item forms, publishing and the preview."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.journeys import selectors as journey_selectors
from apps.journeys.views import VIEW, call_service
from apps.organizations.base import OrganizationView, client_ip
from apps.organizations.permissions import Action, can

from . import selectors, services
from .forms import GenerateForm, ItemCreateForm, ItemForm, LanguageForm
from .models import Audience, Item, Questionnaire, QuestionnaireStatus, QuestionnaireVersion


class QuestionnaireBase(OrganizationView):
    actions = VIEW

    def questionnaire(self, pk: int) -> Questionnaire:
        questionnaire = selectors.questionnaire_get(
            organization=self.organization, questionnaire_id=pk
        )
        if questionnaire is None:
            raise Http404
        return questionnaire

    def item(self, pk: int) -> Item:
        item = (
            Item.objects.for_organization(self.organization)
            .select_related("version__questionnaire__journey", "touchpoint")
            .filter(pk=pk)
            .first()
        )
        if item is None:
            raise Http404
        return item

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "actor": self.principal,
            "ip_address": client_ip(self.request),
        }

    def to_questionnaire(self, pk: int, anchor: str = "") -> HttpResponse:
        response = redirect("surveys:detail", org_slug=self.organization.slug, pk=pk)
        if anchor:
            response["Location"] += f"#{anchor}"
        return response

    def require_edit(self, questionnaire: Questionnaire) -> None:
        if not can(self.principal, Action.JOURNEY_EDIT, questionnaire.journey):
            raise DjangoPermissionDenied

    def render_detail(
        self,
        request: HttpRequest,
        questionnaire: Questionnaire,
        version: QuestionnaireVersion,
        versions: list[QuestionnaireVersion],
        language_form: Any = None,
        status: int = 200,
    ) -> HttpResponse:
        items = selectors.version_items(version=version)
        language = request.GET.get("language") or version.languages[0]
        if language not in version.languages:
            language = version.languages[0]
        for item in items:
            item.display_text = item.text_in(language)  # type: ignore[attr-defined]
        unpaired = selectors.unpaired_items(items=items)
        unpaired_ids = {problem.item.pk for problem in unpaired}
        rows = _side_by_side(items)
        context = self.get_context_data(
            questionnaire=questionnaire,
            journey=questionnaire.journey,
            version=version,
            versions=versions,
            rows=rows,
            language=language,
            unpaired=unpaired,
            unpaired_ids=unpaired_ids,
            can_edit=can(self.principal, Action.JOURNEY_EDIT, questionnaire.journey)
            and questionnaire.status != QuestionnaireStatus.CLOSED,
            is_draft=not version.is_published,
            is_latest=version.number == versions[-1].number,
            language_form=language_form or LanguageForm(),
            audiences=Audience.choices,
        )
        return render(request, "surveys/detail.html", context, status=status)


def _field_errors_for_texts(exc: ApplicationError, languages: list[str]) -> ApplicationError:
    """Service errors on `texts`/`choices` belong to the first language's field of the form."""
    for name in ("texts", "choices"):
        if name in exc.fields:
            prefix = "text" if name == "texts" else "choices"
            exc.fields[f"{prefix}_{languages[0]}"] = exc.fields.pop(name)
    return exc


class QuestionnaireGenerateView(QuestionnaireBase):
    """Generate a paired questionnaire from the journey in the URL (POST from the journey map)."""

    def post(self, request: HttpRequest, journey_pk: int) -> HttpResponse:
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=journey_pk
        )
        if journey is None:
            raise Http404
        form = GenerateForm(request.POST)
        if form.is_valid():
            questionnaire, ok = call_service(
                services.questionnaire_generate, form, journey=journey,
                **self.service_kwargs(), **form.cleaned_data,
            )  # fmt: skip
            if ok:
                messages.success(request, _("Questionnaire generated: review it, then publish."))
                return self.to_questionnaire(questionnaire.pk)
        if not can(self.principal, Action.JOURNEY_EDIT, journey):
            raise DjangoPermissionDenied
        context = self.get_context_data(journey=journey, form=form)
        return render(request, "surveys/generate.html", context, status=400)


class QuestionnaireDetailView(QuestionnaireBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        questionnaire = self.questionnaire(pk)
        versions = list(selectors.versions(questionnaire=questionnaire))
        version = versions[-1]
        number = request.GET.get("version", "")
        if number.isdigit():
            version = next((v for v in versions if v.number == int(number)), version)
        return self.render_detail(request, questionnaire, version, versions)


def _side_by_side(items: list[Item]) -> list[dict[str, Any]]:
    """Rows pairing each customer item with its employee twin (by key), in customer order."""
    customer = [i for i in items if i.audience == Audience.CUSTOMER]
    employee = {i.key: i for i in items if i.audience == Audience.EMPLOYEE}
    rows = [{"customer": item, "employee": employee.pop(item.key, None)} for item in customer]
    rows += [{"customer": None, "employee": item} for item in employee.values()]
    return rows


class QuestionnaireActionView(QuestionnaireBase):
    """POST publish / close / edit (open a new draft version) / add language."""

    def post(self, request: HttpRequest, pk: int, verb: str) -> HttpResponse:
        questionnaire = self.questionnaire(pk)
        kwargs = {"questionnaire": questionnaire, **self.service_kwargs()}
        if verb == "language":
            form = LanguageForm(request.POST)
            if form.is_valid():
                _r, ok = call_service(
                    services.questionnaire_add_language,
                    form,
                    language=form.cleaned_data["language"],
                    **kwargs,
                )
                if ok:
                    messages.success(
                        request, _("Language added: write its wordings before publishing.")
                    )
                    return self.to_questionnaire(pk)
            self.require_edit(questionnaire)
            versions = list(selectors.versions(questionnaire=questionnaire))
            return self.render_detail(
                request, questionnaire, versions[-1], versions, form, status=400
            )
        services_by_verb = {
            "publish": (
                services.questionnaire_publish,
                _("Published. New answers use this version."),
            ),
            "close": (services.questionnaire_close, _("Questionnaire closed.")),
            "touchpoints": (
                services.questionnaire_add_touchpoints,
                _("Questions for the journey's new touchpoints were added."),
            ),
            "edit": (
                services.questionnaire_edit_start,
                _("A new draft version is open for editing."),
            ),
        }
        if verb not in services_by_verb:
            raise Http404
        service, success = services_by_verb[verb]
        try:
            call_service(service, **kwargs)
        except ApplicationError as exc:
            details = [m for msgs in exc.fields.values() for m in msgs]
            messages.error(request, " ".join([exc.message, *details[:10]]))
            return self.to_questionnaire(pk)
        messages.success(request, success)
        return self.to_questionnaire(pk)


class ItemEditView(QuestionnaireBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self.item(pk)
        self.require_edit(item.version.questionnaire)
        form = ItemForm(item=item, languages=item.version.languages)
        return self._render(request, item, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self.item(pk)
        languages = item.version.languages
        form = ItemForm(request.POST, item=item, languages=languages)
        if form.is_valid():
            try:
                updated, _ok = call_service(
                    services.item_update, item=item, **self.service_kwargs(), **form.changes()
                )
            except ApplicationError as exc:
                from apps.organizations.forms import add_service_errors

                add_service_errors(form, _field_errors_for_texts(exc, languages))
            else:
                messages.success(request, _("Question saved."))
                return self.to_questionnaire(item.version.questionnaire_id, f"item-{updated.pk}")
        return self._render(request, item, form, status=400)

    def _render(
        self, request: HttpRequest, item: Item, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(
            item=item, questionnaire=item.version.questionnaire, form=form,
            journey=item.version.questionnaire.journey,
        )  # fmt: skip
        return render(request, "surveys/item_form.html", context, status=status)


class ItemCreateView(QuestionnaireBase):
    def _form(self, questionnaire: Questionnaire, data: Any = None) -> ItemCreateForm:
        version = selectors.current_version(questionnaire=questionnaire)
        assert version is not None
        touchpoints = journey_selectors.touchpoints(
            organization=self.organization, journey_id=questionnaire.journey_id
        ).filter(archived_at__isnull=True)
        return ItemCreateForm(
            data, touchpoints=list(touchpoints), languages=version.languages,
            initial={"audience": self.request.GET.get("audience", Audience.CUSTOMER)},
        )  # fmt: skip

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        questionnaire = self.questionnaire(pk)
        self.require_edit(questionnaire)
        return self._render(request, questionnaire, self._form(questionnaire))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        questionnaire = self.questionnaire(pk)
        form = self._form(questionnaire, request.POST)
        if form.is_valid():
            try:
                item, _ok = call_service(
                    services.item_create, questionnaire=questionnaire, **self.service_kwargs(),
                    **form.service_kwargs(),
                )  # fmt: skip
            except ApplicationError as exc:
                from apps.organizations.forms import add_service_errors

                add_service_errors(form, _field_errors_for_texts(exc, form.languages))
            else:
                messages.success(request, _("Question added."))
                return self.to_questionnaire(pk, f"item-{item.pk}")
        self.require_edit(questionnaire)
        return self._render(request, questionnaire, form, status=400)

    def _render(
        self, request: HttpRequest, questionnaire: Questionnaire, form: Any, status: int = 200
    ) -> HttpResponse:
        context = self.get_context_data(
            questionnaire=questionnaire, journey=questionnaire.journey, form=form, item=None
        )
        return render(request, "surveys/item_form.html", context, status=status)


class ItemActionView(QuestionnaireBase):
    """POST move up/down, delete (with twin), or create the missing twin."""

    def post(self, request: HttpRequest, pk: int, verb: str) -> HttpResponse:
        item = self.item(pk)
        questionnaire_id = item.version.questionnaire_id
        kwargs = {"item": item, **self.service_kwargs()}
        try:
            if verb == "up":
                result, _ok = call_service(
                    services.item_move, position=max(0, item.position - 1), **kwargs
                )
            elif verb == "down":
                result, _ok = call_service(services.item_move, position=item.position + 1, **kwargs)
            elif verb == "delete":
                result, _ok = call_service(services.item_delete, **kwargs)
                messages.success(request, _("Question removed."))
            elif verb == "twin":
                result, _ok = call_service(services.item_create_twin, **kwargs)
                messages.success(request, _("Twin added."))
            else:
                raise Http404
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return self.to_questionnaire(questionnaire_id)
        anchor = f"item-{result.pk}" if isinstance(result, Item) else ""
        return self.to_questionnaire(questionnaire_id, anchor)


class PreviewView(QuestionnaireBase):
    """The questionnaire as a respondent sees it, for one audience and language (no JavaScript)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        questionnaire = self.questionnaire(pk)
        versions = list(selectors.versions(questionnaire=questionnaire))
        version = versions[-1]
        number = request.GET.get("version", "")
        if number.isdigit():
            version = next((v for v in versions if v.number == int(number)), version)
        audience = request.GET.get("audience", Audience.CUSTOMER)
        if audience not in Audience.values:
            audience = Audience.CUSTOMER
        language = request.GET.get("language", version.languages[0])
        if language not in version.languages:
            language = version.languages[0]
        items = selectors.version_items(version=version, audience=audience)
        context = self.get_context_data(
            questionnaire=questionnaire,
            journey=questionnaire.journey,
            version=version,
            audience=audience,
            language=language,
            items=[_preview_item(item, language) for item in items],
            audiences=Audience.choices,
        )
        return render(request, "surveys/preview.html", context)


def _preview_item(item: Item, language: str) -> dict[str, Any]:
    return {
        "item": item,
        "text": item.text_in(language),
        "points": item.scale_points(),
        "choices": [
            {"value": c["value"], "text": c["texts"].get(language, "")} for c in item.choices
        ],
    }

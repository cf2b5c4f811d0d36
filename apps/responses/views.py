"""The public respondent pages: a link's form (screening, then the used touchpoints), thanks.

No account, no server-side session, and no JavaScript needed: the answers of the other step
travel in hidden fields, and the form carries a signed stamp (link, version, idempotency key,
start time, segment) so a submission is checked against the version the respondent saw. One
optional script (static/js/respondent.js) keeps typed answers over a reload and runs a kiosk's
announced countdown back to a fresh form.
"""

import functools
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signing
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from apps.alerts.consent import CONTACT_KEYS
from apps.core.errors import ValidationFailed
from apps.core.tenancy import organization_context
from apps.distribution.campaign_selectors import invitation_resolve
from apps.distribution.models import SurveyLink
from apps.distribution.selectors import context_clean, context_whitelist
from apps.distribution.services import FOCUS_KEY
from apps.organizations.base import client_ip
from apps.surveys.models import SCALED_KINDS, Item, ItemKind, QuestionnaireStatus

from . import ratelimit
from .selectors import respondent_items, respondent_link, respondent_link_cached
from .services import (
    NOT_APPLICABLE,
    TEXT_KINDS,
    Respondent,
    answers_clean,
    field_name,
    response_submit,
    visible_items,
)

STAMP_SALT = "responses.form"
DEVICE_SALT = "responses.device"
DEVICE_COOKIE = "cx_answered"
HONEYPOT = "website"
SCREENING_USED = "yes"  # the screening answer "I used this touchpoint"
# A kiosk's thank-you page returns to a fresh form after this long (shown, with "more time").
KIOSK_RESET_SECONDS = 30
KIOSK_MORE_SECONDS = 60
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> Any:
    response = render(request, f"responses/{template}", context, status=status)
    link = context.get("link")
    # Never cached by anyone but the browser, and revalidated (a form gets a fresh stamp). A
    # kiosk's browser keeps nothing, so the next person cannot go back to someone's answers;
    # a personal phone may keep the page, so going back and forth keeps what was typed.
    if link is not None and link.kiosk:
        patch_cache_control(response, private=True, no_store=True, no_cache=True, max_age=0)
    else:
        patch_cache_control(response, private=True, no_cache=True, max_age=0)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _ui_language(language: str) -> str:
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _simple(request: HttpRequest, template: str, status: int, **context: Any) -> HttpResponse:
    language = _pick_language(request, list(dict(settings.LANGUAGES)), request.GET.get("lang"))
    with translation.override(language):
        return _page(request, template, {"language": language, **context}, status=status)


def _pick_language(request: HttpRequest, languages: list[str], explicit: str | None) -> str:
    """The link's or switcher's language, else the browser's first one on offer."""
    if explicit in languages:
        return str(explicit)
    for part in request.META.get("HTTP_ACCEPT_LANGUAGE", "").split(","):
        code = part.split(";")[0].strip().lower()
        for candidate in (code, code.split("-")[0]):
            if candidate in languages:
                return candidate
    return languages[0] if languages else settings.LANGUAGE_CODE


def _link_within_limits(
    request: HttpRequest, token: str, *, per_link: bool = True
) -> SurveyLink | HttpResponse:
    """The token's link, counted against the rate limits; or the page to answer instead.

    The address is counted before anything touches the database. The counts are kept in this
    process and settled with the shared cache in batches (apps/responses/ratelimit.py).
    """
    address = ("address", ratelimit.address_key(client_ip(request)),
               settings.RESPONDENT_RATE_PER_ADDRESS)  # fmt: skip
    link = respondent_link_cached(token)
    counts = [address]
    if link is None:
        if ratelimit.hit(*address):
            return _limited(request)
        counts = []
        link = respondent_link(token) or _invitation_link(request, token)
        if link is None:
            return _simple(request, "not_found.html", 404)
    if per_link:
        counts.append(("link", str(link.pk), settings.RESPONDENT_RATE_PER_LINK))
    if counts and any(ratelimit.hit_many(counts)):
        return _limited(request)
    return link


def _invitation_link(request: HttpRequest, token: str) -> SurveyLink | None:
    """A personal email invitation's token: its campaign's link as seen through it (the
    invitation's token and attributes); the invitation rides on the request."""
    invitation = invitation_resolve(token)
    request.invitation = invitation  # type: ignore[attr-defined]
    return invitation.link if invitation is not None else None


def _limited(request: HttpRequest) -> HttpResponse:
    response = _simple(request, "limited.html", 429)
    response["Retry-After"] = str(ratelimit.WINDOW_SECONDS)
    return response


def _segment(request: HttpRequest, link: SurveyLink) -> dict[str, str]:
    """The link's own context, plus whitelisted attributes from the URL (a QR code's)."""
    extra = {k: str(request.GET.get(k, "")) for k in request.GET if k != "lang"}
    if not extra:
        return dict(link.context)
    whitelist = context_whitelist(
        questionnaire_id=link.questionnaire_id, organization_id=link.organization_id
    )
    from_url, _errors = context_clean(
        {k: v for k, v in extra.items() if k in whitelist}, whitelist, audience=link.audience
    )
    return {**from_url, **link.context}


def _answered_on_device(request: HttpRequest, link: SurveyLink) -> bool:
    if not link.one_response_per_device:
        return False
    try:
        return signing.loads(request.COOKIES.get(DEVICE_COOKIE, ""), salt=DEVICE_SALT) == link.pk
    except signing.BadSignature:
        return False


@csrf_exempt  # no session or account to ride on; the signed stamp ties a post to its form
def respond(request: HttpRequest, token: str) -> HttpResponse:
    link = _link_within_limits(request, token)
    if isinstance(link, HttpResponse):
        return link
    # The link's organisation, sent to the database only if a query needs it (the write sets
    # it for its own transaction: see services._insert_postgresql).
    with organization_context(link.organization_id, deferred=True):
        return _respond(request, link)


def _respond(request: HttpRequest, link: SurveyLink) -> HttpResponse:
    questionnaire = link.questionnaire
    version = questionnaire.published_version
    if (
        version is None
        or questionnaire.status != QuestionnaireStatus.PUBLISHED
        or not link.is_open()
    ):
        return _simple(request, "closed.html", 410)
    invitation = getattr(request, "invitation", None)
    if invitation is not None and invitation.answered and request.method != "POST":
        return _simple(request, "answered.html", 200, invitation=True)
    if _answered_on_device(request, link):
        return _simple(request, "answered.html", 200)
    if request.method == "POST":
        return _post(request, link)
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    items = respondent_items(link=link, version_id=version.pk)
    stamp = signing.dumps(
        {"l": link.pk, "v": version.pk, "k": uuid.uuid4().hex, "t": time.time(),
         "s": _segment(request, link)},
        salt=STAMP_SALT,
    )  # fmt: skip
    language = _pick_language(request, version.languages, request.GET.get("lang"))
    step = 1 if visible_items(items, {}, 1) else 2
    return _form(request, link, items, stamp, language, step, _focus_preselected(items, link), {})


def _post(request: HttpRequest, link: SurveyLink) -> HttpResponse:
    content_type = request.content_type or ""
    if content_type not in FORM_CONTENT_TYPES:
        return _simple(request, "bad_request.html", 400, field="content_type",
                       message=_("Send the form as a web form."))  # fmt: skip
    length = str(request.META.get("CONTENT_LENGTH") or "0")
    if not length.isdigit() or int(length) > settings.RESPONDENT_MAX_BODY_BYTES:
        return _simple(request, "bad_request.html", 413, field="body",
                       message=_("The answers are too long to store."))  # fmt: skip
    fields = _form_fields(request)

    def posted(name: str) -> str:
        return fields.get(name, [""])[-1]  # the last value, as request.POST.get gives

    try:
        stamp_value = posted("stamp")
        stamp = signing.loads(stamp_value, salt=STAMP_SALT)
        if stamp.get("l") != link.pk:
            raise signing.BadSignature("stamp of another link")
    except (signing.BadSignature, AttributeError):
        return _simple(request, "bad_request.html", 400, field="stamp", token=link.token,
                       message=_("This form is no longer valid. Please start again."))  # fmt: skip
    items = respondent_items(link=link, version_id=int(stamp["v"]))
    if not items:
        return _simple(request, "bad_request.html", 400, field="version", token=link.token,
                       message=_("This form belongs to another survey."))  # fmt: skip
    version = items[0].version
    data = {name: values for name, values in fields.items() if name[:1] == "i"}
    language = _pick_language(request, version.languages, posted("switch_lang") or posted("lang"))
    step = 2 if posted("step") == "2" else 1
    action = posted("action")

    def render_step(
        shown_step: int, errors: dict[str, list[str]] | None = None, status: int = 200
    ) -> HttpResponse:
        return _form(request, link, items, stamp_value, language, shown_step, data, errors or {},
                     status)  # fmt: skip

    if posted("switch_lang"):
        return render_step(step)
    if action == "back":
        return render_step(1)
    if action == "next":
        _cleaned, errors = answers_clean(items, data, step=1)
        return render_step(1, errors, 400) if errors else render_step(2)
    if posted(HONEYPOT):
        # A bot filled the field people never see: look successful, store nothing.
        return HttpResponseRedirect(_thanks_url(link, language))
    started = float(stamp.get("t", 0))
    if time.time() - started < settings.RESPONDENT_MIN_SECONDS:
        errors = {"form": [_("That was quick! Please check your answers and send again.")]}
        return render_step(step, errors, 400)
    respondent = Respondent(
        idempotency_key=uuid.UUID(stamp["k"]), language=language,
        started_at=datetime.fromtimestamp(started, UTC), segment=dict(stamp.get("s") or {}),
        ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )  # fmt: skip
    try:
        invitation = getattr(request, "invitation", None)
        response_submit(
            link=link,
            items=items,
            data=data,
            respondent=respondent,
            on_stored=invitation.mark_responded if invitation else None,
        )
    except ValidationFailed as exc:
        first_step_names = {field_name(i) for i in visible_items(items, data, 1)}
        back_to = 1 if set(exc.fields) & first_step_names else step
        errors = dict(exc.fields)
        if not any(name[:1] == "i" for name in errors):  # else the field messages say it all
            errors.setdefault("form", [exc.message])
        return render_step(back_to, errors, 400)
    redirect = HttpResponseRedirect(_thanks_url(link, language))
    if link.one_response_per_device:
        redirect.set_cookie(
            DEVICE_COOKIE, signing.dumps(link.pk, salt=DEVICE_SALT), max_age=365 * 24 * 3600,
            path=f"/s/{link.token}/", httponly=True, samesite="Lax",
            secure=request.is_secure(),
        )  # fmt: skip
    return redirect


def _form_fields(request: HttpRequest) -> dict[str, list[str]]:
    """The posted fields, name -> values in order.

    A web form's URL-encoded body is parsed as `request.POST` parses it (same decoding, same
    limit on the number of fields) but straight into a dict: a QueryDict's bookkeeping per
    value cost about a fifth of a submission's Python time. Multipart goes through
    `request.POST`.
    """
    if request.content_type != "application/x-www-form-urlencoded":
        return {name: request.POST.getlist(name) for name in request.POST}
    encoding = request.encoding or settings.DEFAULT_CHARSET
    body = request.body
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = body.decode("iso-8859-1")  # what QueryDict does with a misbehaving agent
    fields: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=encoding,
                          max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)  # fmt: skip
    except ValueError as exc:
        raise TooManyFieldsSent(
            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
        ) from exc
    for name, value in pairs:
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    return fields


def _thanks_url(link: SurveyLink, language: str) -> str:
    return f"{_thanks_path(get_script_prefix(), link.token)}?lang={language}"


@functools.lru_cache(maxsize=1024)
def _thanks_path(script_prefix: str, token: str) -> str:
    """The thank-you page's path, reversed once per token (reversing costs more than the rest
    of the redirect)."""
    return reverse("responses:thanks", args=[token])


def thanks(request: HttpRequest, token: str) -> HttpResponse:
    link = _link_within_limits(request, token, per_link=False)
    if isinstance(link, HttpResponse):
        return link
    with organization_context(link.organization_id, deferred=True):
        return _simple(
            request, "thanks.html", 200, link=link,
            form_url=reverse("responses:respond", args=[link.token]),
            reset_seconds=KIOSK_RESET_SECONDS, more_seconds=KIOSK_MORE_SECONDS,
        )  # fmt: skip


# --- the form ---------------------------------------------------------------------------------


def _focus_preselected(items: Sequence[Item], link: SurveyLink) -> dict[str, list[str]]:
    """A new form of a link with a touchpoint in focus: that touchpoint already marked as used."""
    focus = link.context.get(FOCUS_KEY)
    return {
        field_name(item): [SCREENING_USED]
        for item in items
        if item.kind == ItemKind.SCREENING and focus and str(item.touchpoint_id) == focus
        and any(str(choice["value"]) == SCREENING_USED for choice in item.choices)
    }  # fmt: skip


def _focus_first(items: list[Item], link: SurveyLink) -> list[Item]:
    """The questions about the link's touchpoint in focus come first, the rest in their order."""
    focus = link.context.get(FOCUS_KEY)
    if not focus:
        return items
    return sorted(items, key=lambda item: str(item.touchpoint_id) != focus)


# Contact details (given with consent, apps/alerts/consent.py) get one-line inputs that phones
# fill in and offer the right keyboard for: (input type, autocomplete token).
_CONTACT_INPUTS = {"name": ("text", "name"), "email": ("email", "email"), "phone": ("tel", "tel")}


def _question(
    item: Item, language: str, fallback: str, values: Sequence[str], error: list[str] | None
) -> dict[str, Any]:
    def text(texts: Mapping[str, str]) -> str:
        return str(texts.get(language) or texts.get(fallback) or "")

    chosen = set(values)
    contact_input = None
    if item.kind in SCALED_KINDS:
        control = "scale"
        options = [(str(p), str(p), str(p) in chosen) for p in item.scale_points()]
        if item.allow_not_applicable:
            options.append((NOT_APPLICABLE, _("Not applicable"), NOT_APPLICABLE in chosen))
    elif item.kind in TEXT_KINDS:
        control, options = "text", []
        contact_input = _CONTACT_INPUTS.get(CONTACT_KEYS.get(item.key, ""))
    else:
        control = "multi" if item.kind == ItemKind.MULTIPLE_CHOICE else "choice"
        options = [
            (str(c["value"]), text(c["texts"]), str(c["value"]) in chosen) for c in item.choices
        ]
    lo_hi = ""
    if item.kind in SCALED_KINDS and item.scale_lo is not None:
        lo_hi = _("%(lo)s = lowest, %(hi)s = highest") % {"lo": item.scale_lo, "hi": item.scale_hi}
    return {
        "name": field_name(item), "label": text(item.texts), "control": control,
        "options": options, "value": "\n".join(values), "required": item.required,
        "errors": error or [], "hint": lo_hi, "wide": len(options) > 6, "input": contact_input,
    }  # fmt: skip


def _form(
    request: HttpRequest,
    link: SurveyLink,
    items: list[Item],
    stamp: str,
    language: str,
    step: int,
    data: Mapping[str, Sequence[str]],
    errors: Mapping[str, list[str]],
    status: int = 200,
) -> HttpResponse:
    version = items[0].version if items else link.questionnaire.published_version
    languages = list(version.languages) if version else [language]
    has_screening = bool(visible_items(items, data, 1))
    steps = 2 if has_screening else 1
    step = step if has_screening else 2
    shown = _focus_first(visible_items(items, data, step), link)
    shown_names = {field_name(item) for item in shown}
    carried = [(name, value) for name, values in data.items() if name not in shown_names
               for value in values]  # fmt: skip
    form_errors = [m for key, messages in errors.items() if key not in shown_names
                   for m in messages]  # fmt: skip
    context = {
        "link": link, "language": language, "languages": languages, "stamp": stamp,
        "step": step, "steps": steps, "step_index": step if has_screening else 1,
        "carried": carried, "form_errors": form_errors,
        "has_errors": bool(errors), "honeypot": HONEYPOT,
        "is_last": step == 2, "title": link.questionnaire.name,
    }  # fmt: skip
    with translation.override(_ui_language(language)):
        context["questions"] = [
            _question(item, language, languages[0], data.get(field_name(item), []),
                      errors.get(field_name(item)))
            for item in shown
        ]  # fmt: skip
        return _page(request, "form.html", context, status=status)

"""The public opt-out page: /unsubscribe/<token>/ (the link in every invitation email).

A GET only asks (mail scanners open links); a POST opts out, from the page's button or from a
mail client's one-click unsubscribe (RFC 8058: `List-Unsubscribe=One-Click` in the body, no
cookies, no CSRF token). The token is the invitation's: unguessable, 192 bits.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from apps.core.tenancy import token_view
from apps.organizations.base import client_ip
from apps.responses import ratelimit

from . import campaign_selectors, campaign_services


def _page(request: HttpRequest, language: str, context: dict, status: int = 200) -> HttpResponse:
    with translation.override(language):
        response = render(
            request, "distribution/unsubscribe.html", {"language": language, **context},
            status=status,
        )  # fmt: skip
    patch_cache_control(response, private=True, no_store=True)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt  # one-click unsubscribe comes from mail providers, with no session or token
@token_view("survey_invitation")
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if ratelimit.hit(
        "address", ratelimit.address_key(client_ip(request)), settings.RESPONDENT_RATE_PER_ADDRESS
    ):
        return HttpResponse(status=429, headers={"Retry-After": str(ratelimit.WINDOW_SECONDS)})
    invitation = campaign_selectors.invitation_by_token(token)
    if invitation is None:
        return _page(request, settings.LANGUAGE_CODE, {"missing": True}, status=404)
    language = invitation.language or invitation.organization.default_language
    context = {"organization": invitation.organization.name, "email": invitation.email}
    if request.method == "POST":
        campaign_services.invitation_opt_out(token=token, ip_address=client_ip(request))
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
        return _page(request, language, {**context, "done": True})
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    return _page(request, language, context)

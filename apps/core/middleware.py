"""Request-scoped middleware: the request id that ties log lines and responses together."""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .logging import request_id_var
from .tenancy import serving_request

# An id from a trusted proxy is reused only if it cannot smuggle anything into a log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    header = "X-Request-ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(self.header, "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        serving = serving_request.set(True)
        try:
            response = self.get_response(request)
        finally:
            serving_request.reset(serving)
            request_id_var.reset(token)
        response[self.header] = request_id
        return response


class TrustedProxyMiddleware:
    """Sets REMOTE_ADDR to the client's address as the trusted proxies in front of us saw it.

    With TRUSTED_PROXY_COUNT = N (load balancers, ingress), the client is the N-th address from
    the right of X-Forwarded-For; entries further left were written by the client and cannot be
    trusted. With 0 (the default) the header is ignored, so nobody can spoof an address. Rate
    limits, allauth's login throttling and the audit log all read REMOTE_ADDR afterwards.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.proxy_count: int = getattr(settings, "TRUSTED_PROXY_COUNT", 0)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.proxy_count > 0:
            forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            if len(hops) >= self.proxy_count:
                candidate = hops[-self.proxy_count]
                if _is_ip(candidate):
                    request.META["REMOTE_ADDR"] = candidate
        return self.get_response(request)


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True

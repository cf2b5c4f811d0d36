"""Platform-level pages: health probes for load balancers and the public home page."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import selectors


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive and serving requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Ready for traffic only when both the database and the broker answer."""
    checks = {
        "database": selectors.database_is_reachable(),
        "broker": selectors.broker_is_reachable(),
    }
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


def home(request: HttpRequest) -> HttpResponse:
    """The public front page; signed-in people go straight to their organisations."""
    if request.user.is_authenticated:
        return redirect("organizations:choose")
    return render(request, "core/home.html")

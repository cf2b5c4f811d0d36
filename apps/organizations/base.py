"""The tenant wall for views: every organisation page and endpoint derives from these bases.

They resolve the organisation from the URL (`org_slug`), load the caller's membership (or API
key), answer 404 when the caller does not belong to it (exactly as for a missing one), check the
action the request needs with the permissions module, and run the handler inside the
organisation's context. Subclasses cannot replace that step: defining `dispatch` (web) or
`initial` (API) in a subclass is a TypeError at import time.
"""

from typing import Any, ClassVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.views import View
from rest_framework import exceptions, generics, viewsets
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.tenancy import organization_context

from .models import ApiKey, Organization
from .permissions import Action, Principal, can
from .selectors import membership_for

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _action_for(actions: dict[str, Action], default: Action | None, method: str) -> Action | None:
    if method in actions:
        return actions[method]
    if method in SAFE_METHODS:
        return actions.get("GET", default)
    return actions.get("*")


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address; behind trusted proxies TrustedProxyMiddleware has already put the
    client's own address into REMOTE_ADDR."""
    return request.META.get("REMOTE_ADDR") or None


class _Sealed:
    _sealed_method: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        sealed = cls.__dict__.get("_sealed_method") or next(
            (getattr(base, "_sealed_method", None) for base in cls.__mro__[1:]
             if getattr(base, "_sealed_method", None)), None
        )  # fmt: skip
        if sealed and sealed in cls.__dict__ and not cls.__dict__.get("_tenant_base", False):
            raise TypeError(
                f"{cls.__name__} must not override {sealed}(): the organisation is resolved there."
            )


class OrganizationView(_Sealed, View):
    """Base for HTML views under /o/<org_slug>/."""

    _sealed_method = "dispatch"
    _tenant_base = True
    # The action each HTTP method needs; GET also covers HEAD/OPTIONS, "*" any other write.
    actions: ClassVar[dict[str, Action]] = {}
    organization: Organization
    principal: Principal

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_for(user=request.user, slug=kwargs.pop("org_slug"))
        if membership is None:
            raise Http404("No such organisation.")
        self.organization = membership.organization
        self.principal = Principal.for_membership(membership)
        request.organization = self.organization  # type: ignore[attr-defined]
        request.principal = self.principal  # type: ignore[attr-defined]
        action = _action_for(self.actions, Action.ORG_VIEW, request.method or "GET")
        if action is None or not can(self.principal, action):
            raise DjangoPermissionDenied
        if _nul_names(request.GET):
            raise SuspiciousOperation("A query parameter contains a NUL character.")  # 400
        with organization_context(self.organization):
            return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"organization": self.organization, "principal": self.principal}
        context.update(kwargs)
        return context


def _nul_names(query: QueryDict) -> list[str]:
    """Query parameters with a NUL in the name or a value. PostgreSQL cannot compare text with
    NUL, so a search or filter would fail with a 500; form and serializer fields already refuse
    it in bodies."""
    return sorted({name for name, values in query.lists() for v in [name, *values] if "\x00" in v})


def _reject_nul_characters(request: Request) -> None:
    """API: a NUL in a query parameter is a 400 naming it."""
    bad = _nul_names(request.query_params)
    if bad:
        raise exceptions.ValidationError(
            {name: ["Null characters are not allowed."] for name in bad}
        )


class OrganizationAPIMixin(_Sealed):
    """Base behaviour for REST endpoints under /api/v1/o/<org_slug>/."""

    _sealed_method = "initial"
    _tenant_base = True
    # Authentication is checked in initial(): an API key carries no user.
    permission_classes: ClassVar[tuple] = ()
    actions: ClassVar[dict[str, Action]] = {}
    organization: Organization
    principal: Principal

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        slug = kwargs.get("org_slug") or getattr(self, "kwargs", {}).get("org_slug")
        if isinstance(request.auth, ApiKey):
            if request.auth.organization.slug != slug:
                raise exceptions.NotFound("No such organisation.")
            principal = Principal.for_api_key(request.auth)
        elif request.user and request.user.is_authenticated:
            membership = membership_for(user=request.user, slug=slug or "")
            if membership is None:
                raise exceptions.NotFound("No such organisation.")
            principal = Principal.for_membership(membership)
        else:
            raise exceptions.NotAuthenticated()
        self.organization = principal.organization
        self.principal = principal
        request.organization = self.organization  # type: ignore[attr-defined]
        request.principal = principal  # type: ignore[attr-defined]
        action = _action_for(self.actions, Action.ORG_VIEW, request.method or "GET")
        if action is None or not can(principal, action):
            raise exceptions.PermissionDenied("You do not have permission to do this.")
        _reject_nul_characters(request)
        # The handler runs after initial(); finalize_response() always follows and leaves it.
        self._organization_context = organization_context(self.organization)
        self._organization_context.__enter__()

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        context = getattr(self, "_organization_context", None)
        if context is not None:
            self._organization_context = None
            context.__exit__(None, None, None)
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class OrganizationAPIView(OrganizationAPIMixin, APIView):
    _tenant_base = True


class OrganizationGenericAPIView(OrganizationAPIMixin, generics.GenericAPIView):
    _tenant_base = True


class OrganizationViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    _tenant_base = True

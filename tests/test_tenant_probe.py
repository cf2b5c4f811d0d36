"""The tenant wall, probed: every URL that names an organisation or an object answers 404 to a
member of another organisation, and sends anonymous visitors to sign in.

Nobody has to remember to add a new endpoint here. The test walks the whole URL configuration
(web and API) and probes every pattern that captures a keyword, filling each keyword from the
registries below. A keyword it does not know FAILS the suite: register it, do not skip it.

- `KWARG_BUILDERS`: URL keyword -> the value pointing at an object of a given organisation.
- `COLLECTION_MODELS`: for a bare `pk`/`id`, the path segment before it (`journeys/<pk>/`)
  -> the model it names; `MODEL_BUILDERS` builds one of those in a given organisation.
- `VERBS`: URL name -> a real value for a `verb` keyword (a wrong verb would 404 for any caller).
- `NOT_TENANT_SCOPED`: route prefixes that deliberately do not belong to one organisation.
"""

import datetime
import hashlib
import itertools
import re
import secrets
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.organizations.models import ApiKey, Invitation, Organization
from apps.organizations.permissions import Principal
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

# Patterns that are not tenant-scoped by design, with the reason each is.
NOT_TENANT_SCOPED: dict[str, str] = {
    # allauth's pages belong to a person, not an organisation; their `key`s are the visitor's
    # own email-confirmation and password-reset secrets, and 2FA is per person too.
    "accounts/": "allauth: sign-in, signup, email confirmation, password reset, 2FA",
    # Platform operators (staff only) work across organisations by design.
    "admin/": "Django admin, staff only",
    # Opened by someone who is not a member yet: the unguessable token is the credential
    # (tests/organizations/test_invitations.py covers foreign, expired and revoked tokens).
    "invitations/": "invitation links: the token names the organisation",
    "i18n/": "language switch, no data",
    "api/schema/": "the OpenAPI schema, public documentation",
    "api/docs/": "Swagger UI for the schema",
    # Respondent pages: the link's unguessable token is the credential and names the
    # organisation (tests/responses and tests/distribution cover unknown and closed tokens).
    "s/": "public survey links",
    # Opting out of email: the invitation's unguessable token is the credential
    # (tests/distribution/test_optout.py covers unknown tokens).
    "unsubscribe/": "email opt-out links",
    # Unsubscribing from a report schedule: the emailed token is the credential (tests/reports).
    "r/": "report email unsubscribe links",
}

# Keywords whose values are not objects: a probe keeps them the same in every variant.
NON_OBJECT_KWARGS = {"org_slug", "verb", "format"}

UNSAFE_METHODS = ("patch", "put", "post", "delete")  # DELETE last: it may remove the target


@dataclass(frozen=True)
class Endpoint:
    route: str  # as written in the URLconf, for messages
    name: str | None  # namespaced, for reverse()
    kwargs: tuple[str, ...]
    callback: Callable[..., Any]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def object_kwargs(self) -> tuple[str, ...]:
        return tuple(k for k in self.kwargs if k not in NON_OBJECT_KWARGS)

    @property
    def methods(self) -> list[str]:
        """The HTTP methods the view answers, GET and HEAD first."""
        actions = getattr(self.callback, "actions", None)  # a DRF viewset route
        view_class = getattr(self.callback, "cls", None) or getattr(
            self.callback, "view_class", None
        )
        if actions is not None:
            declared = set(actions)
        elif view_class is not None:
            declared = {m for m in ("get", *UNSAFE_METHODS) if hasattr(view_class, m)}
        else:  # a function view: it may answer anything
            declared = {"get", "post"}
        methods = ["get", "head"] if "get" in declared else []
        return methods + [m for m in UNSAFE_METHODS if m in declared]

    def __str__(self) -> str:
        return self.route


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Endpoint]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace or ""]))
            yield from _walk(pattern, route, inner)
        elif isinstance(pattern, URLPattern):
            name = ":".join(filter(None, [namespace, pattern.name])) if pattern.name else None
            kwargs = tuple(_keywords(route))
            yield Endpoint(route=route, name=name, kwargs=kwargs, callback=pattern.callback)


def _keywords(route: str) -> list[str]:
    """Captured keyword names of a full route, in order (path converters and regex groups)."""
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    names += re.findall(r"\(\?P<(\w+)>", route)
    return list(dict.fromkeys(names))


def _allowed_reason(endpoint: Endpoint) -> str | None:
    for prefix, reason in NOT_TENANT_SCOPED.items():
        if endpoint.route.startswith(prefix):
            return reason
    return None


ALL_ENDPOINTS = list(_walk(get_resolver()))
PROBED = [e for e in ALL_ENDPOINTS if e.kwargs and _allowed_reason(e) is None]
ORG_SCOPED = [e for e in PROBED if "org_slug" in e.kwargs]


# --- building another organisation's objects ------------------------------------------------


def _system(organization: Organization) -> Principal:
    return Principal(organization=organization, role="owner")


def _membership(organization: Organization) -> Any:
    return MembershipFactory(organization=organization, role="viewer")


def _invitation(organization: Organization) -> Invitation:
    return Invitation.objects.create(
        organization=organization,
        email=f"probe-{secrets.token_hex(4)}@example.com",
        token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )


def _api_key(organization: Organization) -> ApiKey:
    return ApiKey.objects.create(
        organization=organization,
        name="probe",
        prefix=secrets.token_hex(4),
        key_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
    )


def _journey(organization: Organization) -> Any:
    from tests.factories import JourneyFactory

    return JourneyFactory(organization=organization)


def _stage(organization: Organization) -> Any:
    from tests.factories import StageFactory

    return StageFactory(journey__organization=organization)


def _touchpoint(organization: Organization) -> Any:
    from tests.factories import TouchpointFactory

    return TouchpointFactory(stage__journey__organization=organization)


def _questionnaire(organization: Organization) -> Any:
    from apps.surveys.services import questionnaire_generate

    journey = _touchpoint(organization).journey
    return questionnaire_generate(organization=organization, actor=_system(organization),
                                  journey=journey)  # fmt: skip


def _item(organization: Organization) -> Any:
    from apps.surveys.models import Item

    questionnaire = _questionnaire(organization)
    return (
        Item.objects.for_organization(organization)
        .filter(version__questionnaire=questionnaire)
        .first()
    )


def _link(organization: Organization) -> Any:
    from apps.distribution.services import link_create
    from apps.surveys.services import questionnaire_publish

    questionnaire = _questionnaire(organization)
    questionnaire_publish(organization=organization, actor=_system(organization),
                          questionnaire=questionnaire)  # fmt: skip
    questionnaire.refresh_from_db()
    return link_create(organization=organization, actor=_system(organization),
                       questionnaire=questionnaire, audience="customer")  # fmt: skip


def _context_attribute(organization: Organization) -> Any:
    from apps.distribution.services import context_attribute_set

    questionnaire = _questionnaire(organization)
    return context_attribute_set(organization=organization, actor=_system(organization),
                                 questionnaire=questionnaire, name="store")  # fmt: skip


def _report_schedule(organization: Organization) -> Any:
    from apps.reports.services import schedule_create

    return schedule_create(organization=organization, actor=_system(organization),
                           journey=_journey(organization), frequency="weekly", weekday=0, hour=8,
                           period="last_7_days", recipients=["probe@example.com"])  # fmt: skip


def _report_file(organization: Organization) -> Any:
    from apps.reports.models import ReportFile

    return ReportFile.objects.create(organization=organization, journey=_journey(organization),
                                     kind="scores_csv")  # fmt: skip


def _contact_list(organization: Organization) -> Any:
    from apps.distribution.models import ContactList

    return ContactList.objects.create(organization=organization, name="Probe",
                                      audience="customer", attribute_names=["region"])  # fmt: skip


def _contact(organization: Organization) -> Any:
    from apps.distribution.models import Contact

    return Contact.objects.create(organization=organization,
                                  contact_list=_contact_list(organization),
                                  email=f"probe-{secrets.token_hex(4)}@example.com")  # fmt: skip


def _contact_import(organization: Organization) -> Any:
    from apps.distribution.models import ContactImport

    return ContactImport.objects.create(
        organization=organization, contact_list=_contact_list(organization),
        file_name="probe.csv", file_format="csv", encoding="utf-8", delimiter=",",
        content=b"email\nprobe@example.com\n", columns=["email"], mapping={"0": "email"},
    )  # fmt: skip


def _campaign(organization: Organization) -> Any:
    from apps.distribution.models import Campaign

    return Campaign.objects.create(
        organization=organization, name="Probe", questionnaire=_link(organization).questionnaire,
        audience="customer", contact_list=_contact_list(organization),
        subjects={"en": "Hello"}, bodies={"en": "{{ link }}"},
    )  # fmt: skip


def _survey_invitation(organization: Organization) -> Any:
    from apps.distribution.models import SurveyInvitation

    return SurveyInvitation.objects.create(organization=organization,
                                           campaign=_campaign(organization),
                                           email="probe@example.com")  # fmt: skip


def _suppression(organization: Organization) -> Any:
    from apps.distribution.models import Suppression

    email = f"probe-{secrets.token_hex(4)}@example.com"
    return Suppression.objects.create(organization=organization, reason="manual", email=email)


def _improvement_action(organization: Organization) -> Any:
    from apps.actions.models import ImprovementAction

    touchpoint = _touchpoint(organization)
    today = timezone.localdate()
    return ImprovementAction.objects.create(
        organization=organization, journey=touchpoint.journey, touchpoint=touchpoint,
        title="Probe", owner=_membership(organization).user, due_date=today,
        started_on=today, baseline_from=today - datetime.timedelta(days=90),
        baseline_to=today - datetime.timedelta(days=1),
    )  # fmt: skip


def _webhook_endpoint(organization: Organization) -> Any:
    from apps.webhooks.models import WebhookEndpoint

    return WebhookEndpoint.objects.create(
        organization=organization, url="http://127.0.0.1:9/x", events=["alert.created"],
        secret="whsec_probe",
    )  # fmt: skip


def _alert(organization: Organization) -> Any:
    import uuid

    from apps.alerts.models import Alert
    from apps.responses.models import Response

    questionnaire = _link(organization).questionnaire
    response = Response.objects.create(
        organization=organization,
        questionnaire=questionnaire,
        version_id=questionnaire.published_version_id,
        audience="customer",
        idempotency_key=uuid.uuid4(),
        submitted_on=timezone.now().date(),
        language="en",
    )
    now = timezone.now()
    return Alert.objects.create(
        organization=organization, response=response, journey=questionnaire.journey,
        triggers=[{"kind": "nps", "value": 2, "lo": 0, "hi": 10}],
        due_at=now + datetime.timedelta(hours=24), escalate_at=now + datetime.timedelta(hours=48),
    )  # fmt: skip


MODEL_BUILDERS: dict[str, Callable[[Organization], Any]] = {
    "organizations.Membership": _membership,
    "organizations.Invitation": _invitation,
    "organizations.ApiKey": _api_key,
    "journeys.Journey": _journey,
    "journeys.Stage": _stage,
    "journeys.Touchpoint": _touchpoint,
    "surveys.Questionnaire": _questionnaire,
    "surveys.Item": _item,
    "distribution.SurveyLink": _link,
    "distribution.ContextAttribute": _context_attribute,
    "distribution.ContactList": _contact_list,
    "distribution.Contact": _contact,
    "distribution.ContactImport": _contact_import,
    "distribution.Campaign": _campaign,
    "distribution.SurveyInvitation": _survey_invitation,
    "distribution.Suppression": _suppression,
    "reports.ReportSchedule": _report_schedule,
    "actions.ImprovementAction": _improvement_action,
    "webhooks.WebhookEndpoint": _webhook_endpoint,
    "alerts.Alert": _alert,
}

# `.../<collection>/<pk>/...`: which model a bare pk names.
COLLECTION_MODELS: dict[str, str] = {
    "members": "organizations.Membership",
    "invitations": "organizations.Invitation",
    "api-keys": "organizations.ApiKey",
    "journeys": "journeys.Journey",
    "stages": "journeys.Stage",
    "touchpoints": "journeys.Touchpoint",
    "questionnaires": "surveys.Questionnaire",
    "items": "surveys.Item",
    "links": "distribution.SurveyLink",
    "context-attributes": "distribution.ContextAttribute",
    "contact-lists": "distribution.ContactList",
    "contacts": "distribution.Contact",
    "contact-imports": "distribution.ContactImport",
    "campaigns": "distribution.Campaign",
    "suppressions": "distribution.Suppression",
    "schedules": "reports.ReportSchedule",
    "report-schedules": "reports.ReportSchedule",
    "actions": "actions.ImprovementAction",
    "webhooks": "webhooks.WebhookEndpoint",
    "alerts": "alerts.Alert",
}

VERBS: dict[str, str] = {
    "surveys:action": "publish",
    "surveys:item_action": "twin",
    "distribution:action": "pause",
    "campaigns:action": "stop",
    "campaigns:invitation_action": "resend",
}


def _object_of(label: str) -> Callable[[Organization, Endpoint], int]:
    return lambda organization, endpoint: MODEL_BUILDERS[label](organization).pk


def _pk(organization: Organization, endpoint: Endpoint) -> int:
    return MODEL_BUILDERS[_pk_model(endpoint)](organization).pk


def _pk_model(endpoint: Endpoint) -> str:
    segments = [s for s in re.split(r"/+", endpoint.route.replace("^", "")) if s]
    for before, segment in itertools.pairwise(segments):
        if re.search(r"<(?:\w+:)?(pk|id)>|\(\?P<(pk|id)>", segment):
            label = COLLECTION_MODELS.get(before)
            if label is None:
                raise LookupError(f"a `pk` after `{before}/`: add {before!r} to COLLECTION_MODELS")
            return label
    raise LookupError("a `pk` with no collection before it: add the route to COLLECTION_MODELS")


KWARG_BUILDERS: dict[str, Callable[[Organization, Endpoint], Any]] = {
    "org_slug": lambda organization, endpoint: organization.slug,
    "pk": _pk,
    "id": _pk,
    "membership_id": _object_of("organizations.Membership"),
    "member_id": _object_of("organizations.Membership"),
    "invitation_id": _object_of("organizations.Invitation"),
    "key_id": _object_of("organizations.ApiKey"),
    "api_key_id": _object_of("organizations.ApiKey"),
    "journey_pk": _object_of("journeys.Journey"),
    "journey_id": lambda organization, endpoint: (
        _nested_touchpoint(organization, endpoint).journey_id
        if "touchpoint_id" in endpoint.kwargs
        else MODEL_BUILDERS["journeys.Journey"](organization).pk
    ),
    "stage_id": _object_of("journeys.Stage"),
    "touchpoint_id": lambda organization, endpoint: (
        _nested_touchpoint(organization, endpoint).pk
        if "journey_id" in endpoint.kwargs
        else MODEL_BUILDERS["journeys.Touchpoint"](organization).pk
    ),
    "questionnaire_id": _object_of("surveys.Questionnaire"),
    "item_id": _object_of("surveys.Item"),
    "attribute_id": _object_of("distribution.ContextAttribute"),
    "list_id": _object_of("distribution.ContactList"),
    "contact_id": _object_of("distribution.Contact"),
    "import_id": _object_of("distribution.ContactImport"),
    "campaign_id": _object_of("distribution.Campaign"),
    "survey_invitation_id": _object_of("distribution.SurveyInvitation"),
    "suppression_id": _object_of("distribution.Suppression"),
    "webhook_id": _object_of("webhooks.WebhookEndpoint"),
    "file_token": lambda organization, endpoint: _report_file(organization).token,
    "action_id": _object_of("actions.ImprovementAction"),
    "verb": lambda organization, endpoint: VERBS[endpoint.name or ""],
    "format": lambda organization, endpoint: "json",
}


def _nested_touchpoint(organization: Organization, endpoint: Endpoint) -> Any:
    """`journeys/<journey_id>/touchpoints/<touchpoint_id>/`: one touchpoint and its own journey,
    made once per organisation object and route, so both keywords name the same pair."""
    made = organization.__dict__.setdefault("_probe_nested_touchpoints", {})
    if endpoint.route not in made:
        made[endpoint.route] = MODEL_BUILDERS["journeys.Touchpoint"](organization)
    return made[endpoint.route]


def _unknown(endpoint: Endpoint) -> list[str]:
    """What the registries cannot fill for this endpoint, as instructions."""
    problems = []
    if endpoint.name is None:
        problems.append("the pattern has no name: name it, so it can be reversed")
    for kwarg in endpoint.kwargs:
        if kwarg not in KWARG_BUILDERS:
            problems.append(f"keyword `{kwarg}`: register it in KWARG_BUILDERS")
        elif kwarg in ("pk", "id"):
            try:
                _pk_model(endpoint)
            except LookupError as exc:
                problems.append(str(exc))
        elif kwarg == "verb" and endpoint.name not in VERBS:
            problems.append(f"keyword `verb`: add a real verb for {endpoint.name!r} to VERBS")
    return problems


MISSING_ID = 2_147_483_647  # an id no row has


def _url(
    endpoint: Endpoint,
    slug_from: Organization,
    objects_from: Organization,
    missing_objects: bool = False,
) -> str:
    problems = _unknown(endpoint)
    if problems:
        pytest.fail(
            f"{endpoint.route}: the tenant probe cannot build this URL: {'; '.join(problems)} "
            f"(tests/test_tenant_probe.py), or, if it is not tenant-scoped by design, add it "
            f"to NOT_TENANT_SCOPED with the reason.",
            pytrace=False,
        )
    kwargs = {}
    for kwarg in endpoint.kwargs:
        if missing_objects and kwarg in endpoint.object_kwargs:
            kwargs[kwarg] = MISSING_ID
        else:
            organization = slug_from if kwarg == "org_slug" else objects_from
            kwargs[kwarg] = KWARG_BUILDERS[kwarg](organization, endpoint)
    return reverse(endpoint.name, kwargs=kwargs)


def _client(endpoint: Endpoint, user: Any = None) -> Client | APIClient:
    client: Client | APIClient = APIClient() if endpoint.is_api else Client()
    if user is not None:
        client.force_login(user)  # session authentication, for the API too
    return client


def _call(client: Client | APIClient, method: str, url: str) -> Any:
    if method in ("get", "head", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, {})


# --- the tests ------------------------------------------------------------------------------


def test_every_url_keyword_is_known_to_the_probe():
    problems = [f"{e.route}: {p}" for e in PROBED for p in _unknown(e)]
    assert not problems, (
        "The tenant probe cannot build these URLs; register their keywords in "
        "tests/test_tenant_probe.py (or allow-list them with a reason):\n" + "\n".join(problems)
    )


def test_the_probe_sees_the_organisation_pages():
    routes = {e.route for e in ORG_SCOPED}
    assert {"o/<slug:org_slug>/", "o/<slug:org_slug>/settings/",
            "api/v1/o/<slug:org_slug>/"} <= routes  # fmt: skip
    # An allow-listed prefix must not hide an organisation's pages.
    hidden = [e.route for e in ALL_ENDPOINTS if _allowed_reason(e) and "org_slug" in e.kwargs]
    assert not hidden


def _foreign_url_failures(endpoint: Endpoint, org, other_org, member) -> list[str]:
    """`member` (of `org` only) asks for `other_org`'s URL, its slug and its objects."""
    url = _url(endpoint, slug_from=other_org, objects_from=other_org)
    client = _client(endpoint, member)
    answers = {m: _call(client, m, url).status_code for m in endpoint.methods}
    return [f"{m.upper()} {url}: {status}" for m, status in answers.items() if status != 404]


def _foreign_object_failures(endpoint: Endpoint, org, other_org, member) -> list[str]:
    """`member` puts `other_org`'s object ids into `org`'s URLs. Reading answers 404; every
    method answers exactly as for an object that does not exist (a write may check its form
    before looking the object up: then both are the same 400)."""
    url = _url(endpoint, slug_from=org, objects_from=other_org)
    missing = _url(endpoint, slug_from=org, objects_from=other_org, missing_objects=True)
    client = _client(endpoint, member)
    failures = []
    for method in endpoint.methods:
        status = _call(client, method, url).status_code
        if method in ("get", "head"):
            if status != 404:
                failures.append(f"{method.upper()} {url}: {status}")
            continue
        expected = _call(client, method, missing).status_code
        if status != expected or status < 400:
            failures.append(f"{method.upper()} {url}: {status}, a missing object: {expected}")
    return failures


@pytest.mark.parametrize("endpoint", PROBED, ids=str)
def test_another_organisations_url_answers_404(endpoint, org, other_org, owner):
    assert not _foreign_url_failures(endpoint, org, other_org, owner)


@pytest.mark.parametrize(
    "endpoint", [e for e in ORG_SCOPED if e.object_kwargs], ids=str
)  # fmt: skip
def test_another_organisations_object_under_our_slug_answers_404(endpoint, org, other_org, owner):
    assert not _foreign_object_failures(endpoint, org, other_org, owner)


@pytest.mark.parametrize("endpoint", ORG_SCOPED, ids=str)
def test_the_same_url_with_our_own_objects_is_found(endpoint, org, owner):
    """The control: the probe's URLs are real, so the 404s above are the wall, not a typo."""
    url = _url(endpoint, slug_from=org, objects_from=org)
    client = _client(endpoint, owner)
    for method in endpoint.methods:
        status = _call(client, method, url).status_code
        assert status != 404 and status < 500, f"{method.upper()} {url}: {status}"


@pytest.mark.parametrize("endpoint", ORG_SCOPED, ids=str)
def test_anonymous_visitors_sign_in_first(endpoint, org):
    url = _url(endpoint, slug_from=org, objects_from=org)
    client = _client(endpoint)
    for method in endpoint.methods:
        response = _call(client, method, url)
        if endpoint.is_api:
            assert response.status_code in (401, 403), f"{method.upper()} {url}"
        else:
            assert response.status_code == 302, f"{method.upper()} {url}"
            assert response["Location"].startswith("/accounts/login/?next="), url


# --- the probe itself is tested: it catches a leaky view ------------------------------------


def _leaky_urlconf() -> types.ModuleType:
    from django.http import HttpResponse
    from django.urls import path

    from apps.organizations.base import OrganizationView
    from apps.organizations.models import Membership

    class LeakyMemberView(OrganizationView):
        def get(self, request, membership_id):
            membership = Membership.unscoped.get(pk=membership_id)  # the bug: not scoped
            return HttpResponse(membership.user.email)

    def leaky_by_slug(request, org_slug):  # the bug: no membership check at all
        return HttpResponse(Organization.objects.get(slug=org_slug).name)

    module = types.ModuleType("leaky_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("o/<slug:org_slug>/members/<int:membership_id>/", LeakyMemberView.as_view(),
             name="leaky_member"),
        path("o/<slug:org_slug>/leaky/", leaky_by_slug, name="leaky_org"),
    ]  # fmt: skip
    return module


def test_the_probe_catches_a_view_that_forgets_the_wall(settings, org, other_org, owner):
    settings.ROOT_URLCONF = _leaky_urlconf()
    member_page, org_page = _walk(get_resolver())
    # The object lookup is not scoped: rival's member is shown under acme's slug.
    assert _foreign_object_failures(member_page, org, other_org, owner) == [
        f"GET /o/acme/members/{_latest_membership_id()}/: 200",
        f"HEAD /o/acme/members/{_latest_membership_id()}/: 200",
    ]
    # The slug is not checked against the caller's memberships at all.
    assert _foreign_url_failures(org_page, org, other_org, owner) == [
        "GET /o/rival/leaky/: 200", "HEAD /o/rival/leaky/: 200", "POST /o/rival/leaky/: 200",
    ]  # fmt: skip


def _latest_membership_id() -> int:
    from apps.organizations.models import Membership

    return Membership.unscoped.order_by("-pk").values_list("pk", flat=True)[0]

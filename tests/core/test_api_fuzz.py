"""The REST API fuzzed against its own OpenAPI schema (schemathesis, in-process over WSGI).

The schema is loaded from /api/schema/ and every operation in it is exercised, so a new app's API
is covered as soon as its URLs are included: nothing here lists operations by hand. The caller is
an organisation API key (read-write, then read-only) of the demo organisation (a journey, a
published paired questionnaire, responses processed into aggregates, links, improvement actions)
plus one of every object the tenant probe knows how to build (contacts, a campaign, report
schedules and files, webhooks, ...). Every request must answer without a 5xx, with a documented
status code, content type and headers, and a body that matches the schema; a read-only key's
write never succeeds. A third run sends input the schema forbids (schemathesis' negative mode):
still no 5xx, and every refusal documented.

Path parameters are filled with real ids (`PATH_PARAMETERS` below, one place): `{id}` from the
collection before it (the tenant probe's `COLLECTION_MODELS`), other names from this module's
dict or, failing that, from the tenant probe's `KWARG_BUILDERS`. A new app that registers its
URL keywords and models for the tenant probe (which it must) is fuzzed with real objects here
without further work; add an entry to `PATH_PARAMETERS` only to prefer the seeded data.

Bounded for CI on two cores: derandomized (the same examples every run), a few examples per
operation, no shrinking; each example runs in a savepoint that is rolled back, so a DELETE does
not take the object away from the next example.
"""

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.apps import apps as django_apps
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.organizations.models import ApiAccess, Organization
from apps.organizations.permissions import Principal
from tests.test_tenant_probe import (
    COLLECTION_MODELS,
    KWARG_BUILDERS,
    MODEL_BUILDERS,
    Endpoint,
    _report_file,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
READ_METHODS = {"GET", "HEAD"}
# The tenant probe's model builders, plus models reached by other keywords than `{id}`.
BUILDERS: dict[str, Callable[[Organization], Any]] = {
    **MODEL_BUILDERS,
    "reports.ReportFile": _report_file,
}


@dataclass(frozen=True)
class Run:
    access: str
    mode: GenerationMode  # positive: valid input; negative: input the schema forbids
    examples: int  # per operation


RUNS = {
    "read_write": Run(
        ApiAccess.READ_WRITE, GenerationMode.POSITIVE, int(os.environ.get("FUZZ_RW", 25))
    ),
    "read_only": Run(ApiAccess.READ_ONLY, GenerationMode.POSITIVE, 3),
    "invalid_input": Run(ApiAccess.READ_WRITE, GenerationMode.NEGATIVE, 3),
}


@dataclass
class Seed:
    organization: Organization
    journey: Any
    touchpoint: Any


def _first(label: str, seed: Seed) -> Any:
    """An object of the model in the seeded organisation (the demo's own first)."""
    model = django_apps.get_model(label)
    manager = model._default_manager
    rows = (
        manager.for_organization(seed.organization)
        if hasattr(manager, "for_organization")
        else manager.filter(organization=seed.organization)
    )
    found = rows.order_by("pk").first()
    return found if found is not None else BUILDERS[label](seed.organization)


def _collection_id(seed: Seed, path: str) -> Any:
    segments = [s for s in path.split("/") if s]
    for before, segment in itertools.pairwise(segments):
        if segment == "{id}":
            label = COLLECTION_MODELS.get(before)
            if label is None:
                pytest.fail(f"{path}: add {before!r} to COLLECTION_MODELS in the tenant probe")
            return _first(label, seed).pk
    raise LookupError(path)


# Path parameter name -> its value for an operation's path, from the seeded organisation.
PATH_PARAMETERS: dict[str, Callable[[Seed, str], Any]] = {
    "org_slug": lambda seed, path: seed.organization.slug,
    "id": _collection_id,
    "pk": _collection_id,
    "journey_id": lambda seed, path: seed.journey.pk,
    "touchpoint_id": lambda seed, path: seed.touchpoint.pk,
    "file_token": lambda seed, path: str(_first("reports.ReportFile", seed).token),
}


def _path_parameters(seed: Seed, path: str, names: list[str]) -> dict[str, Any]:
    values = {}
    for name in names:
        if name in PATH_PARAMETERS:
            values[name] = PATH_PARAMETERS[name](seed, path)
        elif name in KWARG_BUILDERS:  # the tenant probe's builders: a fresh object
            route = path.lstrip("/").replace("{", "<").replace("}", ">")
            endpoint = Endpoint(route=route, name=None, kwargs=tuple(names), callback=None)
            values[name] = KWARG_BUILDERS[name](seed.organization, endpoint)
        else:
            pytest.fail(f"{path}: path parameter {name!r} is unknown: add it to PATH_PARAMETERS")
    return values


@pytest.fixture
def seed() -> Seed:
    from apps.core.demo import DEMO_ORGANIZATION_SLUG, demo_load
    from apps.journeys.models import Touchpoint
    from apps.scoring.models import TouchpointDayAggregate

    demo_load()
    organization = Organization.objects.get(slug=DEMO_ORGANIZATION_SLUG)
    for label in BUILDERS:
        _first(label, Seed(organization, None, None))  # one of everything the probe knows
    aggregate = TouchpointDayAggregate.objects.for_organization(organization).order_by("pk").first()
    assert aggregate is not None, "the demo must have responses processed into aggregates"
    touchpoint = Touchpoint.objects.for_organization(organization).get(pk=aggregate.touchpoint_id)
    return Seed(organization, touchpoint.journey, touchpoint)


@pytest.fixture
def api_schema(seed):
    """The schema as served at /api/schema/, bound to the WSGI app (requests stay in-process,
    in this test's transaction: Django's per-request connection closing is switched off, as
    Django's own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class _Rollback(Exception):
    pass


def _fuzz(api_schema, seed: Seed, run_spec: Run) -> tuple[list[str], int, int]:
    from apps.organizations.api_keys import api_key_create

    access = run_spec.access
    owner = Principal(organization=seed.organization, role="owner")
    _, plaintext = api_key_create(
        organization=seed.organization, actor=owner, name=f"fuzz {access}", access=access
    )
    headers = {"Authorization": f"Bearer {plaintext}"}
    failures: list[str] = []
    operations = calls = 0
    statuses: Counter[str] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        names = [p.name for p in operation.path_parameters]
        strategy = operation.as_strategy(
            generation_mode=run_spec.mode,
            path_parameters=_path_parameters(seed, operation.path, names),
            headers=headers,
        )
        examples = run_spec.examples
        if access == "read_only" and operation.method.upper() not in READ_METHODS:
            examples = 1  # refused before the body is read: one example shows the 403

        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            try:
                with transaction.atomic():
                    response = case.call()
                    case.validate_response(response, checks=CHECKS)
                    raise _Rollback
            except _Rollback:
                pass
            statuses[f"{case.method.upper()} {response.status_code // 100}xx"] += 1
            if access == "read_only" and case.method.upper() not in READ_METHODS:
                # Refused (403), or a form or object checked first (400/404): never done.
                assert not 200 <= response.status_code < 300, (
                    f"a read-only key's write was answered {response.status_code}"
                )

        try:
            run()
        except Unsatisfiable:
            if run_spec.mode != GenerationMode.NEGATIVE:
                raise
            statuses["nothing to make invalid"] += 1  # only fixed path parameters
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a Base one
            failures.append(f"--- {operation.label} ---\n{str(exc)[:3000]}")
    print(f"{run_spec}: answers by class {dict(sorted(statuses.items()))}")
    return failures, operations, calls


@pytest.mark.parametrize("run_name", list(RUNS))
def test_api_answers_as_its_schema_says(api_schema, seed, run_name):
    started = time.monotonic()
    failures, operations, calls = _fuzz(api_schema, seed, RUNS[run_name])
    elapsed = time.monotonic() - started
    print(f"{run_name}: {operations} operations, {calls} requests, {elapsed:.1f} s")
    assert operations >= 100, "the schema lost operations: is /api/schema/ complete?"
    assert not failures, f"{len(failures)} operations contradict the schema:\n" + "\n".join(
        failures
    )

"""Every list in the API is paginated with a bounded page size.

The test walks the served OpenAPI schema, so a new app's lists are checked as soon as their URLs
are included: a GET whose success body is an array fails (wrap it in the paginator), and a
paginated one must document `page`, answer {"count", "next", "previous", "results"} and use a
paginator whose page size a client cannot raise without a limit.
"""

import re
from typing import Any

import pytest
from django.urls import Resolver404, resolve

pytestmark = pytest.mark.django_db

MAX_PAGE_SIZE = 200
# Values tried for a path parameter until the URL resolves (ints, slugs, then UUIDs).
PLACEHOLDERS = ("1", "00000000-0000-0000-0000-000000000001")


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict[str, Any]:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _success_body(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    for code in ("200", "201", "202"):
        content = operation.get("responses", {}).get(code, {}).get("content", {})
        if "application/json" in content:
            return _resolved(schema, content["application/json"].get("schema", {}))
    return None


def _view_class(path: str) -> Any:
    names = re.findall(r"{(\w+)}", path)
    for placeholder in PLACEHOLDERS:
        url = path
        for name in names:
            url = url.replace("{" + name + "}", "demo-org" if name == "org_slug" else placeholder)
        try:
            match = resolve(url)
        except Resolver404:
            continue
        return getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    raise AssertionError(f"{path}: no URL resolves for it with placeholder values")


def _lists(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path, item in schema["paths"].items():
        operation = item.get("get")
        body = _success_body(schema, operation) if operation else None
        if body is None:
            continue
        if body.get("type") == "array" or "results" in body.get("properties", {}):
            found.append((path, operation, body))
    return found


def test_the_walk_finds_the_lists(schema):
    paths = {path for path, _, _ in _lists(schema)}
    assert {"/api/v1/o/{org_slug}/journeys/", "/api/v1/o/{org_slug}/contacts/"} <= paths
    assert len(paths) >= 20


def test_every_list_is_paginated(schema):
    problems = []
    for path, operation, body in _lists(schema):
        if body.get("type") == "array":
            problems.append(f"GET {path}: answers a bare array; paginate it")
            continue
        properties = body.get("properties", {})
        missing = {"count", "next", "previous", "results"} - set(properties)
        if missing:
            problems.append(f"GET {path}: the page lacks {sorted(missing)}")
        if properties.get("results", {}).get("type") != "array":
            problems.append(f"GET {path}: `results` is not an array")
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if "page" not in query:
            problems.append(f"GET {path}: no `page` query parameter")
    assert not problems, "\n".join(problems)


def test_every_page_size_is_bounded(schema):
    problems = []
    for path, _, body in _lists(schema):
        if body.get("type") == "array":
            continue  # reported by test_every_list_is_paginated
        view_class = _view_class(path)
        pagination_class = getattr(view_class, "pagination_class", None)
        if pagination_class is None:
            problems.append(f"GET {path}: {view_class.__name__} has no pagination_class")
            continue
        paginator = pagination_class()
        size = getattr(paginator, "page_size", None)
        if not size or size > MAX_PAGE_SIZE:
            problems.append(f"GET {path}: page size {size!r} (at most {MAX_PAGE_SIZE})")
        if getattr(paginator, "page_size_query_param", None):
            limit = getattr(paginator, "max_page_size", None)
            if not limit or limit > MAX_PAGE_SIZE:
                problems.append(f"GET {path}: a client may ask for pages of {limit!r} rows")
    assert not problems, "\n".join(problems)


def test_a_list_answers_pages(admin_api, org):
    """A real request: the list answers the page shape, and a page past the end is 404."""
    url = f"/api/v1/o/{org.slug}/journey-templates/"
    body = admin_api.get(url).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"]) == 3
    assert admin_api.get(url, {"page": 99}).status_code == 404

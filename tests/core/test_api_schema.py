"""The OpenAPI schema and its Swagger UI are served, with no asset fetched from the internet."""

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "CX Platform API"


def test_swagger_ui_uses_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.text
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_schema_validates_without_warnings(tmp_path):
    """`spectacular --validate --fail-on-warn`: a name collision or an unresolvable field fails."""
    from django.core.management import call_command

    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out),
                 "--format", "openapi-json")  # fmt: skip
    assert out.stat().st_size > 0


def test_every_operation_documents_the_error_shape(client):
    """The error responses the shared plumbing can answer are documented with the one shape."""
    schema = client.get("/api/schema/", {"format": "json"}).json()
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fields"]
    missing = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            expected = {"401", "403"} | ({"404"} if "{" in path else set())
            if method != "get":
                expected |= {"400", "409"}
            for code in sorted(expected):
                content = operation["responses"].get(code, {}).get("content", {})
                ref = content.get("application/json", {}).get("schema", {}).get("$ref")
                if ref != "#/components/schemas/Error":
                    missing.append(f"{method.upper()} {path} {code}")
    assert not missing, missing

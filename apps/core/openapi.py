"""OpenAPI schema post-processing: every operation documents the one error shape it can answer.

Every API error is rendered by `apps.core.api.exception_handler` as
`{"error": {"code", "message", "fields"}}`. Views document their success responses; this hook adds
the error responses that the shared plumbing can produce to every operation, so that a client (and
the schema fuzz test, tests/core/test_api_fuzz.py) knows each status code and its body:

- 400 for every write and every operation with query parameters (services validate too),
- 401 and 403 for every operation (no or bad credentials; a role or key without the right),
- 404 for every operation with path parameters (unknown organisation or object),
- 409 for every write (a service refused a conflicting change).

A status a view already documents (e.g. a 409 with its own description) is left as it is.
"""

from typing import Any

ERROR_COMPONENT = "Error"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error shape of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "A stable machine-readable code."},
                "message": {"type": "string", "description": "A human-readable message."},
                "fields": {
                    "type": "object",
                    "description": "Messages per invalid input field (empty when none).",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}

_DESCRIPTIONS = {
    "400": "Invalid input: `fields` names each invalid field.",
    "401": "No credentials, or an invalid or revoked API key.",
    "403": "The caller's role or API key does not allow this.",
    "404": "No such organisation or object (or it belongs to another organisation).",
    "409": "The change conflicts with the object's current state.",
}
_WRITES = {"post", "put", "patch", "delete"}
_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}


def _error_codes(method: str, operation: dict[str, Any], path_item: dict[str, Any]) -> list[str]:
    parameters = [*path_item.get("parameters", []), *operation.get("parameters", [])]
    codes = ["401", "403"]
    has_input = "requestBody" in operation or any(p.get("in") == "query" for p in parameters)
    if has_input or method in _WRITES:
        codes.append("400")
    if any(p.get("in") == "path" for p in parameters):
        codes.append("404")
    if method in _WRITES:
        codes.append("409")
    return sorted(codes)


def error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: add the error responses to every operation."""
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in _error_codes(method, operation, path_item):
                responses.setdefault(
                    code,
                    {
                        "description": _DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": ref}},
                    },
                )
    return result

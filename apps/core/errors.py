"""The one error type for expected failures: bad input, conflicts, missing or forbidden objects."""

from typing import ClassVar


class ApplicationError(Exception):
    """An expected failure with a stable code, a human message and optional per-field messages.

    Services raise it; the API renders it as {"error": {"code", "message", "fields"}} and forms
    show the field messages next to their fields.
    """

    code: ClassVar[str] = "invalid"
    status_code: ClassVar[int] = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationFailed(ApplicationError):
    code = "invalid"
    status_code = 400


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status_code = 403

"""The organisation a request or task acts for, and the base for every tenant-owned model.

Tenant querysets must be scoped before they are evaluated: `Model.objects.for_organization(org)`.
A deliberately unscoped read (admin, cross-tenant maintenance) says so: `Model.unscoped`.

On PostgreSQL the database enforces the same wall a second time (row-level security, see
apps/core/rls.py): every tenant table admits only rows whose organisation is the one in the
session setting `cx.organization_id`. The contexts here keep that setting in step:

- `organization_context(org)`: requests and tasks. Sets the organisation on the connection at
  entry and puts back the enclosing state at exit (one statement each).
- `organization_context(org, deferred=True)`: the respondent pages. Nothing is sent until a
  query runs in it; the respondent write sets the organisation for its own transaction in the
  same network round trip (`execute_for_organization`), so the hot path costs nothing extra.
- `user_context(user)`: a signed-in user's own memberships across organisations (the switcher,
  resolving the organisation of a URL).
- `all_organizations()`: the beat's cross-tenant maintenance only; refused while a request is
  being served.

The setting is a session setting, not `SET LOCAL`: Django runs in autocommit, where a
transaction-local setting would vanish after the first statement.
"""

import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

from django.db import DEFAULT_DB_ALIAS, connections, models

if TYPE_CHECKING:
    from apps.organizations.models import Organization

_current_organization_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_organization_id", default=None
)
_current_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_user_id", default=None
)
_all_organizations: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "all_organizations", default=False
)
# Set by RequestIdMiddleware for the whole of a request: all_organizations() refuses to run then.
serving_request: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "serving_request", default=False
)
# A deferred context not yet sent to the connection (the respondent pages).
_deferred: contextvars.ContextVar["_Deferred | None"] = contextvars.ContextVar(
    "deferred_organization", default=None
)


def current_organization_id() -> int | None:
    return _current_organization_id.get()


# --- the session settings on PostgreSQL --------------------------------------------------------

_APPLY_SQL = (
    "SELECT pg_catalog.set_config('cx.organization_id', %s, false), "
    "pg_catalog.set_config('cx.user_id', %s, false), "
    "pg_catalog.set_config('cx.all_organizations', %s, false)"
)
# The psycopg connection remembers what was last sent (checked when the pool hands it out).
_STATE_ATTRIBUTE = "_cx_tenant_state"
_EMPTY = ("", "", "")
_UNKNOWN = ("?", "?", "?")


def _wanted() -> tuple[str, str, str]:
    organization_id = _current_organization_id.get()
    user_id = _current_user_id.get()
    everything = _all_organizations.get() and organization_id is None
    return (
        "" if organization_id is None else str(organization_id),
        "" if user_id is None else str(user_id),
        "on" if everything else "",
    )


def _postgresql() -> Any | None:
    connection = connections[DEFAULT_DB_ALIAS]
    return connection if connection.vendor == "postgresql" else None


def _apply(*, connect: bool = True, state: tuple[str, str, str] | None = None) -> None:
    """Send the current state to the connection (one statement, not in Django's query log: it is
    plumbing, and query-count tests count the application's own queries)."""
    connection = _postgresql()
    if connection is None or (connection.connection is None and not connect):
        return
    connection.ensure_connection()
    raw = connection.connection
    from psycopg import pq

    if raw.info.transaction_status == pq.TransactionStatus.INERROR:
        # The transaction failed and will be rolled back, which undoes a setting made inside
        # it; one made before it stays. Which it was is unknown: the next context sends again.
        setattr(raw, _STATE_ATTRIBUTE, _UNKNOWN)
        return
    state = state or _wanted()
    with connection.wrap_database_errors:
        raw.execute(_APPLY_SQL, state)
    setattr(raw, _STATE_ATTRIBUTE, state)


def connection_checked_out(connection: Any) -> None:
    """A connection from the pool (or a new one): if a context could not put its state back
    (it failed mid-transaction), clear it before anything else runs on it."""
    raw = connection.connection
    if raw is None or connection.alias != DEFAULT_DB_ALIAS:
        return
    # Inside a deferred context not yet sent, what the connection must have is the state
    # around it: the respondent write sends its organisation itself (no round trip here).
    pending = _deferred.get()
    target = pending.outer if pending is not None and not pending.sent else _wanted()
    if getattr(raw, _STATE_ATTRIBUTE, _EMPTY) != target:
        _apply(state=target)


@contextmanager
def _state(var: contextvars.ContextVar[Any], value: Any) -> Iterator[None]:
    token = var.set(value)
    try:
        _apply()
        yield
    finally:
        var.reset(token)
        _apply(connect=False)


@contextmanager
def organization_context(
    organization: "Organization | int", *, deferred: bool = False
) -> Iterator[None]:
    """Enter an organisation for the duration of a request or task."""
    organization_id = organization if isinstance(organization, int) else organization.pk
    if not deferred:
        with _state(_current_organization_id, organization_id):
            yield
        return
    pending = _Deferred(outer=_wanted())
    token = _current_organization_id.set(organization_id)
    deferred_token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(deferred_token)
        _current_organization_id.reset(token)
        if pending.sent:
            _apply(connect=False)


@contextmanager
def user_context(user: Any) -> Iterator[None]:
    """The signed-in user: their own memberships are readable whatever the organisation."""
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    with _state(_current_user_id, user_id):
        yield


@contextmanager
def all_organizations() -> Iterator[None]:
    """Every organisation's rows, for the beat's cross-tenant maintenance (finding due work;
    doing it enters each organisation). Never while serving a request."""
    if serving_request.get():
        raise RuntimeError("all_organizations() is for background maintenance, not requests.")
    if _current_organization_id.get() is not None:
        raise RuntimeError("all_organizations() inside an organisation's context.")
    with _state(_all_organizations, True):
        yield


class _Deferred:
    def __init__(self, outer: tuple[str, str, str]) -> None:
        self.outer = outer  # the state around the context
        self.sent = False


def deferred_apply_wrapper(
    execute: Callable, sql: str, params: Any, many: bool, context: Any
) -> Any:
    """Django execute wrapper: a deferred context is sent before the first query that needs it."""
    pending = _deferred.get()
    if pending is not None and not pending.sent:
        pending.sent = True
        _apply()
    return execute(sql, params, many, context)


_SET_LOCAL_SQL = "SELECT pg_catalog.set_config('cx.organization_id', %s, true)"


def execute_for_organization(
    cursor: Any, organization_id: int, sql: str, params: Sequence[Any]
) -> None:
    """Run one statement with the organisation set for its own transaction, in the same network
    round trip (psycopg's pipeline mode: both statements travel together and share the
    transaction, in autocommit as inside `atomic`). For the respondent write; elsewhere the
    contexts above do it."""
    connection = cursor.db
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    token = _deferred.set(None)  # this statement carries its own setting
    try:
        with connection.wrap_database_errors, connection.connection.pipeline():
            cursor.cursor.execute(_SET_LOCAL_SQL, [str(organization_id)])  # psycopg's own
            cursor.execute(sql, params)
    finally:
        _deferred.reset(token)


def token_owner(kind: str, token: str) -> tuple[int, int] | None:
    """(row id, organisation id) of the row a public token names, or None. On PostgreSQL through
    the one SECURITY DEFINER function `cx_token_owner` (apps/core/rls.py): it returns nothing
    but these two numbers, so the runtime role reads no other tenant's row to find it."""
    from .rls import token_owner as lookup

    return lookup(kind, token)


class UnscopedQueryError(RuntimeError):
    """A tenant queryset was evaluated without being scoped to an organisation."""


class TenantQuerySet(models.QuerySet):
    _scoped = False

    def for_organization(self, organization: "Organization | int") -> Self:
        organization_id = organization if isinstance(organization, int) else organization.pk
        clone = self.filter(organization_id=organization_id)
        clone._scoped = True
        return clone

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]
        clone._scoped = self._scoped
        return clone

    def _require_scope(self) -> None:
        if not self._scoped:
            raise UnscopedQueryError(
                f"{self.model.__name__} queried without an organisation: use "
                f"{self.model.__name__}.objects.for_organization(org) "
                f"(or {self.model.__name__}.unscoped where crossing tenants is intended)."
            )

    def _fetch_all(self) -> None:
        self._require_scope()
        super()._fetch_all()

    def count(self) -> int:
        self._require_scope()
        return super().count()

    def exists(self) -> bool:
        self._require_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._require_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._require_scope()
        return super().delete()

    def iterator(self, chunk_size: int | None = None) -> Iterator[Any]:
        self._require_scope()
        return super().iterator(chunk_size=chunk_size)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class TenantModel(models.Model):
    """A row owned by one organisation. Unique constraints of subclasses include `organization`."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+", db_index=True
    )

    # The first manager is Django's default (admin, related lookups): deliberately unscoped,
    # because those paths are already filtered by a relation or are operator-only.
    unscoped = models.Manager()
    objects = TenantManager()

    class Meta:
        abstract = True


@contextmanager
def token_context(
    kind: str, token: str, *, deferred: bool = False
) -> Iterator[tuple[int, int] | None]:
    """Resolve a public token (`token_owner`) and enter its organisation; yields (row id,
    organisation id), or None (and no organisation) when the token names nothing."""
    found = token_owner(kind, token)
    if found is None:
        yield None
        return
    with organization_context(found[1], deferred=deferred):
        yield found


def token_view(
    kind: str, *, key: Callable[[str], str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A public view whose URL carries a token (`token` argument): the whole view, template
    rendering included, runs in the organisation the token names (none if it names nothing).
    `key` turns the URL's token into the stored one (a hash)."""
    from functools import wraps

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(request: Any, token: str, *args: Any, **kwargs: Any) -> Any:
            with token_context(kind, key(token) if key else token):
                return view(request, token, *args, **kwargs)

        return wrapped

    return decorate

"""The organisation a request or task acts for, and the base for every tenant-owned model.

Tenant querysets must be scoped before they are evaluated: `Model.objects.for_organization(org)`.
A deliberately unscoped read (admin, cross-tenant maintenance) says so: `Model.unscoped`.
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

from django.db import models

if TYPE_CHECKING:
    from apps.organizations.models import Organization

_current_organization_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_organization_id", default=None
)


def current_organization_id() -> int | None:
    return _current_organization_id.get()


@contextmanager
def organization_context(organization: "Organization") -> Iterator[None]:
    """Enter an organisation for the duration of a request or task."""
    token = _current_organization_id.set(organization.pk)
    try:
        yield
    finally:
        _current_organization_id.reset(token)


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

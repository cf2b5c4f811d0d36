"""Writes on organisations: creation with its first owner, and settings."""

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed

from .models import Membership, Organization, Role
from .permissions import Action, Principal, require

# Slugs that would collide with fixed URL segments or mislead.
RESERVED_SLUGS = {"admin", "api", "accounts", "static", "media", "new", "o", "settings", "www"}
EDITABLE_SETTINGS = (
    "name",
    "time_zone",
    "default_language",
    "min_n",
    "gap_threshold",
    "alpha",
    "employee_anonymity_min",
    "top_priorities",
)


def _slug_base(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "org"
    return f"{base}-org" if base in RESERVED_SLUGS else base


def organization_slug_for(name: str) -> str:
    """A free slug derived from the name: 'acme', then 'acme-2', 'acme-3', ..."""
    base = _slug_base(name)
    taken = set(
        Organization.objects.filter(slug__regex=rf"^{re.escape(base)}(-[0-9]+)?$").values_list(
            "slug", flat=True
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


@transaction.atomic
def organization_create(
    *, name: str, owner: User, slug: str | None = None, ip_address: str | None = None, **extra: Any
) -> Organization:
    """Create an organisation with `owner` as its first owner."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(
            "The organisation needs a name.", fields={"name": ["This field is required."]}
        )
    if slug is not None:
        slug = slugify(slug)
        if not slug or slug in RESERVED_SLUGS:
            raise ValidationFailed(
                "This address is not available.", fields={"slug": ["Choose another address."]}
            )
        if Organization.objects.filter(slug=slug).exists():
            raise Conflict(
                f"The address '{slug}' is already taken.",
                fields={"slug": ["This address is already taken."]},
            )
    organization = Organization(name=name, slug=slug or organization_slug_for(name), **extra)
    _validate(organization)
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError as exc:  # a concurrent signup took the same slug
        raise Conflict(
            f"The address '{organization.slug}' is already taken.",
            fields={"slug": ["This address is already taken."]},
        ) from exc
    membership = Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    audit_record(
        organization=organization,
        actor=Principal.for_membership(membership),
        action="organization.created",
        target=organization,
        data={"slug": organization.slug},
        ip_address=ip_address,
    )
    return organization


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    actor: Principal,
    ip_address: str | None = None,
    **changes: Any,
) -> Organization:
    """Change the name, time zone, language or scoring settings (admins and owners)."""
    require(actor, Action.ORG_EDIT, organization)
    unknown = sorted(set(changes) - set(EDITABLE_SETTINGS))
    if unknown:
        raise ValidationFailed(
            f"Unknown settings: {', '.join(unknown)}.",
            fields={name: ["Unknown setting."] for name in unknown},
        )
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    before = {field: getattr(organization, field) for field in changes}
    for field, value in changes.items():
        setattr(organization, field, value)
    _validate(organization)
    changed = {f: [before[f], getattr(organization, f)] for f in changes if before[f] != changes[f]}
    if changed:
        organization.save(update_fields=list(changed))
        audit_record(
            organization=organization,
            actor=actor,
            action="organization.settings_changed",
            target=organization,
            data={"changes": changed},
            ip_address=ip_address,
        )
    return organization


def _validate(organization: Organization) -> None:
    try:
        organization.full_clean(exclude=["slug"] if organization.pk else None)
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in msgs] for name, msgs in exc.message_dict.items()}
        raise ValidationFailed(
            f"Invalid settings: {', '.join(sorted(fields))}.", fields=fields
        ) from exc

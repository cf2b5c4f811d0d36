"""API keys: minting (the secret is shown once), verifying, revoking."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import NotFound, ValidationFailed
from apps.core.tenancy import token_context

from .models import ApiAccess, ApiKey, Organization
from .permissions import Action, Principal, require

KEY_PREFIX = "cx_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    actor: Principal,
    name: str,
    access: str = ApiAccess.READ_ONLY,
    ip_address: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the plaintext, which is never stored or shown again."""
    require(actor, Action.API_KEYS_MANAGE, organization)
    fields: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        fields["name"] = ["This field is required."]
    elif len(name) > 100:
        fields["name"] = ["At most 100 characters."]
    if access not in ApiAccess.values:
        fields["access"] = [f"Choose one of: {', '.join(ApiAccess.values)}."]
    if fields:
        raise ValidationFailed(f"Invalid API key: {', '.join(sorted(fields))}.", fields=fields)
    prefix = secrets.token_hex(4)  # 32 bits: tells keys apart, not a secret
    secret = secrets.token_urlsafe(32)  # 256 bits
    plaintext = f"{KEY_PREFIX}{prefix}_{secret}"
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        key_hash=_hash(plaintext),
        access=access,
        created_by=actor.user,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="api_key.created",
        target=key,
        data={"access": access, "prefix": prefix},
        ip_address=ip_address,
    )
    return key, plaintext


@transaction.atomic
def api_key_revoke(
    *, organization: Organization, actor: Principal, key_id: int, ip_address: str | None = None
) -> ApiKey:
    require(actor, Action.API_KEYS_MANAGE, organization)
    key = (
        ApiKey.objects.for_organization(organization).select_for_update().filter(pk=key_id).first()
    )
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = actor.user
        key.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            organization=organization,
            actor=actor,
            action="api_key.revoked",
            target=key,
            data={"prefix": key.prefix},
            ip_address=ip_address,
        )
    return key


def api_key_verify(plaintext: str) -> ApiKey | None:
    """The key matching the presented secret (revoked ones too: the caller says which), or None.

    The hash comparison is constant-time.
    """
    if not plaintext.startswith(KEY_PREFIX):
        return None
    prefix, _, _secret = plaintext[len(KEY_PREFIX) :].partition("_")
    with token_context("api_key", prefix) as found:  # the prefix names the organisation
        if found is None:
            return None
        key = ApiKey.unscoped.select_related("organization").filter(pk=found[0]).first()
        if key is None or not hmac.compare_digest(key.key_hash, _hash(plaintext)):
            return None
        if key.revoked_at is not None:
            return key
        # Record use at most once a minute per key: no write on every request.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.unscoped.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
    return key

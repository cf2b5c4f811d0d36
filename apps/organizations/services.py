"""Writes on organisations: creation with its first owner, settings, members and invitations."""

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import slugify

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.emails import render_subject
from apps.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.tenancy import organization_context, token_context
from apps.journeys.services import ownerships_release

from .models import Invitation, Membership, Organization, Role
from .permissions import Action, Principal, can, require
from .selectors import invitation_token_hash

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
    with organization_context(organization):
        membership = Membership.objects.create(
            organization=organization, user=owner, role=Role.OWNER
        )
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


# --- Members ------------------------------------------------------------------------------------


def _locked_memberships(organization: Organization) -> list[Membership]:
    """Every membership of the organisation, locked until the transaction ends.

    Two owners demoting each other at the same moment would otherwise both see "another owner
    remains" and leave the organisation without one.
    """
    return list(
        Membership.objects.for_organization(organization)
        .select_for_update(of=("self",))
        .select_related("user")
        .order_by("pk")
    )


def _membership_in(memberships: list[Membership], membership_id: int) -> Membership:
    for membership in memberships:
        if membership.pk == membership_id:
            return membership
    raise NotFound("No such member.")


def _refuse_last_owner(memberships: list[Membership], target: Membership, what: str) -> None:
    owners = [m for m in memberships if m.role == Role.OWNER]
    if target.role == Role.OWNER and len(owners) == 1:
        raise Conflict(
            f"{target.user.email} is the last owner and cannot {what}: "
            "make another member an owner first.",
            fields={"role": ["The organisation must keep at least one owner."]},
        )


def _require_owner_rights(actor: Principal, *roles: str) -> None:
    if Role.OWNER in roles and not can(actor, Action.OWNERS_MANAGE):
        raise PermissionDenied("Only owners can grant or take the owner role.")


@transaction.atomic
def membership_change_role(
    *,
    organization: Organization,
    actor: Principal,
    membership_id: int,
    role: str,
    ip_address: str | None = None,
) -> Membership:
    """Give a member another role. Only owners touch the owner role; one owner always remains."""
    require(actor, Action.MEMBERS_MANAGE, organization)
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role: {role!r}.",
            fields={"role": [f"Choose one of: {', '.join(Role.values)}."]},
        )
    memberships = _locked_memberships(organization)
    membership = _membership_in(memberships, membership_id)
    before = membership.role
    _require_owner_rights(actor, before, role)
    if before == role:
        return membership
    _refuse_last_owner(memberships, membership, "stop being an owner")
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        organization=organization,
        actor=actor,
        action="membership.role_changed",
        target=membership,
        target_label=membership.user.email,
        data={"email": membership.user.email, "before": before, "after": role},
        ip_address=ip_address,
    )
    return membership


@transaction.atomic
def membership_remove(
    *,
    organization: Organization,
    actor: Principal,
    membership_id: int,
    ip_address: str | None = None,
) -> None:
    """Take a member out of the organisation (admins remove non-owners, owners anyone)."""
    require(actor, Action.MEMBERS_MANAGE, organization)
    memberships = _locked_memberships(organization)
    membership = _membership_in(memberships, membership_id)
    _require_owner_rights(actor, membership.role)
    _refuse_last_owner(memberships, membership, "be removed")
    ownerships_release(
        organization=organization, actor=actor, user_id=membership.user_id, ip_address=ip_address
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="membership.removed",
        target=membership,
        target_label=membership.user.email,
        data={"email": membership.user.email, "role": membership.role},
        ip_address=ip_address,
    )
    membership.delete()


@transaction.atomic
def membership_leave(
    *, organization: Organization, actor: Principal, ip_address: str | None = None
) -> None:
    """The acting member leaves the organisation; the last owner has to hand over first."""
    if actor.membership is None:
        raise PermissionDenied("Only a member can leave an organisation.")
    memberships = _locked_memberships(organization)
    membership = _membership_in(memberships, actor.membership.pk)
    _refuse_last_owner(memberships, membership, "leave")
    ownerships_release(
        organization=organization, actor=actor, user_id=membership.user_id, ip_address=ip_address
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="membership.left",
        target=membership,
        target_label=membership.user.email,
        data={"email": membership.user.email, "role": membership.role},
        ip_address=ip_address,
    )
    membership.delete()


# --- Invitations --------------------------------------------------------------------------------

INVITATION_VALIDITY = timedelta(days=7)
# Invitations send email from our domain to any address with a name the inviter chose, so they
# are limited like a mail relay would be: no rapid resends, few per address, a daily cap.
INVITATION_RESEND_COOLDOWN = timedelta(minutes=10)
INVITATION_MAX_SENDS = 5
INVITATIONS_PER_DAY = 200


def _limit_invitation_sending(
    organization: Organization, invitation: Invitation | None, now: datetime
) -> None:
    if invitation is not None:
        if invitation.send_count >= INVITATION_MAX_SENDS:
            raise Conflict(
                f"This invitation was already sent {invitation.send_count} times.",
                fields={"invitation": ["Revoke it, or ask the person to check their spam."]},
            )
        last = invitation.last_sent_at
        if last is not None and now - last < INVITATION_RESEND_COOLDOWN:
            minutes = int(INVITATION_RESEND_COOLDOWN.total_seconds() // 60)
            raise Conflict(
                f"This invitation was sent less than {minutes} minutes ago.",
                fields={"invitation": [f"Wait {minutes} minutes before sending it again."]},
            )
    sent_today = (
        Invitation.objects.for_organization(organization)
        .filter(last_sent_at__gte=now - timedelta(days=1))
        .count()
    )
    if sent_today >= INVITATIONS_PER_DAY:
        raise Conflict(
            f"This organisation has sent {INVITATIONS_PER_DAY} invitations in the last day.",
            fields={"email": ["Try again tomorrow, or contact support for a larger team."]},
        )


def _new_invitation_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)  # 256 random bits; only its hash is stored
    return token, invitation_token_hash(token)


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "Enter a valid email address.", fields={"email": ["Enter a valid email address."]}
        ) from exc
    return email


@transaction.atomic
def invitation_create(
    *,
    organization: Organization,
    actor: Principal,
    email: str,
    role: str = Role.VIEWER,
    ip_address: str | None = None,
) -> Invitation:
    """Invite an address with a role; the email with the link goes out once the data is saved."""
    require(actor, Action.MEMBERS_MANAGE, organization)
    email = _clean_email(email)
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role: {role!r}.",
            fields={"role": [f"Choose one of: {', '.join(Role.values)}."]},
        )
    _require_owner_rights(actor, role)
    members = Membership.objects.for_organization(organization)
    if members.filter(user__email__iexact=email).exists():
        raise Conflict(
            f"{email} is already a member of {organization.name}.",
            fields={"email": ["This person is already a member."]},
        )
    now = timezone.now()
    _limit_invitation_sending(organization, None, now)
    token, token_hash = _new_invitation_token()
    invitation = Invitation(
        organization=organization,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=actor.user,
        expires_at=now + INVITATION_VALIDITY,
        last_sent_at=now,
        send_count=1,
    )
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError as exc:  # the conditional unique constraint: one open invitation
        raise Conflict(
            f"{email} already has an open invitation: resend or revoke it instead.",
            fields={"email": ["This address already has an open invitation."]},
        ) from exc
    audit_record(
        organization=organization,
        actor=actor,
        action="invitation.created",
        target=invitation,
        target_label=email,
        data={"email": email, "role": role},
        ip_address=ip_address,
    )
    _send_invitation_on_commit(invitation, token)
    return invitation


def _open_invitation(organization: Organization, invitation_id: int) -> Invitation:
    invitation = (
        Invitation.objects.for_organization(organization)
        .select_for_update()
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation has already been accepted.")
    if invitation.revoked_at is not None:
        raise Conflict("This invitation has been revoked.")
    return invitation


@transaction.atomic
def invitation_resend(
    *,
    organization: Organization,
    actor: Principal,
    invitation_id: int,
    ip_address: str | None = None,
) -> Invitation:
    """Send the invitation again with a new link (the old one stops working) and a new week."""
    require(actor, Action.MEMBERS_MANAGE, organization)
    invitation = _open_invitation(organization, invitation_id)
    _require_owner_rights(actor, invitation.role)
    now = timezone.now()
    _limit_invitation_sending(organization, invitation, now)
    token, invitation.token_hash = _new_invitation_token()
    invitation.expires_at = now + INVITATION_VALIDITY
    invitation.last_sent_at = now
    invitation.send_count += 1
    invitation.save(update_fields=["token_hash", "expires_at", "last_sent_at", "send_count"])
    audit_record(
        organization=organization,
        actor=actor,
        action="invitation.resent",
        target=invitation,
        target_label=invitation.email,
        data={"email": invitation.email, "send_count": invitation.send_count},
        ip_address=ip_address,
    )
    _send_invitation_on_commit(invitation, token)
    return invitation


@transaction.atomic
def invitation_revoke(
    *,
    organization: Organization,
    actor: Principal,
    invitation_id: int,
    ip_address: str | None = None,
) -> Invitation:
    require(actor, Action.MEMBERS_MANAGE, organization)
    invitation = _open_invitation(organization, invitation_id)
    _require_owner_rights(actor, invitation.role)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        target_label=invitation.email,
        data={"email": invitation.email},
        ip_address=ip_address,
    )
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str, user: User, ip_address: str | None = None
) -> tuple[Membership, bool]:
    """Join the invitation's organisation; returns the membership and whether it is new.

    Whoever holds the link may accept it: the token is the proof. Someone already a member keeps
    their role and the invitation is closed.
    """
    with token_context("member_invitation", invitation_token_hash(token)):
        return _invitation_accept(token=token, user=user, ip_address=ip_address)


def _invitation_accept(
    *, token: str, user: User, ip_address: str | None
) -> tuple[Membership, bool]:
    invitation = (
        Invitation.unscoped.select_for_update(of=("self",))  # the token names the organisation
        .select_related("organization")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.status != "pending":
        raise Conflict(_INVITATION_CLOSED[invitation.status])
    organization = invitation.organization
    membership, created = Membership.objects.for_organization(organization).get_or_create(
        organization=organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        organization=organization,
        actor=Principal.for_membership(membership),
        action="invitation.accepted",
        target=invitation,
        target_label=invitation.email,
        data={
            "email": invitation.email,
            "accepted_by": user.email,
            "role": membership.role,
            "already_member": not created,
        },
        ip_address=ip_address,
    )
    return membership, created


def invitation_accept_at_signup(*, token: str, user: User, ip_address: str | None = None) -> bool:
    """At signup through an invitation: when the new account's address is the invited one, the
    link proved the address, so it is verified and the invitation accepted. Returns whether so.
    """
    with token_context("member_invitation", invitation_token_hash(token)):
        invitation = (
            Invitation.unscoped.filter(token_hash=invitation_token_hash(token))
            .only("email")
            .first()
        )
    if invitation is None or invitation.email.lower() != user.email.lower():
        return False
    with transaction.atomic():
        try:
            invitation_accept(token=token, user=user, ip_address=ip_address)
        except (NotFound, Conflict):
            return False
        EmailAddress.objects.filter(user=user, email__iexact=user.email).update(verified=True)
    return True


_INVITATION_CLOSED = {
    "accepted": "This invitation has already been used.",
    "revoked": "This invitation has been revoked.",
    "expired": "This invitation has expired.",
}


def _send_invitation_on_commit(invitation: Invitation, token: str) -> None:
    # The plaintext token exists only here: it is handed to the mail after the commit, never
    # stored or queued.
    invitation_id = invitation.pk
    transaction.on_commit(lambda: invitation_send_email(invitation_id=invitation_id, token=token))


def invitation_send_email(*, invitation_id: int, token: str) -> None:
    """Mail the invitation link, in the organisation's default language."""
    invitation = (
        Invitation.unscoped.select_related("organization", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        return
    organization = invitation.organization
    inviter = invitation.invited_by
    context = {
        "organization": organization,
        "invitation": invitation,
        "inviter": (inviter.full_name or inviter.email) if inviter else organization.name,
        "role": invitation.get_role_display(),
        "url": settings.SITE_URL.rstrip("/") + reverse("invitation", args=[token]),
        "expires_at": invitation.expires_at,
        "language": organization.default_language,
    }
    with translation.override(organization.default_language):
        subject = render_subject("emails/invitation_subject.txt", context)
        body = render_to_string("emails/invitation.txt", context)
        html = render_to_string("emails/invitation.html", context)
    message = EmailMultiAlternatives(subject=subject, body=body, to=[invitation.email])
    message.attach_alternative(html, "text/html")
    message.send()

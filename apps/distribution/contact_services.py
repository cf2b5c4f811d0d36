"""Writes on contact lists: lists, contacts by hand, imports from files, the suppression list."""

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.organizations.models import Organization
from apps.organizations.permissions import Action, Principal, require
from apps.surveys.models import Audience

from . import contact_imports as files
from .models import (
    Contact,
    ContactImport,
    ContactList,
    ImportStatus,
    InvitationStatus,
    Suppression,
    SuppressionReason,
    SurveyInvitation,
)

logger = logging.getLogger(__name__)

IMPORT_CHUNK = 1000
REJECTED_KEPT = 10_000
# An import whose worker stopped moving this long ago is queued again (its writes are upserts).
IMPORT_STALE = timedelta(minutes=10)


# --- lists ----------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()[:200]
    if not name:
        raise ValidationFailed(_("The list needs a name."), fields={"name": [_("Give a name.")]})
    return name


@transaction.atomic
def contact_list_create(
    *,
    organization: Organization,
    actor: Principal,
    name: str,
    audience: str,
    ip_address: str | None = None,
) -> ContactList:
    require(actor, Action.CONTACTS_MANAGE)
    if audience not in Audience.values:
        raise ValidationFailed(
            _("Choose who the list holds."), fields={"audience": [_("Choose a side.")]}
        )
    contact_list = ContactList.objects.create(
        organization=organization, name=_clean_name(name), audience=audience,
        created_by=actor.user,
    )  # fmt: skip
    audit_record(
        organization=organization, actor=actor, action="contact_list.created",
        target=contact_list, data={"audience": audience}, ip_address=ip_address,
    )  # fmt: skip
    return contact_list


@transaction.atomic
def contact_list_rename(
    *,
    organization: Organization,
    actor: Principal,
    contact_list: ContactList,
    name: str,
    ip_address: str | None = None,
) -> ContactList:
    require(actor, Action.CONTACTS_MANAGE)
    contact_list.name = _clean_name(name)
    contact_list.save(update_fields=["name"])
    return contact_list


@transaction.atomic
def contact_list_delete(
    *,
    organization: Organization,
    actor: Principal,
    contact_list: ContactList,
    ip_address: str | None = None,
) -> None:
    """Delete the list and its people; campaigns sent to it keep their figures."""
    require(actor, Action.CONTACTS_MANAGE)
    count = Contact.objects.for_organization(organization).filter(contact_list=contact_list).count()
    audit_record(
        organization=organization, actor=actor, action="contact_list.deleted",
        target=contact_list, data={"contacts": count}, ip_address=ip_address,
    )  # fmt: skip
    ContactList.objects.for_organization(organization).filter(pk=contact_list.pk).delete()


def _add_attribute_names(contact_list: ContactList, names: list[str]) -> None:
    """Remember new attribute names on the list (locked: two imports may add at once)."""
    if not names:
        return
    locked = (
        ContactList.objects.for_organization(contact_list.organization_id)
        .select_for_update()
        .get(pk=contact_list.pk)
    )
    known = list(locked.attribute_names)
    added = [name for name in names if name not in known]
    if added:
        locked.attribute_names = known + added
        locked.save(update_fields=["attribute_names"])
        contact_list.attribute_names = locked.attribute_names


# --- contacts by hand -----------------------------------------------------------------------

_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _clean_contact(
    *, email: Any, name: Any = "", language: Any = "", attributes: Any = None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned_email = files.email_clean(str(email or ""))
    if cleaned_email is None:
        errors["email"] = [_("Enter a valid email address.")]
    cleaned_language = files.language_clean(str(language or ""))
    if cleaned_language is None:
        errors["language"] = [_("Choose a language on offer, or none.")]
    name = str(name or "").strip()
    if len(name) > files.MAX_VALUE_LENGTH:
        errors["name"] = [_("Keep the name under 200 characters.")]
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        errors["attributes"] = [_("Give the attributes as name=value pairs.")]
        attributes = {}
    cleaned_attributes: dict[str, str] = {}
    for key, value in attributes.items():
        key = str(key).strip().lower()
        value = str(value if value is not None else "").strip()
        if not _ATTRIBUTE.fullmatch(key) or key in files.RESERVED_ATTRIBUTES:
            errors.setdefault("attributes", []).append(
                _("'%(name)s' cannot be an attribute name: use lowercase letters, digits and _.")
                % {"name": key[:40]}
            )
        elif len(value) > 100:
            errors.setdefault("attributes", []).append(
                _("The value of '%(name)s' is longer than 100 characters.") % {"name": key}
            )
        elif value:
            cleaned_attributes[key] = value
    if errors:
        raise ValidationFailed(_("Please check the contact's details."), fields=errors)
    return {"email": cleaned_email, "name": name, "language": cleaned_language,
            "attributes": cleaned_attributes}  # fmt: skip


@transaction.atomic
def contact_create(
    *,
    organization: Organization,
    actor: Principal,
    contact_list: ContactList,
    email: str,
    name: str = "",
    language: str = "",
    attributes: dict[str, str] | None = None,
    ip_address: str | None = None,
) -> Contact:
    require(actor, Action.CONTACTS_MANAGE)
    data = _clean_contact(email=email, name=name, language=language, attributes=attributes)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                organization=organization, contact_list=contact_list, **data
            )
    except IntegrityError as exc:
        raise Conflict(
            _("%(email)s is already on this list.") % {"email": data["email"]},
            fields={"email": [_("This address is already on the list.")]},
        ) from exc
    _add_attribute_names(contact_list, list(data["attributes"]))
    return contact


CONTACT_FIELDS = ("email", "name", "language", "attributes")


@transaction.atomic
def contact_update(
    *,
    organization: Organization,
    actor: Principal,
    contact: Contact,
    ip_address: str | None = None,
    **changes: Any,
) -> Contact:
    require(actor, Action.CONTACTS_MANAGE)
    unknown = sorted(set(changes) - set(CONTACT_FIELDS))
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={name: [_("Not a contact field.")] for name in unknown}
        )
    merged = {name: changes.get(name, getattr(contact, name)) for name in CONTACT_FIELDS}
    data = _clean_contact(**merged)
    for name, value in data.items():
        setattr(contact, name, value)
    try:
        with transaction.atomic():
            contact.save(update_fields=[*CONTACT_FIELDS, "updated_at"])
    except IntegrityError as exc:
        raise Conflict(
            _("%(email)s is already on this list.") % {"email": data["email"]},
            fields={"email": [_("This address is already on the list.")]},
        ) from exc
    contact_list = ContactList.objects.for_organization(organization).get(
        pk=contact.contact_list_id
    )
    _add_attribute_names(contact_list, list(data["attributes"]))
    return contact


@transaction.atomic
def contact_delete(
    *, organization: Organization, actor: Principal, contact: Contact, ip_address: str | None = None
) -> None:
    require(actor, Action.CONTACTS_MANAGE)
    Contact.objects.for_organization(organization).filter(pk=contact.pk).delete()


# --- imports --------------------------------------------------------------------------------


@transaction.atomic
def contact_import_upload(
    *,
    organization: Organization,
    actor: Principal,
    contact_list: ContactList,
    file_name: str,
    content: bytes,
    ip_address: str | None = None,
) -> ContactImport:
    """Keep an uploaded file and what sniffing found; the mapping step comes next.

    A file that cannot be read (empty, not text, unknown encoding, broken XLSX, too large) is
    refused here with an error naming `file`, and nothing is kept.
    """
    require(actor, Action.CONTACTS_MANAGE)
    shape = files.sniff(content, file_name or "")
    return ContactImport.objects.create(
        organization=organization, contact_list=contact_list,
        file_name=(file_name or "contacts")[:255], file_format=shape.file_format,
        encoding=shape.encoding, delimiter=shape.delimiter, content=content,
        columns=list(shape.columns), mapping=files.guess_mapping(shape.columns),
        created_by=actor.user,
    )  # fmt: skip


def _shape(contact_import: ContactImport) -> files.FileShape:
    return files.FileShape(
        contact_import.file_format, contact_import.encoding, contact_import.delimiter,
        tuple(contact_import.columns),
    )  # fmt: skip


def contact_import_preview(
    contact_import: ContactImport, mapping: dict[str, str] | None = None
) -> tuple[list[tuple[int, list[str], files.ContactRow | None, str]], ValidationFailed | None]:
    """The first rows with their verdict under a mapping, and the mapping's error if any."""
    raw = contact_import.mapping if mapping is None else mapping
    rows = []
    try:
        cleaned: files.Mapping | None = files.mapping_clean(raw, contact_import.columns)
        error = None
    except ValidationFailed as exc:
        cleaned, error = None, exc
    seen: dict[str, int] = {}
    content = bytes(contact_import.content)
    for number, cells in files.read_rows(content, _shape(contact_import)):
        if cleaned is not None:
            contact, reason = files.row_judge(number, cells, cleaned, seen)
        else:
            contact, reason = None, ""
        rows.append((number, cells, contact, reason))
        if len(rows) >= files.PREVIEW_ROWS:
            break
    return rows, error


@transaction.atomic
def contact_import_start(
    *,
    organization: Organization,
    actor: Principal,
    contact_import: ContactImport,
    mapping: dict[str, str],
    ip_address: str | None = None,
) -> ContactImport:
    """Accept the column mapping and queue the import (a worker reads the whole file)."""
    require(actor, Action.CONTACTS_MANAGE)
    contact_import = (
        ContactImport.objects.for_organization(organization)
        .select_for_update()
        .get(pk=contact_import.pk)
    )
    if contact_import.status != ImportStatus.PENDING:
        raise Conflict(
            _("This file is already being imported."),
            fields={"mapping": [_("Upload the file again to import it once more.")]},
        )
    cleaned = files.mapping_clean(mapping, contact_import.columns)
    contact_import.mapping = {k: v for k, v in mapping.items() if v}
    contact_import.status = ImportStatus.QUEUED
    contact_import.save(update_fields=["mapping", "status", "updated_at"])
    audit_record(
        organization=organization, actor=actor, action="contacts.import_started",
        target=contact_import.contact_list,
        data={"file": contact_import.file_name, "import": contact_import.pk,
              "attributes": cleaned.attribute_names},
        ip_address=ip_address,
    )  # fmt: skip
    import_id = contact_import.pk
    transaction.on_commit(lambda: _queue_import(organization.pk, import_id))
    return contact_import


def _queue_import(organization_id: int, import_id: int) -> None:
    from .tasks import import_contacts

    import_contacts.delay(organization_id=organization_id, import_id=import_id)


def _chunks(rows: list[files.ContactRow], size: int) -> Iterator[list[files.ContactRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def contact_import_run(*, organization: Organization, import_id: int) -> ContactImport | None:
    """Read the whole file, then write the good rows in chunks, counting progress.

    The file is judged before anything is written: a file that turns out unreadable half-way
    fails with nothing imported. Each chunk is one transaction (an upsert by address), so a run
    interrupted by a crash is simply run again. Idempotent: a finished import is left alone.
    """
    with transaction.atomic():
        contact_import = (
            ContactImport.objects.for_organization(organization)
            .select_for_update()
            .filter(pk=import_id, status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING])
            .first()
        )
        if contact_import is None:
            return None
        contact_import.status = ImportStatus.RUNNING
        contact_import.started_at = contact_import.started_at or timezone.now()
        contact_import.processed_rows = 0
        contact_import.save(update_fields=["status", "started_at", "processed_rows", "updated_at"])

    mapping = files.mapping_clean(contact_import.mapping, contact_import.columns)
    good: list[files.ContactRow] = []
    rejected: list[list[Any]] = []
    rejected_count = 0
    seen: dict[str, int] = {}
    try:
        for number, cells in files.read_rows(bytes(contact_import.content), _shape(contact_import)):
            contact, reason = files.row_judge(number, cells, mapping, seen)
            if contact is not None:
                good.append(contact)
                continue
            rejected_count += 1
            if len(rejected) < REJECTED_KEPT:
                first = files._get(cells, mapping.email) or (cells[0] if cells else "")
                rejected.append([number, reason, first[:254]])
    except ValidationFailed as exc:
        _import_finish(contact_import, status=ImportStatus.FAILED, error=exc.message)
        return contact_import

    contact_list = ContactList.objects.for_organization(organization).get(
        pk=contact_import.contact_list_id
    )
    ContactImport.objects.for_organization(organization).filter(pk=import_id).update(
        total_rows=len(good) + rejected_count, rejected_rows=rejected_count, rejected=rejected,
        created_rows=0, updated_rows=0, processed_rows=rejected_count, updated_at=timezone.now(),
    )  # fmt: skip
    with transaction.atomic():
        _add_attribute_names(contact_list, mapping.attribute_names)
    created = updated = 0
    for chunk in _chunks(good, IMPORT_CHUNK):
        with transaction.atomic():
            new, changed = _upsert(organization, contact_list, mapping, chunk)
            created += new
            updated += changed
            ContactImport.objects.for_organization(organization).filter(pk=import_id).update(
                processed_rows=F("processed_rows") + len(chunk), created_rows=created,
                updated_rows=updated, updated_at=timezone.now(),
            )  # fmt: skip
    contact_import.refresh_from_db()
    _import_finish(contact_import, status=ImportStatus.DONE)
    return contact_import


def _upsert(
    organization: Organization,
    contact_list: ContactList,
    mapping: files.Mapping,
    rows: list[files.ContactRow],
) -> tuple[int, int]:
    """Insert new addresses, update known ones (only the mapped fields; attributes merge)."""
    existing = {
        email: attributes
        for email, attributes in Contact.objects.for_organization(organization)
        .filter(contact_list=contact_list, email__in=[row.email for row in rows])
        .values_list("email", "attributes")
    }
    now = timezone.now()
    contacts = []
    for row in rows:
        known = existing.get(row.email)
        contacts.append(
            Contact(
                organization=organization, contact_list=contact_list, email=row.email,
                name=row.name, language=row.language,
                attributes={**(known or {}), **row.attributes}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    update_fields = ["attributes", "updated_at"]
    if mapping.name is not None:
        update_fields.append("name")
    if mapping.language is not None:
        update_fields.append("language")
    Contact.objects.bulk_create(
        contacts, update_conflicts=True,
        unique_fields=["organization", "contact_list", "email"], update_fields=update_fields,
    )  # fmt: skip
    return len(rows) - len(existing), len(existing)


def _import_finish(contact_import: ContactImport, *, status: str, error: str = "") -> None:
    with transaction.atomic():
        ContactImport.objects.for_organization(contact_import.organization_id).filter(
            pk=contact_import.pk
        ).update(status=status, error=error, finished_at=timezone.now(), content=b"",
                 updated_at=timezone.now())  # fmt: skip
        contact_import.refresh_from_db()
        audit_record(
            organization=contact_import.organization, actor=None,
            action="contacts.imported" if status == ImportStatus.DONE else "contacts.import_failed",
            target=contact_import.contact_list,
            data={"file": contact_import.file_name, "import": contact_import.pk,
                  "created": contact_import.created_rows, "updated": contact_import.updated_rows,
                  "rejected": contact_import.rejected_rows, "error": error,
                  "started_by": contact_import.created_by_id},
        )  # fmt: skip


def contact_imports_stale() -> list[tuple[int, int]]:
    """(organization id, import id) of imports queued or running but not moving (sweeper)."""
    return list(
        ContactImport.unscoped.filter(
            status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING],
            updated_at__lt=timezone.now() - IMPORT_STALE,
        ).values_list("organization_id", "pk")
    )


def contact_imports_requeue() -> int:
    stale = contact_imports_stale()
    for organization_id, import_id in stale:
        ContactImport.unscoped.filter(pk=import_id).update(updated_at=timezone.now())
        _queue_import(organization_id, import_id)
    return len(stale)


# --- the suppression list ---------------------------------------------------------------------


def _suppress(
    organization: Organization,
    email: str,
    reason: str,
    *,
    campaign_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[Suppression, bool]:
    suppression, created = Suppression.objects.for_organization(organization).get_or_create(
        organization=organization, email=email,
        defaults={"reason": reason, "campaign_id": campaign_id,
                  "created_by": actor.user if actor else None},
    )  # fmt: skip
    if (
        not created
        and reason == SuppressionReason.UNSUBSCRIBED
        and suppression.reason != SuppressionReason.UNSUBSCRIBED
    ):
        # The person's own request outranks a bounce or an admin's entry: it is never lifted.
        suppression.reason = reason
        suppression.save(update_fields=["reason"])
    if reason != SuppressionReason.BOUNCED:
        # Nobody waiting to be emailed at this address is emailed; their reminders stop too.
        # (A bounced address is skipped by the sender and marked failed there.)
        SurveyInvitation.objects.for_organization(organization).filter(
            email=email, status__in=[InvitationStatus.QUEUED, InvitationStatus.SENT]
        ).update(status=InvitationStatus.OPTED_OUT)
    return suppression, created


@transaction.atomic
def suppression_add(
    *,
    organization: Organization,
    actor: Principal,
    email: str,
    ip_address: str | None = None,
) -> Suppression:
    """An admin stops all email to an address (it can be lifted again by an admin)."""
    require(actor, Action.DELIVERY_ADMIN)
    cleaned = files.email_clean(email or "")
    if cleaned is None:
        raise ValidationFailed(
            _("Enter a valid email address."), fields={"email": [_("Enter a valid email address.")]}
        )
    suppression, created = _suppress(organization, cleaned, SuppressionReason.MANUAL, actor=actor)
    if created:
        audit_record(
            organization=organization, actor=actor, action="suppression.added",
            target_label=cleaned, data={"email": cleaned, "reason": SuppressionReason.MANUAL},
            ip_address=ip_address,
        )  # fmt: skip
    return suppression


@transaction.atomic
def suppression_remove(
    *,
    organization: Organization,
    actor: Principal,
    suppression: Suppression,
    ip_address: str | None = None,
) -> None:
    """Lift an admin's entry or a bounce; a person's own opt-out is never lifted by others."""
    require(actor, Action.DELIVERY_ADMIN)
    if suppression.reason == SuppressionReason.UNSUBSCRIBED:
        raise Conflict(
            _("%(email)s asked not to be emailed: only a new consent from them can change that.")
            % {"email": suppression.email},
            fields={"suppression": [_("The person opted out themselves.")]},
        )
    Suppression.objects.for_organization(organization).filter(pk=suppression.pk).delete()
    audit_record(
        organization=organization, actor=actor, action="suppression.removed",
        target_label=suppression.email,
        data={"email": suppression.email, "reason": suppression.reason}, ip_address=ip_address,
    )  # fmt: skip


@transaction.atomic
def suppression_record_bounce(
    *, organization: Organization, email: str, campaign_id: int | None, error: str
) -> None:
    """The mail server refused the address for good: stop emailing it (admins may lift it)."""
    _suppression, created = _suppress(
        organization, email, SuppressionReason.BOUNCED, campaign_id=campaign_id
    )
    if created:
        audit_record(
            organization=organization, actor=None, action="suppression.added",
            target_label=email,
            data={"email": email, "reason": SuppressionReason.BOUNCED, "error": error[:200],
                  "campaign": campaign_id},
        )  # fmt: skip

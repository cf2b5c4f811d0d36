"""Writes of the privacy app: the retention setting and runs, erasure of one person's data, and
deleting a whole organisation.

What is personal data here, and what each operation does with it, is listed in the README's
"Security and privacy" section; keep the two in step.
"""

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import CharField, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.alerts.consent import CONTACT_KEYS
from apps.alerts.models import Alert, AlertEvent
from apps.audit.services import audit_record
from apps.core.errors import PermissionDenied, ValidationFailed
from apps.core.tenancy import TenantModel
from apps.distribution.models import (
    Contact,
    ContactImport,
    InvitationStatus,
    SurveyInvitation,
)
from apps.organizations.models import Invitation, Membership, Organization
from apps.organizations.permissions import Action, Principal, require
from apps.reports.models import DeliveryRecipient, FileKind, ReportFile, ScheduleRecipient
from apps.responses.models import Answer, Response
from apps.scoring.models import ImportancePairValueSpanCount
from apps.scoring.services import attribute_value_pairs_recount
from apps.webhooks.models import WebhookAttempt, WebhookEvent

from .models import MAX_RETENTION_MONTHS, PrivacySettings, RetentionRun
from .selectors import normalise_email, retention_months_of

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Anonymised addresses end so: `.invalid` is reserved (RFC 2606), mail to it never leaves.
ERASED_DOMAIN = "erased.invalid"
# Tables kept as they are by an erasure, with the reason (README, "Security and privacy").
ERASURE_KEEPS = {
    # An opted-out or bounced address must stay suppressed: keeping it is what the person
    # asked for (the right to object), so the suppression row outlives the erasure.
    "distribution_suppression": "the suppression list keeps the person from being emailed",
}
# Derived tables whose text comes from columns the scrub rewrites, part of a unique key and
# bounded in length: rewritten in place, two spellings of one address would collide and a value
# could outgrow its column. The scrub leaves them alone and counts them afresh from the
# scrubbed rows (table -> its recount, given the organisation's id).
ERASURE_RECOUNTS: dict[str, Callable[[int], None]] = {
    ImportancePairValueSpanCount._meta.db_table: lambda organization_id: (
        attribute_value_pairs_recount(organization_id=organization_id)
    ),
}


def email_hash(email: str) -> str:
    """The pseudonym an erasure leaves behind: the same address always gives the same one,
    and, keyed with the secret key, nobody can test a guessed address against it."""
    key = str(settings.SECRET_KEY).encode()
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()[:16]


# --- retention setting ------------------------------------------------------------------------


def retention_settings_update(
    *, organization: Organization, actor: Principal, retention_months: int
) -> PrivacySettings:
    require(actor, Action.PRIVACY_MANAGE)
    if not 1 <= retention_months <= MAX_RETENTION_MONTHS:
        raise ValidationFailed(
            _("Keep personal data for 1 to %(max)s months.") % {"max": MAX_RETENTION_MONTHS},
            fields={
                "retention_months": [
                    _("Enter a number from 1 to %(max)s.") % {"max": MAX_RETENTION_MONTHS}
                ]
            },
        )
    with transaction.atomic():
        before = retention_months_of(organization)
        privacy, _created = PrivacySettings.objects.for_organization(organization).update_or_create(
            organization=organization, defaults={"retention_months": retention_months}
        )
        audit_record(
            organization=organization,
            actor=actor,
            action="privacy.retention_changed",
            target=organization,
            data={"retention_months": [before, retention_months]},
        )
    return privacy


# --- retention runs ---------------------------------------------------------------------------


def _in_batches(
    organization: Organization,
    queryset: QuerySet[Any],
    change: Callable[[QuerySet[Any]], int],
) -> int:
    """Apply `change` to the rows of `queryset` a batch of ids at a time, each batch in its own
    transaction. `queryset` must stop matching a row once it is changed (that is what makes a
    second run a no-op), or the loop would not end."""
    model = queryset.model
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return total
        with transaction.atomic():
            changed = change(model.objects.for_organization(organization).filter(pk__in=ids))
        if changed == 0:
            return total
        total += changed


def _anonymous_address() -> Any:
    return Concat(Value("retained-"), Cast("pk", CharField()), Value(f"@{ERASED_DOMAIN}"))


def retention_run(*, organization: Organization, now: datetime | None = None) -> RetentionRun:
    """Anonymise or delete the organisation's personal data older than its retention period.

    Idempotent (a second run finds nothing left to do) and batch-wise (a thousand rows per
    statement). Aggregates, scores and answers without personal data stay untouched: the
    gap report reads the same before and after.
    """
    now = now or timezone.now()
    months = retention_months_of(organization)
    cutoff = now - timedelta(days=round(months * 365.25 / 12))
    run = RetentionRun.objects.create(
        organization=organization, cutoff=cutoff, retention_months=months, started_at=now
    )
    counts: dict[str, int] = {}

    # Contacts neither added, changed nor invited within the period.
    recent_invitation = SurveyInvitation.objects.for_organization(organization).filter(
        contact=OuterRef("pk"), created_at__gte=cutoff
    )
    counts["contacts_deleted"] = _in_batches(
        organization,
        Contact.objects.for_organization(organization)
        .filter(updated_at__lt=cutoff)
        .filter(~Exists(recent_invitation)),
        lambda rows: rows.delete()[1].get("distribution.Contact", 0),
    )
    # Invitation addresses: the row and its status stay for the campaign's figures.
    counts["invitation_addresses"] = _in_batches(
        organization,
        SurveyInvitation.objects.for_organization(organization)
        .filter(created_at__lt=cutoff)
        .exclude(status__in=[InvitationStatus.QUEUED, InvitationStatus.SENDING])
        .exclude(email__endswith=f"@{ERASED_DOMAIN}"),
        lambda rows: rows.update(
            email=_anonymous_address(), name="", attributes={}, error="", contact=None
        ),
    )
    counts["import_files"] = _in_batches(
        organization,
        ContactImport.objects.for_organization(organization)
        .filter(created_at__lt=cutoff)
        .exclude(content=b"", rejected=[]),
        lambda rows: rows.update(content=b"", rejected=[]),
    )
    # Member invitations no longer open (accepted, revoked or expired).
    counts["member_invitation_addresses"] = _in_batches(
        organization,
        Invitation.objects.for_organization(organization)
        .filter(created_at__lt=cutoff)
        .filter(Q(accepted_at__isnull=False) | Q(revoked_at__isnull=False) | Q(expires_at__lt=now))
        .exclude(email__endswith=f"@{ERASED_DOMAIN}"),
        lambda rows: rows.update(email=_anonymous_address()),
    )
    # Contact details given with consent: the text goes, the consent choice stays.
    counts["contact_answers"] = _in_batches(
        organization,
        Answer.objects.for_organization(organization)
        .filter(item__key__in=list(CONTACT_KEYS), response__submitted_on__lt=cutoff.date())
        .exclude(text=""),
        lambda rows: rows.update(text=""),
    )
    counts["response_addresses"] = _in_batches(
        organization,
        Response.objects.for_organization(organization)
        .filter(submitted_on__lt=cutoff.date())
        .filter(Q(ip_address__isnull=False) | ~Q(user_agent="")),
        lambda rows: rows.update(ip_address=None, user_agent=""),
    )
    counts["alert_notes"] = _in_batches(
        organization,
        Alert.objects.for_organization(organization)
        .filter(created_at__lt=cutoff)
        .exclude(resolution_note=""),
        lambda rows: rows.update(resolution_note=""),
    )
    # Outside addresses that unsubscribed from a schedule (the active ones are still in use).
    counts["schedule_recipients_deleted"] = _in_batches(
        organization,
        ScheduleRecipient.objects.for_organization(organization).filter(
            user__isnull=True, unsubscribed_at__lt=cutoff
        ),
        lambda rows: rows.delete()[0],
    )
    counts["alert_event_notes"] = _in_batches(
        organization,
        AlertEvent.objects.for_organization(organization).filter(
            created_at__lt=cutoff, data__has_key="note"
        ),
        lambda rows: rows.update(
            data=Func(F("data"), Value("note"), template="(%(expressions)s)", arg_joiner=" - ")
        ),
    )
    counts["report_delivery_addresses"] = _in_batches(
        organization,
        DeliveryRecipient.objects.for_organization(organization)
        .filter(delivery__created_at__lt=cutoff)
        .exclude(email__endswith=f"@{ERASED_DOMAIN}"),
        lambda rows: rows.update(email=_anonymous_address(), error=""),
    )
    counts["webhook_bodies"] = _in_batches(
        organization,
        WebhookEvent.objects.for_organization(organization)
        .filter(created_at__lt=cutoff)
        .exclude(body=""),
        lambda rows: rows.update(body=""),
    )
    counts["webhook_responses"] = _in_batches(
        organization,
        WebhookAttempt.objects.for_organization(organization)
        .filter(started_at__lt=cutoff)
        .exclude(response_body=""),
        lambda rows: rows.update(response_body=""),
    )

    with transaction.atomic():
        run.counts = counts
        run.finished_at = timezone.now()
        run.save(update_fields=["counts", "finished_at"])
        audit_record(
            organization=organization,
            actor=None,
            action="privacy.retention_run",
            target=run,
            target_label=f"retention run {run.pk}",
            data={"retention_months": months, "cutoff": cutoff.isoformat(), **counts},
        )
    return run


# --- erasure ----------------------------------------------------------------------------------


def _text_columns(model: type[models.Model]) -> list[tuple[str, bool]]:
    """(column, is_json) of the model's own text and JSON columns."""
    columns: list[tuple[str, bool]] = []
    for field in model._meta.concrete_fields:
        if isinstance(field, models.JSONField):
            columns.append((str(field.column), True))
        elif isinstance(field, (models.CharField, models.TextField)) and not field.choices:
            columns.append((str(field.column), False))
    return columns


def tenant_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy
    ]


def _scrub_everywhere(organization: Organization, email: str, replacement: str) -> int:
    """Replace the address, in any case, in every text and JSON column of every tenant table
    of the organisation (free text, snapshots, logs, webhook bodies, the audit log), then count
    the derived tables of ERASURE_RECOUNTS afresh."""
    pattern = re.escape(email)
    changed = 0
    with connection.cursor() as cursor:
        for model in tenant_models():
            table = model._meta.db_table
            if table in ERASURE_KEEPS or table in ERASURE_RECOUNTS:
                continue
            for column, is_json in _text_columns(model):
                quoted = connection.ops.quote_name(column)
                if is_json:
                    value = f"regexp_replace({quoted}::text, %s, %s, 'gi')::jsonb"
                    test = f"{quoted}::text ~* %s"
                else:
                    value = f"regexp_replace({quoted}, %s, %s, 'gi')"
                    test = f"{quoted} ~* %s"
                cursor.execute(
                    f"UPDATE {connection.ops.quote_name(table)} SET {quoted} = {value} "  # noqa: S608
                    f"WHERE organization_id = %s AND {test}",
                    [pattern, replacement, organization.pk, pattern],
                )
                changed += cursor.rowcount
    for recount in ERASURE_RECOUNTS.values():
        recount(organization.pk)
    return changed


def _imports_naming(organization: Organization, *spellings: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM distribution_contactimport WHERE organization_id = %s AND ("  # noqa: S608
            + " OR ".join(["position(%s::bytea in content) > 0"] * len(spellings))
            + ")",
            [organization.pk, *(s.encode() for s in spellings)],
        )
        return [row[0] for row in cursor.fetchall()]


def personal_data_erase(
    *, organization: Organization, actor: Principal, email: str, confirm: bool
) -> dict[str, int]:
    """Erase everything linked to an address in this organisation, in one transaction.

    Contacts and schedule recipients go; invitations, report deliveries and member invitations
    keep their row (campaign and delivery figures) under a pseudonymous address; contact
    details given with consent are blanked (the consent choice stays); every other occurrence
    of the address, in any text, is replaced by the pseudonym, the audit log included. The
    suppression row stays (ERASURE_KEEPS). A current member's address is refused: remove the
    member first.
    """
    require(actor, Action.PRIVACY_MANAGE)
    address = normalise_email(email)
    if not address or "@" not in address:
        raise ValidationFailed(
            _("Enter an email address."), fields={"email": [_("Enter a valid email address.")]}
        )
    if not confirm:
        raise ValidationFailed(
            _("Confirm the erasure: it cannot be undone."),
            fields={"confirm": [_("Tick the box to confirm.")]},
        )
    if (
        Membership.objects.for_organization(organization)
        .filter(user__email__iexact=address)
        .exists()
    ):
        raise ValidationFailed(
            _("This address belongs to a member: remove the member first."),
            fields={"email": [_("This address belongs to a member of the organisation.")]},
        )
    pseudonym = f"erased-{email_hash(address)}@{ERASED_DOMAIN}"
    counts: dict[str, int] = {}
    with transaction.atomic():
        responses = list(
            Answer.objects.for_organization(organization)
            .filter(item__key="contact:email", text__iexact=address)
            .values_list("response_id", flat=True)
        )
        counts["contact_answers"] = (
            Answer.objects.for_organization(organization)
            .filter(response_id__in=responses, item__key__in=list(CONTACT_KEYS))
            .update(text="")
        )
        counts["contacts"] = (
            Contact.objects.for_organization(organization).filter(email__iexact=address).delete()[0]
        )
        counts["schedule_recipients"] = (
            ScheduleRecipient.objects.for_organization(organization)
            .filter(email__iexact=address, user__isnull=True)
            .delete()[0]
        )
        counts["export_files"] = (
            ReportFile.objects.for_organization(organization)
            .filter(kind__in=[FileKind.RESPONSES_CSV, FileKind.RESPONSES_XLSX])
            .delete()[0]
        )
        counts["invitations"] = (
            SurveyInvitation.objects.for_organization(organization)
            .filter(email__iexact=address)
            .update(email=pseudonym, name="", attributes={}, contact=None)
        )
        # Uploaded files are emptied once imported; one still waiting goes if it names the person.
        counts["import_files"] = (
            ContactImport.objects.for_organization(organization)
            .filter(pk__in=_imports_naming(organization, address, email.strip()))
            .update(content=b"")
        )
        counts["other_occurrences"] = _scrub_everywhere(organization, address, pseudonym)
        audit_record(
            organization=organization,
            actor=actor,
            action="privacy.erased",
            target_label=f"erased-{email_hash(address)}",
            # The address itself is not recorded: its keyed hash identifies a repeated request.
            data={"subject_hash": email_hash(address), **counts},
        )
    return counts


# --- organisation deletion --------------------------------------------------------------------


def organization_delete(
    *, organization: Organization, actor: Principal, confirmation: str, password: str
) -> dict[str, int]:
    """Delete the organisation and every row it owns, in one transaction.

    Its audit log goes with it, so the deletion is recorded in the application log instead
    (logger `apps.privacy.services`, level WARNING), with who asked and the row counts.
    """
    require(actor, Action.ORG_DELETE)
    fields: dict[str, list[str]] = {}
    if confirmation.strip() != organization.slug:
        fields["confirmation"] = [_("Type the organisation's slug exactly.")]
    user = actor.user
    if user is None or not user.check_password(password):
        fields["password"] = [_("Your password is not correct.")]
    if fields:
        raise ValidationFailed(_("The organisation was not deleted."), fields=fields)
    if user is None:  # pragma: no cover - refused above
        raise PermissionDenied("Only a member can delete an organisation.")
    with transaction.atomic():
        counts = {
            model._meta.label_lower: count
            for model in tenant_models()
            if (count := model.objects.for_organization(organization).count())  # type: ignore[attr-defined]
        }
        org_id, slug = organization.pk, organization.slug
        _delete_tenant_rows(organization)
        Organization.objects.filter(pk=org_id).delete()
    logger.warning(
        "organization.deleted id=%s slug=%s by user=%s rows=%s",
        org_id,
        slug,
        user.pk,
        sum(counts.values()),
        extra={"organization_id": org_id, "actor_id": user.pk, "counts": counts},
    )
    return counts


def _delete_tenant_rows(organization: Organization) -> None:
    """Delete the organisation's rows table by table, children before parents, with SQL
    (no rows are loaded into memory; the audit log's append-only guard is an ORM guard)."""
    remaining = tenant_models()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for model in remaining:
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} "  # noqa: S608
                "WHERE organization_id = %s",
                [organization.pk],
            )

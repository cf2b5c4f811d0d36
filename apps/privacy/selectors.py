"""Reads of the privacy app: the retention setting, its runs, and everything linked to one
email address in an organisation (the subject access export)."""

from typing import Any

from django.db.models import QuerySet

from apps.alerts.consent import CONTACT_KEYS
from apps.alerts.models import Alert
from apps.distribution.models import Contact, Suppression, SurveyInvitation
from apps.organizations.models import Invitation, Membership, Organization
from apps.reports.models import DeliveryRecipient, ScheduleRecipient
from apps.responses.models import Answer

from .models import DEFAULT_RETENTION_MONTHS, PrivacySettings, RetentionRun


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def retention_months_of(organization: Organization) -> int:
    settings = PrivacySettings.objects.for_organization(organization).first()
    return settings.retention_months if settings is not None else DEFAULT_RETENTION_MONTHS


def retention_runs(*, organization: Organization) -> QuerySet[RetentionRun]:
    return RetentionRun.objects.for_organization(organization).order_by("-started_at", "-id")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def personal_data_find(*, organization: Organization, email: str) -> dict[str, Any]:
    """Everything in the organisation linked to an address, as JSON-ready data: ten queries
    whatever the amount found."""
    address = normalise_email(email)
    contacts = (
        Contact.objects.for_organization(organization)
        .filter(email__iexact=address)
        .select_related("contact_list")
    )
    invitations = (
        SurveyInvitation.objects.for_organization(organization)
        .filter(email__iexact=address)
        .select_related("campaign")
    )
    response_ids = list(
        Answer.objects.for_organization(organization)
        .filter(item__key="contact:email", text__iexact=address)
        .values_list("response_id", flat=True)
    )
    contact_answers = (
        Answer.objects.for_organization(organization)
        .filter(response_id__in=response_ids, item__key__in=[*CONTACT_KEYS, "contact:consent"])
        .select_related("item", "response")
        .order_by("response_id", "item__key")
    )
    alerts = Alert.objects.for_organization(organization).filter(response_id__in=response_ids)
    recipients = (
        ScheduleRecipient.objects.for_organization(organization)
        .filter(email__iexact=address)
        .select_related("schedule")
    )
    deliveries = (
        DeliveryRecipient.objects.for_organization(organization)
        .filter(email__iexact=address)
        .select_related("delivery")
    )
    suppression = (
        Suppression.objects.for_organization(organization).filter(email__iexact=address).first()
    )
    member_invitations = Invitation.objects.for_organization(organization).filter(
        email__iexact=address
    )
    membership = (
        Membership.objects.for_organization(organization)
        .filter(user__email__iexact=address)
        .first()
    )
    return {
        "email": address,
        "organization": organization.slug,
        "contacts": [
            {
                "list": c.contact_list.name,
                "email": c.email,
                "name": c.name,
                "language": c.language,
                "attributes": c.attributes,
                "created_at": _iso(c.created_at),
            }
            for c in contacts
        ],
        "survey_invitations": [
            {
                "campaign": i.campaign.name,
                "email": i.email,
                "name": i.name,
                "status": i.status,
                "sent_count": i.sent_count,
                "last_sent_at": _iso(i.last_sent_at),
                "responded_at": _iso(i.responded_at),
            }
            for i in invitations
        ],
        "contact_answers": [
            {
                "response": a.response_id,
                "submitted_on": _iso(a.response.submitted_on),
                "item": a.item.key,
                "text": a.text,
                "choices": a.choices,
            }
            for a in contact_answers
        ],
        "alerts": [
            {
                "id": a.pk,
                "status": a.status,
                "created_at": _iso(a.created_at),
                "resolution_note": a.resolution_note,
            }
            for a in alerts
        ],
        "report_schedule_recipients": [
            {
                "schedule": r.schedule.name,
                "email": r.email,
                "unsubscribed_at": _iso(r.unsubscribed_at),
            }
            for r in recipients
        ],
        "report_deliveries": [
            {"due_at": _iso(d.delivery.due_at), "status": d.status, "sent_at": _iso(d.sent_at)}
            for d in deliveries
        ],
        "suppression": (
            {"reason": suppression.reason, "created_at": _iso(suppression.created_at)}
            if suppression is not None
            else None
        ),
        "member_invitations": [
            {"role": i.role, "status": i.status, "created_at": _iso(i.created_at)}
            for i in member_invitations
        ],
        "membership": (
            {"role": membership.role, "since": _iso(membership.created_at)}
            if membership is not None
            else None
        ),
    }


def personal_data_total(found: dict[str, Any]) -> int:
    """How many things were found (a suppression or membership counts one)."""
    return sum(
        len(value) if isinstance(value, list) else int(value is not None)
        for key, value in found.items()
        if key not in ("email", "organization")
    )

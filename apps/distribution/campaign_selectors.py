"""Reads on campaigns: recipients, figures, invitations, and the public lookup by token."""

import copy
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from apps.core.tenancy import token_context
from apps.organizations.models import Organization

from .campaign_mail import Recipient
from .models import (
    Campaign,
    CampaignStatus,
    Contact,
    InvitationStatus,
    LinkStatus,
    Suppression,
    SurveyInvitation,
    SurveyLink,
)


def campaigns(*, organization: Organization) -> QuerySet[Campaign]:
    """The organisation's campaigns with `total` and `responded` counts (one query)."""
    return (
        Campaign.objects.for_organization(organization)
        .select_related("questionnaire", "contact_list")
        .annotate(
            total=Count("invitations"),
            responded=Count(
                "invitations", filter=Q(invitations__status=InvitationStatus.RESPONDED)
            ),
        )
        .order_by("-created_at", "-id")
    )


def campaign_get(*, organization: Organization, campaign_id: int) -> Campaign | None:
    return (
        Campaign.objects.for_organization(organization)
        .select_related("questionnaire", "questionnaire__journey", "contact_list", "organization")
        .filter(pk=campaign_id)
        .first()
    )


def campaign_recipients(campaign: Campaign) -> QuerySet[Contact]:
    """Contacts the campaign would email now: on its list, matching its filter, not on the
    suppression list."""
    contacts = Contact.objects.for_organization(campaign.organization_id).filter(
        contact_list_id=campaign.contact_list_id
    )
    for name, values in (campaign.filters or {}).items():
        contacts = contacts.filter(**{f"attributes__{name}__in": list(values)})
    suppressed = Suppression.objects.for_organization(campaign.organization_id).filter(
        email=OuterRef("email")
    )
    return contacts.filter(~Exists(suppressed)).order_by("pk")


PREVIEW_TOKEN = "preview-link"  # noqa: S105 - not a secret: previews link nowhere


def campaign_sample_recipient(campaign: Campaign) -> Recipient:
    """The first recipient, as a preview or a test message shows them (or a made-up one)."""
    contact = campaign_recipients(campaign).first() if campaign.contact_list_id else None
    token = PREVIEW_TOKEN
    if contact is None:
        return Recipient(invitation_id=0, email="maija@example.com", token=token,
                         name="Maija Meikäläinen")  # fmt: skip
    return Recipient(
        invitation_id=0, email=contact.email, token=token, name=contact.name,
        language=contact.language, attributes=contact.attributes,
    )  # fmt: skip


@dataclass(frozen=True)
class CampaignFigures:
    total: int
    counts: dict[str, int]
    delivered: int  # invitations the mail server accepted at least once
    reminders: int  # reminder messages accepted

    @property
    def responded(self) -> int:
        return self.counts.get(InvitationStatus.RESPONDED, 0)

    @property
    def response_rate(self) -> float | None:
        base = max(self.delivered, self.responded)
        return self.responded / base if base else None

    @property
    def response_percent(self) -> int | None:
        rate = self.response_rate
        return None if rate is None else round(rate * 100)

    @property
    def uncertain(self) -> int:
        return self.counts.get(InvitationStatus.UNCERTAIN, 0)

    @property
    def done(self) -> int:
        """Messages settled one way or another (not queued or in flight)."""
        busy = self.counts.get(InvitationStatus.QUEUED, 0) + self.counts.get(
            InvitationStatus.SENDING, 0
        )
        return self.total - busy


def campaign_figures(campaign: Campaign) -> CampaignFigures:
    """Counts per status, deliveries and reminders, in one query."""
    rows = SurveyInvitation.objects.for_organization(campaign.organization_id).filter(
        campaign=campaign
    )
    aggregates: dict[str, Any] = rows.aggregate(
        total=Count("pk"),
        delivered=Count("pk", filter=Q(sent_count__gte=1)),
        messages=Sum("sent_count"),
        **{status: Count("pk", filter=Q(status=status)) for status in InvitationStatus.values},
    )
    delivered = aggregates["delivered"] or 0
    return CampaignFigures(
        total=aggregates["total"] or 0,
        counts={status: aggregates[status] or 0 for status in InvitationStatus.values},
        delivered=delivered,
        reminders=max(0, (aggregates["messages"] or 0) - delivered),
    )


def campaign_invitations(
    *, campaign: Campaign, status: str = "", query: str = ""
) -> QuerySet[SurveyInvitation]:
    rows = SurveyInvitation.objects.for_organization(campaign.organization_id).filter(
        campaign=campaign
    )
    if status:
        rows = rows.filter(status=status)
    if query.strip():
        rows = rows.filter(email__icontains=query.strip())
    return rows.defer("attributes").order_by("pk")


def invitation_get(*, organization: Organization, invitation_id: int) -> SurveyInvitation | None:
    return SurveyInvitation.objects.for_organization(organization).filter(pk=invitation_id).first()


def invitation_by_token(token: str) -> SurveyInvitation | None:
    """The invitation a public token names (deliberately unscoped: the token is the key)."""
    if not token or len(token) > 64:
        return None
    return (
        SurveyInvitation.unscoped.select_related("organization", "campaign")
        .filter(token=token)
        .first()
    )


@dataclass(frozen=True)
class InvitationEntry:
    """What the respondent pages need to take a response through a personal link.

    `link` is the campaign's link seen through this invitation: the invitation's token (so the
    pages' own URLs stay personal), its attributes as the context (the response's segment), and
    open while the campaign is.
    """

    link: SurveyLink
    invitation_id: int
    answered: bool

    def mark_responded(self, response: Any) -> None:
        """Call inside the response's transaction; raises ValidationFailed if already used."""
        from .campaign_services import invitation_mark_responded

        invitation_mark_responded(
            link=self.link, invitation_id=self.invitation_id, response=response
        )


def invitation_resolve(token: str) -> InvitationEntry | None:
    """The personal link behind a public token, or None (then the page is a 404)."""
    if not token or len(token) > 64:
        return None
    with token_context("survey_invitation", token, deferred=True) as found:
        invitation = (
            SurveyInvitation.unscoped.select_related(
                "campaign",
                "campaign__link",
                "campaign__link__organization",
                "campaign__link__questionnaire",
                "campaign__link__questionnaire__published_version",
            )
            .filter(pk=found[0])
            .first()
            if found is not None
            else None
        )
    campaign_link = invitation.campaign.link if invitation is not None else None
    if invitation is None or campaign_link is None:
        return None
    campaign = invitation.campaign
    link = copy.copy(campaign_link)
    link.token = invitation.token
    link.context = {
        **campaign_link.context,
        **{k: str(v) for k, v in invitation.attributes.items()},
    }
    open_ = campaign.status in (CampaignStatus.SENDING, CampaignStatus.SENT)
    link.status = LinkStatus.ACTIVE if open_ else LinkStatus.CLOSED
    link.ends_at = None
    link.kiosk = False
    link.one_response_per_device = False
    return InvitationEntry(
        link=link,
        invitation_id=invitation.pk,
        answered=invitation.status == InvitationStatus.RESPONDED,
    )

"""Public links to one side of a published questionnaire, and the context they may carry; and
email distribution: contact lists, campaigns, personal invitations, the suppression list.

A link's token is stored as it is (unique, indexed) rather than hashed: staff must see and
print the link again and again, and the token opens one survey form, never an account. It has
192 random bits, and the public URL carries nothing else (no organisation, no sequential id).
"""

import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel
from apps.surveys.models import Audience


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 24 bytes = 192 bits, 32 URL-safe characters


class LinkStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    CLOSED = "closed", _("Closed")


class SurveyLink(TenantModel):
    questionnaire = models.ForeignKey(
        "surveys.Questionnaire", on_delete=models.RESTRICT, related_name="links"
    )
    audience = models.CharField(_("audience"), max_length=16, choices=Audience.choices)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=LinkStatus.choices, default=LinkStatus.ACTIVE
    )
    ends_at = models.DateTimeField(_("end date"), null=True, blank=True)
    # Segment attributes baked into the link ({"store": "Helsinki"}), from the whitelist.
    context = models.JSONField(_("context"), default=dict, blank=True)
    kiosk = models.BooleanField(_("kiosk mode"), default=False)
    one_response_per_device = models.BooleanField(_("one response per device"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["questionnaire"], name="link_questionnaire")]

    def __str__(self) -> str:
        return self.name

    def is_open(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.status != LinkStatus.ACTIVE:
            return False
        return self.ends_at is None or self.ends_at > now


class ContextAttribute(TenantModel):
    """A segment attribute a questionnaire's links may carry (store, region, channel...).

    The whitelist: a link's context and the URL's query parameters are kept only for names
    listed here, and only with listed values when `allowed_values` is not empty.
    """

    questionnaire = models.ForeignKey(
        "surveys.Questionnaire", on_delete=models.CASCADE, related_name="context_attributes"
    )
    name = models.SlugField(_("name"), max_length=40)
    label = models.CharField(_("label"), max_length=100, blank=True)
    allowed_values = models.JSONField(_("allowed values"), default=list, blank=True)

    class Meta:
        ordering = ("questionnaire_id", "name")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "name"], name="context_attribute_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


# --- Email distribution: contact lists, campaigns, personal invitations, opt-outs -------------


class ContactList(TenantModel):
    """People to invite by email: customers or employees, with their segment attributes."""

    name = models.CharField(_("name"), max_length=200)
    audience = models.CharField(_("who they are"), max_length=16, choices=Audience.choices)
    # Attribute names the contacts carry (import columns, or added by hand), in the order first
    # seen: campaign filters, placeholders and the contact table offer these.
    attribute_names = models.JSONField(_("attributes"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class Contact(TenantModel):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="contacts")
    # Stored lower-case: one person per address and list.
    email = models.EmailField(_("email address"), max_length=254)
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    # Segment attributes ({"region": "North", "team": "Sales"}): they become the segment of the
    # person's response.
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("email", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "contact_list", "email"], name="contact_unique_email"
            )
        ]

    def __str__(self) -> str:
        return self.email


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the column mapping")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ContactImport(TenantModel):
    """One uploaded file: kept (in the database, any worker can read it) until it is imported."""

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="imports")
    file_name = models.CharField(_("file"), max_length=255)
    file_format = models.CharField(max_length=8)  # "csv" or "xlsx"
    encoding = models.CharField(max_length=32, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    content = models.BinaryField(default=b"")
    columns = models.JSONField(default=list)  # the header row
    # Column index (as a string) -> "email", "name", "language" or "attr:<name>".
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default="pending")
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_rows = models.PositiveIntegerField(default=0)
    updated_rows = models.PositiveIntegerField(default=0)
    rejected_rows = models.PositiveIntegerField(default=0)
    # [[row number, reason, email or first cell], ...], the first REJECTED_KEPT of them.
    rejected = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.file_name

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, self.processed_rows * 100 // self.total_rows)


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class Campaign(TenantModel):
    """Personal email invitations to one side of a questionnaire, with reminders."""

    name = models.CharField(_("name"), max_length=200)
    questionnaire = models.ForeignKey(
        "surveys.Questionnaire", on_delete=models.RESTRICT, related_name="campaigns"
    )
    audience = models.CharField(_("who answers"), max_length=16, choices=Audience.choices)
    # SET_NULL: deleting a list (its people) keeps the campaign's figures.
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.SET_NULL, null=True, related_name="campaigns"
    )
    # Attribute -> accepted values ({"region": ["North", "East"]}); every attribute must match.
    filters = models.JSONField(_("filter"), default=dict, blank=True)
    subjects = models.JSONField(_("subjects"), default=dict, blank=True)  # {"en": "...", ...}
    bodies = models.JSONField(_("messages"), default=dict, blank=True)
    default_language = models.CharField(_("default language"), max_length=8, default="en")
    # Responses arrive through this link (created when sending starts). Nobody answers through
    # its own token: it is closed, and each invitation stands in for it with its own token.
    link = models.OneToOneField(
        SurveyLink, on_delete=models.PROTECT, null=True, blank=True, related_name="campaign"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the invitations were created (sending started): a repeated start creates none.
    invitations_created_at = models.DateTimeField(null=True, blank=True)
    # Set by every batch: the sweeper re-dispatches a sending campaign that stopped moving.
    last_progress_at = models.DateTimeField(null=True, blank=True)
    # Why the campaign stopped by itself (its questionnaire closed before it started...).
    error = models.CharField(max_length=300, blank=True)
    reminder_after_days = models.PositiveSmallIntegerField(
        _("remind after (days)"), null=True, blank=True
    )
    reminder_max = models.PositiveSmallIntegerField(_("reminders at most"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["status"], name="campaign_status")]

    def __str__(self) -> str:
        return self.name


class InvitationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    # Handed to the mail server right now. Found so after a crash, it becomes "uncertain".
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # A worker died while handing this message over: maybe delivered. Never resent by itself.
    UNCERTAIN = "uncertain", _("Uncertain")
    RESPONDED = "responded", _("Responded")
    OPTED_OUT = "opted_out", _("Opted out")


class SurveyInvitation(TenantModel):
    """One person's personal link in a campaign, and the state of the message being sent.

    The status is a small state machine the sender moves one message at a time: queued ->
    sending (committed just before the hand-off to the mail server) -> sent / failed / queued
    again (a transient failure, with backoff). A reminder queues a sent invitation again.
    Employee invitations record only that they were used: `response` and `responded_at` stay
    empty, so no response can be traced back to the person.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations"
    )
    # A snapshot of the contact when the campaign started.
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=8, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=InvitationStatus.choices,
        default=InvitationStatus.QUEUED,
    )  # fmt: skip
    # Messages the mail server accepted: 1 is the invitation, more are reminders.
    sent_count = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)  # transient failures of this message
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)  # the batch run sending it
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)  # customers only
    response = models.ForeignKey(
        "responses.Response", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )  # customers only
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "campaign", "email"], name="invitation_unique_email"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="invitation_campaign_status"),
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(status="sending"),
                name="invitation_sending",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    BOUNCED = "bounced", _("Address refused by the mail server")
    MANUAL = "manual", _("Added by an admin")


class Suppression(TenantModel):
    """An address the organisation never emails again (the person opted out, or it bounced)."""

    email = models.EmailField(_("email address"), max_length=254)
    reason = models.CharField(_("reason"), max_length=16, choices=SuppressionReason.choices)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"], name="suppression_unique_email"
            )
        ]

    def __str__(self) -> str:
        return self.email

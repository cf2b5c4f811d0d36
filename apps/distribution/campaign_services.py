"""Writes on email campaigns: create and edit, test, send now or later, start, dispatch
batches, reminders, and the invitation's life on the respondent side (answered, opted out)."""

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mailers
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.organizations.models import Organization
from apps.organizations.permissions import Action, Principal, require
from apps.surveys.models import Audience, Questionnaire, QuestionnaireStatus

from . import campaign_selectors as selectors
from .campaign_mail import (
    BUILTIN_PLACEHOLDERS,
    Composer,
    Recipient,
    default_messages,
    language_codes,
    placeholder_errors,
)
from .contact_services import _suppress
from .models import (
    Campaign,
    CampaignStatus,
    ContactList,
    InvitationStatus,
    LinkStatus,
    Suppression,
    SuppressionReason,
    SurveyInvitation,
    SurveyLink,
)

logger = logging.getLogger(__name__)

EDITABLE_IN_DRAFT = (
    "name", "questionnaire", "contact_list", "filters", "subjects", "bodies", "default_language",
    "reminder_after_days", "reminder_max",
)  # fmt: skip
EDITABLE_LATER = ("name", "reminder_after_days", "reminder_max")
MAX_REMINDERS = 5
MAX_REMINDER_DAYS = 60
TEST_SENDS_PER_WINDOW = 10
TEST_SEND_WINDOW = 600  # seconds
INSERT_CHUNK = 2000


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


# --- validation -------------------------------------------------------------------------------


def _check_questionnaire(questionnaire: Questionnaire) -> None:
    if questionnaire.status == QuestionnaireStatus.CLOSED:
        raise ValidationFailed(
            _("The questionnaire is closed: it takes no more answers."),
            fields={"questionnaire": [_("Choose a questionnaire that is open.")]},
        )
    if questionnaire.status != QuestionnaireStatus.PUBLISHED or not (
        questionnaire.published_version_id
    ):
        raise ValidationFailed(
            _("Only a published questionnaire can be sent."),
            fields={"questionnaire": [_("Publish the questionnaire first.")]},
        )


def _check_list(contact_list: ContactList | None, audience: str) -> ContactList:
    if contact_list is None:
        raise ValidationFailed(
            _("Choose whom to send to."), fields={"contact_list": [_("Choose a contact list.")]}
        )
    if contact_list.audience != audience:
        raise ValidationFailed(
            _("The list holds %(list)s, but the campaign asks %(side)s.")
            % {"list": Audience(contact_list.audience).label.lower(),
               "side": Audience(audience).label.lower()},
            fields={"contact_list": [_("Choose a list of the same side as the questionnaire.")]},
        )  # fmt: skip
    return contact_list


def allowed_placeholders(contact_list: ContactList | None) -> list[str]:
    names = list(BUILTIN_PLACEHOLDERS)
    if contact_list is not None:
        names += [n for n in contact_list.attribute_names if n not in names]
    return names


def _clean_filters(filters: Any, contact_list: ContactList | None) -> dict[str, list[str]]:
    if not filters:
        return {}
    if not isinstance(filters, dict):
        raise ValidationFailed(
            _("Invalid filter."), fields={"filters": [_("Give attribute names and values.")]}
        )
    known = set(contact_list.attribute_names) if contact_list is not None else set()
    cleaned: dict[str, list[str]] = {}
    errors: dict[str, list[str]] = {}
    for name, values in filters.items():
        if isinstance(values, str):
            values = [values]
        values = [str(v).strip()[:100] for v in (values or []) if str(v).strip()]
        if name not in known:
            errors.setdefault("filters", []).append(
                _("The list's contacts have no attribute '%(name)s'.") % {"name": str(name)[:40]}
            )
        elif values:
            cleaned[name] = values
    if errors:
        raise ValidationFailed(errors["filters"][0], fields=errors)
    return cleaned


def _clean_messages(
    subjects: Any, bodies: Any, default_language: str, allowed: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Every language that has a subject has a body and the reverse; the default language has
    both; placeholders exist; each body carries {{ link }}. Errors name subject_<lang> and
    body_<lang>."""
    subjects = {k: str(v or "").strip() for k, v in dict(subjects or {}).items()}
    bodies = {k: str(v or "").replace("\r\n", "\n").strip() for k, v in dict(bodies or {}).items()}
    codes = language_codes()
    errors: dict[str, list[str]] = {}
    if default_language not in codes:
        errors["default_language"] = [_("Choose a language on offer.")]
    for code in sorted(set(subjects) | set(bodies)):
        if code not in codes:
            errors[f"subject_{code}"] = [_("Not a language on offer.")]
            continue
        subject, body = subjects.get(code, ""), bodies.get(code, "")
        if not subject and not body:
            continue
        if not subject:
            errors[f"subject_{code}"] = [_("Write a subject, or leave this language's body empty.")]
        elif len(subject) > 200:
            errors[f"subject_{code}"] = [_("Keep the subject under 200 characters.")]
        if not body:
            errors[f"body_{code}"] = [_("Write a message, or leave this language's subject empty.")]
        elif len(body) > 10_000:
            errors[f"body_{code}"] = [_("Keep the message under 10,000 characters.")]
        for name, text in ((f"subject_{code}", subject), (f"body_{code}", body)):
            problems = placeholder_errors(text, allowed)
            if problems:
                errors.setdefault(name, []).extend(problems)
        if body and "link" not in _placeholders(body):
            errors.setdefault(f"body_{code}", []).append(
                _("Put {{ link }} in the message: it is the person's own survey link.")
            )
    if default_language in codes and not (
        subjects.get(default_language) and bodies.get(default_language)
    ):
        errors.setdefault(f"body_{default_language}", []).append(
            _("The default language needs a subject and a message.")
        )
    if errors:
        raise ValidationFailed(_("Please check the messages."), fields=errors)
    return (
        {k: v for k, v in subjects.items() if v and bodies.get(k)},
        {k: v for k, v in bodies.items() if v and subjects.get(k)},
    )


def _placeholders(text: str) -> set[str]:
    from .campaign_mail import PLACEHOLDER

    return set(PLACEHOLDER.findall(text))


def _clean_reminders(after_days: Any, at_most: Any) -> tuple[int | None, int]:
    errors: dict[str, list[str]] = {}
    days: int | None = None
    count = 0
    try:
        count = int(at_most or 0)
    except (TypeError, ValueError):
        errors["reminder_max"] = [_("Give a whole number.")]
    if not 0 <= count <= MAX_REMINDERS:
        errors["reminder_max"] = [_("From 0 to %(max)s reminders.") % {"max": MAX_REMINDERS}]
    if after_days not in (None, ""):
        try:
            days = int(after_days)
        except (TypeError, ValueError):
            errors["reminder_after_days"] = [_("Give a whole number of days.")]
        else:
            if not 1 <= days <= MAX_REMINDER_DAYS:
                errors["reminder_after_days"] = [
                    _("From 1 to %(max)s days.") % {"max": MAX_REMINDER_DAYS}
                ]
    if count and days is None and "reminder_after_days" not in errors:
        errors["reminder_after_days"] = [_("Say after how many days to remind.")]
    if errors:
        raise ValidationFailed(_("Please check the reminders."), fields=errors)
    return (days if count else None), count


def _clean_name(name: Any) -> str:
    name = str(name or "").strip()[:200]
    if not name:
        raise ValidationFailed(
            _("The campaign needs a name."), fields={"name": [_("Give a name.")]}
        )
    return name


# --- create, edit -------------------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    organization: Organization,
    actor: Principal,
    name: str,
    questionnaire: Questionnaire,
    contact_list: ContactList | None,
    filters: dict[str, list[str]] | None = None,
    subjects: dict[str, str] | None = None,
    bodies: dict[str, str] | None = None,
    default_language: str | None = None,
    reminder_after_days: int | None = None,
    reminder_max: int = 0,
    ip_address: str | None = None,
) -> Campaign:
    """A draft campaign; without messages it starts from the default wording."""
    require(actor, Action.CAMPAIGNS_MANAGE)
    _check_questionnaire(questionnaire)
    if contact_list is None:
        _check_list(None, Audience.CUSTOMER)
    assert contact_list is not None
    audience = contact_list.audience
    default_language = default_language or organization.default_language
    if not subjects and not bodies:
        subjects, bodies = default_messages(audience)
    subjects, bodies = _clean_messages(
        subjects, bodies, default_language, allowed_placeholders(contact_list)
    )
    days, count = _clean_reminders(reminder_after_days, reminder_max)
    campaign = Campaign.objects.create(
        organization=organization, name=_clean_name(name), questionnaire=questionnaire,
        audience=audience, contact_list=contact_list,
        filters=_clean_filters(filters, contact_list), subjects=subjects, bodies=bodies,
        default_language=default_language, reminder_after_days=days, reminder_max=count,
        created_by=actor.user,
    )  # fmt: skip
    audit_record(
        organization=organization, actor=actor, action="campaign.created", target=campaign,
        data={"questionnaire": questionnaire.pk, "list": contact_list.pk, "audience": audience},
        ip_address=ip_address,
    )  # fmt: skip
    return campaign


def _lock(organization: Organization, campaign: Campaign) -> Campaign:
    return (
        Campaign.objects.for_organization(organization)
        .select_for_update(of=("self",))
        .select_related("questionnaire", "contact_list")
        .get(pk=campaign.pk)
    )


@transaction.atomic
def campaign_update(
    *,
    organization: Organization,
    actor: Principal,
    campaign: Campaign,
    ip_address: str | None = None,
    **changes: Any,
) -> Campaign:
    """Change a draft; once scheduled or sent only the name and the reminders change."""
    require(actor, Action.CAMPAIGNS_MANAGE)
    campaign = _lock(organization, campaign)
    editable = EDITABLE_IN_DRAFT if campaign.status == CampaignStatus.DRAFT else EDITABLE_LATER
    refused = sorted(set(changes) - set(editable))
    if refused:
        raise ValidationFailed(
            _("These cannot be changed now: %(names)s.") % {"names": ", ".join(refused)},
            fields={name: [_("Only a draft campaign can change this.")] for name in refused},
        )
    merged = {name: changes.get(name, getattr(campaign, name)) for name in editable}
    if "name" in changes:
        merged["name"] = _clean_name(changes["name"])
    if campaign.status == CampaignStatus.DRAFT:
        if "questionnaire" in changes:
            _check_questionnaire(merged["questionnaire"])
        contact_list = merged["contact_list"]
        if contact_list is None:  # the campaign's side follows its list
            _check_list(None, campaign.audience)
        merged["filters"] = _clean_filters(merged["filters"], contact_list)
        merged["subjects"], merged["bodies"] = _clean_messages(
            merged["subjects"], merged["bodies"], merged["default_language"],
            allowed_placeholders(contact_list),
        )  # fmt: skip
        campaign.audience = contact_list.audience
    merged["reminder_after_days"], merged["reminder_max"] = _clean_reminders(
        merged["reminder_after_days"], merged["reminder_max"]
    )
    changed = [name for name in editable if merged[name] != getattr(campaign, name)]
    for name in changed:
        setattr(campaign, name, merged[name])
    if changed:
        campaign.save(update_fields=[*changed, "audience", "updated_at"])
    return campaign


# --- test, send, schedule, stop -----------------------------------------------------------


def composer_for(campaign: Campaign) -> Composer:
    return Composer(
        organization_name=campaign.organization.name, survey_name=campaign.questionnaire.name,
        audience=campaign.audience, subjects=campaign.subjects, bodies=campaign.bodies,
        default_language=campaign.default_language,
    )  # fmt: skip


def campaign_test_send(
    *,
    organization: Organization,
    actor: Principal,
    campaign: Campaign,
    language: str,
    ip_address: str | None = None,
) -> str:
    """Send the message in one language to the actor's own address; returns the address."""
    require(actor, Action.CAMPAIGNS_MANAGE)
    if actor.user is None or not actor.user.email:
        raise PermissionDenied(_("A test goes to your own address: sign in as a person."))
    if language not in campaign.subjects:
        raise ValidationFailed(
            _("The campaign has no message in this language."),
            fields={"language": [_("Choose a language the campaign has a message in.")]},
        )
    key = f"cx:campaign-test:{organization.pk}:{actor.user.pk}"
    cache.add(key, 0, timeout=TEST_SEND_WINDOW)
    if cache.incr(key) > TEST_SENDS_PER_WINDOW:
        raise Conflict(
            _("You have sent %(n)s tests in the last minutes: wait a while.")
            % {"n": TEST_SENDS_PER_WINDOW},
            fields={"language": [_("Too many tests in a short time.")]},
        )
    sample = selectors.campaign_sample_recipient(campaign)
    recipient = Recipient(
        invitation_id=0, email=actor.user.email, token="test-" + "0" * 27, name=sample.name,
        language=language, attributes=sample.attributes,
    )  # fmt: skip
    message = composer_for(campaign).message(recipient, test=True)
    message.subject = _("[Test] %(subject)s") % {"subject": message.subject}
    message.to = [actor.user.email]  # the sample person's name fills the text, not the header
    connection = mailers.default
    connection.send_messages([message])
    audit_record(
        organization=organization, actor=actor, action="campaign.test_sent", target=campaign,
        data={"language": language, "to": actor.user.email}, ip_address=ip_address,
    )  # fmt: skip
    return actor.user.email


@transaction.atomic
def campaign_send(
    *,
    organization: Organization,
    actor: Principal,
    campaign: Campaign,
    send_at: datetime | None = None,
    ip_address: str | None = None,
) -> Campaign:
    """Send now (workers start at once) or at `send_at`. Everything is checked first."""
    require(actor, Action.CAMPAIGNS_MANAGE)
    campaign = _lock(organization, campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(
            _("This campaign was already sent or scheduled."),
            fields={"status": [_("Only a draft can be sent.")]},
        )
    _check_questionnaire(campaign.questionnaire)
    contact_list = _check_list(campaign.contact_list, campaign.audience)
    _clean_messages(campaign.subjects, campaign.bodies, campaign.default_language,
                    allowed_placeholders(contact_list))  # fmt: skip
    now = timezone.now()
    if send_at is not None and send_at > now + timedelta(seconds=30):
        if send_at > now + timedelta(days=366):
            raise ValidationFailed(
                _("Choose a time within a year."), fields={"send_at": [_("Too far ahead.")]}
            )
    else:
        send_at = None
    recipients = selectors.campaign_recipients(campaign).count()
    if not recipients:
        raise ValidationFailed(
            _("Nobody on the list matches: check the filter, or add people to the list."),
            fields={"filters": [_("No recipients.")]},
        )
    if send_at is not None:
        campaign.status = CampaignStatus.SCHEDULED
        campaign.scheduled_at = send_at
        campaign.save(update_fields=["status", "scheduled_at", "updated_at"])
    else:
        _begin(campaign, now)
    audit_record(
        organization=organization, actor=actor,
        action="campaign.scheduled" if send_at else "campaign.sent", target=campaign,
        data={"recipients": recipients, "send_at": send_at.isoformat() if send_at else None,
              "list": contact_list.pk, "filters": campaign.filters},
        ip_address=ip_address,
    )  # fmt: skip
    return campaign


def _begin(campaign: Campaign, now: datetime) -> None:
    """Sending starts: the campaign's (closed) link, status, and the worker's start task."""
    if campaign.link_id is None:
        campaign.link = SurveyLink.objects.create(
            organization_id=campaign.organization_id, questionnaire=campaign.questionnaire,
            audience=campaign.audience, name=f"{campaign.name} (email)"[:200],
            status=LinkStatus.CLOSED, created_by=campaign.created_by,
        )  # fmt: skip
    campaign.status = CampaignStatus.SENDING
    campaign.started_at = now
    campaign.last_progress_at = now
    campaign.save(update_fields=["link", "status", "started_at", "last_progress_at", "updated_at"])
    organization_id, campaign_id = campaign.organization_id, campaign.pk
    transaction.on_commit(lambda: _queue_start(organization_id, campaign_id))


def _queue_start(organization_id: int, campaign_id: int) -> None:
    from .tasks import start_campaign

    start_campaign.delay(organization_id=organization_id, campaign_id=campaign_id)


@transaction.atomic
def campaign_unschedule(
    *,
    organization: Organization,
    actor: Principal,
    campaign: Campaign,
    ip_address: str | None = None,
) -> Campaign:
    require(actor, Action.CAMPAIGNS_MANAGE)
    campaign = _lock(organization, campaign)
    if campaign.status != CampaignStatus.SCHEDULED:
        raise Conflict(
            _("Only a scheduled campaign can be taken back to draft."),
            fields={"status": [_("Not scheduled.")]},
        )
    campaign.status = CampaignStatus.DRAFT
    campaign.scheduled_at = None
    campaign.save(update_fields=["status", "scheduled_at", "updated_at"])
    audit_record(organization=organization, actor=actor, action="campaign.unscheduled",
                 target=campaign, ip_address=ip_address)  # fmt: skip
    return campaign


@transaction.atomic
def campaign_stop(
    *,
    organization: Organization,
    actor: Principal,
    campaign: Campaign,
    ip_address: str | None = None,
) -> Campaign:
    """Stop for good: nothing more is sent (queued messages, reminders); answers still count.

    The personal links stop taking answers too.
    """
    require(actor, Action.CAMPAIGNS_MANAGE)
    campaign = _lock(organization, campaign)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT):
        raise Conflict(
            _("Only a campaign that was sent can be stopped."),
            fields={"status": [_("Not sent.")]},
        )
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = campaign.finished_at or timezone.now()
    campaign.save(update_fields=["status", "finished_at", "updated_at"])
    audit_record(organization=organization, actor=actor, action="campaign.stopped",
                 target=campaign, ip_address=ip_address)  # fmt: skip
    return campaign


# --- the worker's side: start, dispatch, reminders, finishing ----------------------------------


def campaign_begin_scheduled(*, organization: Organization, campaign_id: int) -> bool:
    """A scheduled campaign whose time has come starts sending (the sweeper calls this)."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.for_organization(organization)
            .select_for_update(of=("self",))
            .select_related("questionnaire")
            .filter(pk=campaign_id, status=CampaignStatus.SCHEDULED,
                    scheduled_at__lte=timezone.now())
            .first()
        )  # fmt: skip
        if campaign is None:
            return False
        _begin(campaign, timezone.now())
        return True


def campaign_start(*, organization: Organization, campaign_id: int) -> int:
    """Create the invitations (once) and dispatch their batches; returns how many exist.

    The recipients are the list's contacts matching the filter, minus the suppression list.
    Employee invitations keep only attribute values shared by at least the organisation's
    anonymity minimum of recipients: a rarer value (a team of two) would point at a person.
    """
    with transaction.atomic():
        campaign = (
            Campaign.objects.for_organization(organization)
            .select_for_update(of=("self",))
            .select_related("questionnaire", "contact_list")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None or campaign.status != CampaignStatus.SENDING:
            return 0
        if campaign.invitations_created_at is None:
            if campaign.questionnaire.status != QuestionnaireStatus.PUBLISHED:
                campaign.status = CampaignStatus.CANCELLED
                campaign.error = _("The questionnaire was closed before sending started.")
                campaign.finished_at = timezone.now()
                campaign.save(update_fields=["status", "error", "finished_at", "updated_at"])
                return 0
            _create_invitations(organization, campaign)
            campaign.invitations_created_at = timezone.now()
            campaign.last_progress_at = timezone.now()
            campaign.save(update_fields=["invitations_created_at", "last_progress_at"])
    campaign_dispatch(organization=organization, campaign_id=campaign_id)
    return (
        SurveyInvitation.objects.for_organization(organization)
        .filter(campaign_id=campaign_id)
        .count()
    )


def _create_invitations(organization: Organization, campaign: Campaign) -> None:
    rows = list(
        selectors.campaign_recipients(campaign).values_list(
            "pk", "email", "name", "language", "attributes"
        )
    )
    if campaign.audience == Audience.EMPLOYEE:
        shared = Counter(
            (name, str(value)) for *_rest, attributes in rows for name, value in attributes.items()
        )
        minimum = organization.employee_anonymity_min

        def keep(attributes: dict[str, Any]) -> dict[str, str]:
            return {k: str(v) for k, v in attributes.items() if shared[(k, str(v))] >= minimum}
    else:

        def keep(attributes: dict[str, Any]) -> dict[str, str]:
            return {k: str(v) for k, v in attributes.items()}

    for start in range(0, len(rows), INSERT_CHUNK):
        SurveyInvitation.objects.bulk_create(
            [
                SurveyInvitation(
                    organization=organization,
                    campaign=campaign,
                    contact_id=pk,
                    email=email,
                    name=name,
                    language=language,
                    attributes=keep(attributes or {}),
                )
                for pk, email, name, language, attributes in rows[start : start + INSERT_CHUNK]
            ],
            ignore_conflicts=True,
        )


def campaign_dispatch(*, organization: Organization, campaign_id: int) -> int:
    """Queue a batch task per BATCH_SIZE queued, due invitations; returns the batches queued."""
    now = timezone.now()
    ids = list(
        SurveyInvitation.objects.for_organization(organization)
        .filter(campaign_id=campaign_id, status=InvitationStatus.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    Campaign.objects.for_organization(organization).filter(pk=campaign_id).update(
        last_progress_at=now
    )
    size = _setting("DISTRIBUTION_BATCH_SIZE", 100)
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]

    def queue() -> None:
        from .tasks import send_batch

        for batch in batches:
            send_batch.delay(
                organization_id=organization.pk, campaign_id=campaign_id, invitation_ids=batch
            )

    transaction.on_commit(queue)
    return len(batches)


def reminders_queue(*, organization: Organization, campaign_id: int) -> int:
    """Queue a reminder for each invitation sent N days ago and not answered, K at most."""
    campaign = Campaign.objects.for_organization(organization).filter(pk=campaign_id).first()
    if (
        campaign is None
        or campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT)
        or not campaign.reminder_max
        or not campaign.reminder_after_days
    ):
        return 0
    due = timezone.now() - timedelta(days=campaign.reminder_after_days)
    suppressed = Suppression.objects.for_organization(organization).filter(email=OuterRef("email"))
    queued = (
        SurveyInvitation.objects.for_organization(organization)
        .filter(campaign_id=campaign_id, status=InvitationStatus.SENT,
                sent_count__gte=1, sent_count__lte=campaign.reminder_max, last_sent_at__lte=due)
        .filter(~Exists(suppressed))
        .update(status=InvitationStatus.QUEUED, attempts=0, next_attempt_at=None, error="",
                claimed_by="")
    )  # fmt: skip
    if queued:
        campaign_dispatch(organization=organization, campaign_id=campaign_id)
    return queued


def campaign_finish_if_done(*, organization: Organization, campaign_id: int) -> bool:
    """A sending campaign with nothing queued or in flight is sent."""
    busy = (
        SurveyInvitation.objects.for_organization(organization)
        .filter(campaign_id=campaign_id,
                status__in=[InvitationStatus.QUEUED, InvitationStatus.SENDING])
        .exists()
    )  # fmt: skip
    if busy:
        return False
    return bool(
        Campaign.objects.for_organization(organization)
        .filter(pk=campaign_id, status=CampaignStatus.SENDING, invitations_created_at__isnull=False)
        .update(status=CampaignStatus.SENT, finished_at=timezone.now())
    )


# --- deliveries an admin decides about ------------------------------------------------------


@transaction.atomic
def invitation_resolve_uncertain(
    *,
    organization: Organization,
    actor: Principal,
    invitation: SurveyInvitation,
    resend: bool,
    ip_address: str | None = None,
) -> SurveyInvitation:
    """An admin settles an uncertain (or failed) message: send it again, or count it as sent."""
    require(actor, Action.DELIVERY_ADMIN)
    invitation = (
        SurveyInvitation.objects.for_organization(organization)
        .select_for_update()
        .get(pk=invitation.pk)
    )
    allowed = [InvitationStatus.UNCERTAIN] + ([InvitationStatus.FAILED] if resend else [])
    if invitation.status not in allowed:
        raise Conflict(
            _("This message's outcome is not uncertain."), fields={"status": [invitation.status]}
        )
    campaign = Campaign.objects.for_organization(organization).get(pk=invitation.campaign_id)
    if resend and campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT):
        raise Conflict(_("The campaign was stopped."), fields={"status": [campaign.status]})
    if (
        resend
        and Suppression.objects.for_organization(organization)
        .filter(email=invitation.email)
        .exists()
    ):
        raise Conflict(
            _("%(email)s is on the suppression list.") % {"email": invitation.email},
            fields={"email": [_("Never emailed again.")]},
        )
    before = invitation.status
    if resend:
        invitation.status = InvitationStatus.QUEUED
        invitation.attempts = 0
        invitation.next_attempt_at = None
        invitation.claimed_by = ""
    else:
        invitation.status = InvitationStatus.SENT
        invitation.sent_count += 1
        invitation.last_sent_at = invitation.claimed_at or timezone.now()
    invitation.error = ""
    invitation.save()
    audit_record(
        organization=organization, actor=actor,
        action="invitation.resent" if resend else "invitation.marked_sent", target=campaign,
        target_label=invitation.email,
        data={"invitation": invitation.pk, "email": invitation.email, "before": before},
        ip_address=ip_address,
    )  # fmt: skip
    if resend:
        campaign_id = campaign.pk
        transaction.on_commit(
            lambda: campaign_dispatch(organization=organization, campaign_id=campaign_id)
        )
    return invitation


# --- the respondent's side ----------------------------------------------------------------


def invitation_mark_responded(*, link: SurveyLink, invitation_id: int, response: Any) -> None:
    """Inside the response's transaction: this invitation is used (once). For employees only
    that: no time and no response are kept on the invitation.

    Raises ValidationFailed if it was already used (the response is then rolled back).
    """
    customer = link.audience == Audience.CUSTOMER
    updated = (
        SurveyInvitation.objects.for_organization(link.organization_id)
        .filter(pk=invitation_id)
        .exclude(status=InvitationStatus.RESPONDED)
        .update(
            status=InvitationStatus.RESPONDED,
            responded_at=timezone.now() if customer else None,
            response=response if customer else None,
        )
    )
    if not updated:
        message = _("This invitation has already been answered. Thank you!")
        raise ValidationFailed(message, fields={"link": [message]})


@transaction.atomic
def invitation_opt_out(*, token: str, ip_address: str | None = None) -> SurveyInvitation | None:
    """The person behind an invitation asks for no more email (page or one-click header)."""
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        return None
    organization = invitation.organization
    _suppression, created = _suppress(
        organization, invitation.email, SuppressionReason.UNSUBSCRIBED,
        campaign_id=invitation.campaign_id,
    )  # fmt: skip
    if created:
        audit_record(
            organization=organization, actor=None, action="suppression.added",
            target_label=invitation.email,
            data={"email": invitation.email, "reason": SuppressionReason.UNSUBSCRIBED,
                  "campaign": invitation.campaign_id},
        )  # fmt: skip
    invitation.refresh_from_db()
    return invitation

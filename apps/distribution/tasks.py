"""Email distribution tasks (the "email" queue): imports, campaign start, batches, the sweeper.

Each receives ids, enters the organisation's context and calls services; each is idempotent.
"""

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.core.tenancy import all_organizations, organization_context
from apps.organizations.models import Organization

from . import campaign_services, contact_services, sending
from .models import Campaign, CampaignStatus, InvitationStatus, SurveyInvitation

logger = logging.getLogger(__name__)


def _organization(organization_id: int) -> Organization | None:
    return Organization.objects.filter(pk=organization_id).first()


@shared_task
def import_contacts(organization_id: int, import_id: int) -> None:
    organization = _organization(organization_id)
    if organization is None:
        return
    with organization_context(organization):
        contact_services.contact_import_run(organization=organization, import_id=import_id)


@shared_task
def start_campaign(organization_id: int, campaign_id: int) -> None:
    organization = _organization(organization_id)
    if organization is None:
        return
    with organization_context(organization):
        campaign_services.campaign_start(organization=organization, campaign_id=campaign_id)


@shared_task(bind=True)
def send_batch(
    self: Any, organization_id: int, campaign_id: int, invitation_ids: list[int]
) -> None:
    """One batch over one connection. A re-delivery of this task (its worker died) has the
    same id: the message it was handing over is then marked uncertain, not sent again."""
    organization = _organization(organization_id)
    if organization is None:
        return
    with organization_context(organization):
        result = sending.batch_send(
            organization=organization, campaign_id=campaign_id,
            invitation_ids=list(invitation_ids), run_id=str(self.request.id or "")[:64],
        )  # fmt: skip
    logger.info("campaign %s batch: %s", campaign_id, result)


def _seconds(name: str, default: int) -> timedelta:
    return timedelta(seconds=int(getattr(settings, name, default)))


@shared_task
def sweep() -> dict[str, int]:
    """Every minute (beat): start scheduled campaigns, settle messages whose worker died,
    re-dispatch campaigns that stopped moving, finish campaigns, queue reminders, restart
    stalled imports. Finding the work crosses organisations; doing it enters each one."""
    with all_organizations():
        return _sweep()


def _sweep() -> dict[str, int]:
    now = timezone.now()
    counts = {"started": 0, "uncertain": 0, "redispatched": 0, "finished": 0, "reminders": 0}
    for organization_id, campaign_id in Campaign.unscoped.filter(
        status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
    ).values_list("organization_id", "pk"):
        counts["started"] += _in(organization_id, campaign_services.campaign_begin_scheduled,
                                 campaign_id=campaign_id)  # fmt: skip
    # Rows of runs that died (every organisation's: the sweeper is the platform's).
    counts["uncertain"] = sending.settle_abandoned(
        SurveyInvitation.unscoped.filter(
            status__in=[InvitationStatus.SENDING, InvitationStatus.QUEUED]
        ).exclude(claimed_by="")
    )
    active = Campaign.unscoped.filter(status__in=[CampaignStatus.SENDING, CampaignStatus.SENT])
    stalled = active.filter(
        last_progress_at__lt=now - _seconds("DISTRIBUTION_REDISPATCH_SECONDS", 900)
    ).values_list("organization_id", "pk", "status")
    for organization_id, campaign_id, status in stalled:
        if status == CampaignStatus.SENDING:
            _in(organization_id, campaign_services.campaign_start, campaign_id=campaign_id)
        else:
            _in(organization_id, campaign_services.campaign_dispatch, campaign_id=campaign_id)
        counts["redispatched"] += 1
    for organization_id, campaign_id in active.filter(status=CampaignStatus.SENDING).values_list(
        "organization_id", "pk"
    ):
        counts["finished"] += _in(organization_id, campaign_services.campaign_finish_if_done,
                                  campaign_id=campaign_id)  # fmt: skip
    for organization_id, campaign_id in active.filter(
        reminder_max__gt=0, reminder_after_days__isnull=False
    ).values_list("organization_id", "pk"):
        counts["reminders"] += _in(organization_id, campaign_services.reminders_queue,
                                   campaign_id=campaign_id)  # fmt: skip
    counts["imports"] = contact_services.contact_imports_requeue()
    return counts


def _in(organization_id: int, service: Any, **kwargs: Any) -> int:
    organization = _organization(organization_id)
    if organization is None:
        return 0
    with organization_context(organization):
        try:
            return int(service(organization=organization, **kwargs) or 0)
        except Exception:
            logger.exception("sweep: %s failed for organisation %s", service.__name__,
                             organization_id)  # fmt: skip
            return 0

"""Scoring background work: processing stored responses in batches, the sweeper, rescoring.

Every task here is idempotent: a response is processed once whatever is delivered twice, and a
task killed mid-batch leaves its batch unprocessed (rolled back) for the next one.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from apps.core.errors import ApplicationError
from apps.core.tenancy import all_organizations, organization_context
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Principal

from .services import (
    DRAIN_BATCH_SIZE,
    journey_rescore,
    responses_process_pending,
    responses_stale_organizations,
)

log = logging.getLogger(__name__)

# A task drains for at most this long, then queues itself again, so one organisation's backlog
# cannot hold a worker for minutes while other organisations wait.
TIME_BUDGET_SECONDS = 50.0
# The sweeper's notion of "left unprocessed": a healthy pipeline processes within seconds.
STALE_SECONDS = 30.0

# Lock timeouts, deadlocks and "database is locked" are worth a quick retry; anything else is a
# bug and waits for the sweeper.
_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "max_retries": 5,
}


def _process_pending(organization_id: int, limit: int) -> tuple[int, bool]:
    """Drain one organisation's unprocessed responses within the time budget."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0, True
    with organization_context(organization):
        return responses_process_pending(
            organization_id=organization.pk, limit=limit, time_budget=TIME_BUDGET_SECONDS
        )


@shared_task(**_RETRY)
def responses_process_task(*, organization_id: int, limit: int = DRAIN_BATCH_SIZE) -> int:
    """Process the organisation's unprocessed responses in batches of `limit`; queue itself
    again if the time budget ran out first."""
    processed, drained = _process_pending(organization_id, limit)
    if not drained:
        responses_process_task.delay(organization_id=organization_id, limit=limit)
    return processed


@shared_task
def responses_sweep(*, older_than_seconds: float = STALE_SECONDS) -> int:
    """Periodic (beat): queue processing for organisations whose responses were left behind
    (broker outage, a worker killed mid-batch, a lost trigger). Returns how many were queued."""
    with all_organizations():  # finding the work crosses organisations; doing it enters each
        organization_ids = responses_stale_organizations(older_than=older_than_seconds)
    for organization_id in organization_ids:
        responses_process_task.delay(organization_id=organization_id)
    if organization_ids:
        log.info("sweeper queued processing for %d organisation(s)", len(organization_ids))
    return len(organization_ids)


@shared_task(**_RETRY)
def journey_rescore_task(
    *, organization_id: int, journey_id: int, actor_id: int | None = None
) -> int | None:
    """Rebuild one journey's aggregates. `actor_id` is the user who asked (None: the system);
    one who is no longer a member gets nothing done. Returns the responses counted."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    with organization_context(organization):
        actor = None
        if actor_id is not None:
            membership = (
                Membership.objects.for_organization(organization)
                .select_related("user", "organization")
                .filter(user_id=actor_id)
                .first()
            )
            if membership is None:
                return None
            actor = Principal.for_membership(membership)
        try:
            return journey_rescore(organization=organization, actor=actor, journey=journey_id)
        except ApplicationError as error:
            log.warning("rescoring journey %s refused: %s", journey_id, error.message)
            return None

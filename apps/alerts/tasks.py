"""Alert background work (queue "email"): telling assignees, the daily digest, the SLA tick.

Tasks receive ids, enter the organisation's context and call one service; each is idempotent
(every email is claimed on its row before it is sent).
"""

from celery import shared_task

from apps.core.tenancy import all_organizations, organization_context


@shared_task
def notify_assignees(
    *,
    organization_id: int,
    response_ids: list[int] | None = None,
    alert_ids: list[int] | None = None,
) -> int:
    from apps.organizations.models import Organization

    from .notifications import alerts_notify

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    with organization_context(organization):
        return alerts_notify(
            organization=organization, response_ids=response_ids or [], alert_ids=alert_ids or []
        )


@shared_task
def sla_tick() -> dict[str, int]:
    """Every few minutes (CELERY_BEAT_SCHEDULE): overdue reminders and escalations."""
    from .notifications import alerts_sla_tick

    with all_organizations():
        return alerts_sla_tick()


@shared_task
def digest_tick() -> int:
    """Every few minutes (CELERY_BEAT_SCHEDULE): the daily digests that are due."""
    from .notifications import alerts_digest_send

    with all_organizations():
        return alerts_digest_send()

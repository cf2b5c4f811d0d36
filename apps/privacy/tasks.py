"""Privacy background work: the daily retention pass (CELERY_BEAT_SCHEDULE).

Tasks receive ids, enter the organisation's context and call one service; a second run the
same day finds nothing left to anonymise.
"""

from celery import shared_task

from apps.core.tenancy import organization_context


@shared_task
def retention_tick() -> int:
    """Daily: one retention task per organisation (a failure in one does not stop the rest)."""
    from apps.organizations.models import Organization

    ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for organization_id in ids:
        retention_apply.delay(organization_id=organization_id)
    return len(ids)


@shared_task
def retention_apply(*, organization_id: int) -> int | None:
    from apps.organizations.models import Organization

    from .services import retention_run

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    with organization_context(organization):
        return retention_run(organization=organization).pk

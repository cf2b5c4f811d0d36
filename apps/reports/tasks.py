"""Report background work (queue "reports"): making files, sending deliveries, the beat tick.

Tasks receive ids, enter the organisation's context and call one service; each is idempotent.
"""

from celery import shared_task

from apps.core.tenancy import all_organizations, organization_context


def _organization(organization_id: int):  # type: ignore[no-untyped-def]
    from apps.organizations.models import Organization

    return Organization.objects.filter(pk=organization_id).first()


@shared_task
def render_report_file(*, organization_id: int, file_id: int) -> str | None:
    from .services import report_file_render

    organization = _organization(organization_id)
    if organization is None:
        return None
    with organization_context(organization):
        report_file = report_file_render(organization=organization, file_id=file_id)
    return report_file.status if report_file is not None else None


@shared_task(bind=True, max_retries=None)
def send_delivery(self, *, organization_id: int, delivery_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """Render and email one delivery; after a transient failure (mail server unreachable or
    answering 4xx) run again later, 1, 2, 4... minutes on (delivery.MAX_ATTEMPTS runs)."""
    from .delivery import delivery_run, retry_delay

    organization = _organization(organization_id)
    if organization is None:
        return None
    with organization_context(organization):
        outcome = delivery_run(organization=organization, delivery_id=delivery_id)
    if outcome.retry:
        raise self.retry(countdown=retry_delay(self.request.retries + 1))
    return outcome.status


@shared_task
def schedules_tick() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): due schedules become deliveries."""
    from .services import schedules_tick as tick

    with all_organizations():  # finding due schedules crosses organisations
        return len(tick())


@shared_task
def purge_expired_files() -> int:
    from .services import report_files_purge

    with all_organizations():
        return report_files_purge()


@shared_task
def sweep_stale_files() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): files a stopped worker left running are failed."""
    from .services import report_files_fail_stale

    with all_organizations():
        return len(report_files_fail_stale())

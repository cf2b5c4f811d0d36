"""Webhook tasks: one attempt of one delivery (retried with backoff), and the beat's sweep."""

from celery import shared_task

from apps.core.tenancy import all_organizations, organization_context
from apps.organizations.models import Organization

from . import services


@shared_task(bind=True)
def deliver(self, organization_id: int, delivery_id: int, attempt: int = 1) -> str:  # type: ignore[no-untyped-def]
    """Attempt number `attempt`; a failure schedules the next one with a countdown."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return "missing"
    with organization_context(organization):
        outcome = services.webhook_delivery_attempt(
            organization_id=organization_id, delivery_id=delivery_id, attempt=attempt
        )
    if outcome.retry_in is not None:
        # The next attempt is its own message with a countdown, on the queue this one came
        # from (not `self.retry`, which under eager test settings raises instead of running
        # it); its number makes it run once however often it is delivered.
        queue = (self.request.delivery_info or {}).get("routing_key")
        deliver.apply_async(
            args=[organization_id, delivery_id, attempt + 1],
            countdown=outcome.retry_in,
            **({"queue": queue} if queue else {}),
        )
    return str(outcome.status)


@shared_task
def dispatch(organization_id: int, delivery_ids: list[int]) -> int:
    """Queue the first attempt of each delivery of a batch (idempotent: attempts are numbered)."""
    for delivery_id in delivery_ids:
        deliver.delay(organization_id, delivery_id, 1)
    return len(delivery_ids)


@shared_task
def sweep() -> int:
    """Requeue deliveries whose retry message was lost."""
    with all_organizations():
        return services.webhook_deliveries_requeue_stalled()

"""Journey background work: telling a new journey owner about their journey."""

from celery import shared_task

from apps.core.tenancy import organization_context


@shared_task
def journey_owner_notify(*, organization_id: int, journey_id: int) -> bool:
    from apps.organizations.models import Organization

    from .services import journey_owner_send_email

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return False
    with organization_context(organization):
        return journey_owner_send_email(organization=organization, journey_id=journey_id)

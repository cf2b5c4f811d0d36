"""Improvement action background work (queue "email"): telling an action's new owner."""

from celery import shared_task

from apps.core.tenancy import organization_context


@shared_task
def notify_owner(*, organization_id: int, action_id: int) -> bool:
    from apps.organizations.models import Organization

    from .services import action_owner_notify

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return False
    with organization_context(organization):
        return action_owner_notify(organization=organization, action_id=action_id)

"""The demo organisation's alerts: a handful in every state, so that the inbox is not empty.

The generated history (months of answers, processed in bulk) would raise hundreds of alerts, all
long overdue: the rules are off while it loads (`demo_alert_rules_load`, before the responses),
then `demo_alerts_load` turns them on, makes the viewer the owner of the Offer touchpoint and
raises alerts for the latest unhappy customers only, through the same service the pipeline
calls, and works a few of them.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Principal
from apps.responses.models import Response

from .models import Alert, AlertRuleSet
from .services import (
    alert_assign,
    alert_resolve,
    alert_rules_update,
    alert_start,
    alerts_raise_for_responses,
)

DEMO_ALERTS = 8


def _principal(organization: Organization, email: str) -> Principal | None:
    membership = (
        Membership.objects.for_organization(organization)
        .select_related("user", "organization")
        .filter(user__email=email)
        .first()
    )
    return Principal.for_membership(membership) if membership else None


@transaction.atomic
def demo_alert_rules_load(organization: Organization, journey: Journey) -> None:
    """Rules off while the generated history loads (idempotent)."""
    AlertRuleSet.objects.for_organization(organization).get_or_create(
        organization=organization, journey=journey, defaults={"enabled": False}
    )


@transaction.atomic
def demo_alerts_load(organization: Organization, journey: Journey) -> int:
    """Turn the rules on and raise the latest unhappy customers' alerts, in different states
    (idempotent: nothing happens when the journey has alerts). Returns the alerts raised."""
    if Alert.objects.for_organization(organization).filter(journey=journey).exists():
        return 0
    owner = _principal(organization, "owner@demo.example")
    analyst = _principal(organization, "analyst@demo.example")
    viewer = _principal(organization, "viewer@demo.example")
    if owner is None or analyst is None or viewer is None:
        return 0
    alert_rules_update(
        organization=organization,
        actor=owner,
        journey=journey,
        values={"enabled": True, "keywords": ["huono", "pettynyt", "disappointed", "never again"]},
    )
    offer = (
        Touchpoint.objects.for_organization(organization)
        .filter(journey=journey, name__in=["Tarjous", "Offer"])
        .first()
    )
    if offer is not None and offer.owner_id is None and viewer.user is not None:
        Touchpoint.objects.for_organization(organization).filter(pk=offer.pk).update(
            owner=viewer.user
        )
    latest = list(
        Response.objects.for_organization(organization)
        .filter(questionnaire__journey=journey, audience="customer")
        .order_by("-submitted_on", "-id")
        .values_list("id", flat=True)[:400]
    )
    now = timezone.now()
    candidates: list[int] = []
    # Raise alert by alert, newest first, until there are enough (a few hundred rows at most).
    for response_id in latest:
        if alerts_raise_for_responses(
            organization_id=organization.pk, response_ids=[response_id], now=now
        ):
            candidates.append(response_id)
        if len(candidates) >= DEMO_ALERTS:
            break
    alerts = list(
        Alert.objects.for_organization(organization)
        .filter(response_id__in=candidates)
        .select_related("journey", "touchpoint")
        .order_by("id")
    )
    # Spread them over the last two days: the oldest ones are overdue.
    for index, alert in enumerate(alerts):
        created = now - timedelta(hours=6 * index)
        Alert.objects.for_organization(organization).filter(pk=alert.pk).update(
            created_at=created,
            due_at=created + timedelta(hours=24),
            escalate_at=created + timedelta(hours=48),
            notified_at=created,
        )
        alert.refresh_from_db()
    for index, alert in enumerate(alerts):
        actor = owner if alert.assignee_id is None else analyst
        if index == 1:
            alert_start(
                organization=organization,
                actor=actor,
                alert=alert,
                now=alert.created_at + timedelta(hours=2),
            )
        elif index in (2, 3):
            alert_start(
                organization=organization,
                actor=actor,
                alert=alert,
                now=alert.created_at + timedelta(hours=3),
            )
            alert_resolve(
                organization=organization,
                actor=actor,
                alert=alert,
                outcome="recovered" if index == 2 else "could_not_reach",
                note="Soitin asiakkaalle ja sovimme uuden toimituksen."
                if index == 2
                else "Kaksi soittoyritystä, ei vastausta.",
                now=alert.created_at + timedelta(hours=20),
            )
        elif index == 4 and owner.user is not None:
            # Handed over: from whoever had it to the organisation's owner.
            alert_assign(
                organization=organization,
                actor=owner,
                alert=alert,
                assignee_id=owner.user.pk,
                now=alert.created_at + timedelta(hours=1),
            )
    return len(alerts)

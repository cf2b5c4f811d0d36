"""The demo organisation's improvement actions: one on the planted blind spot (the Offer), begun
a month ago and in progress, and one planned on the second top priority (the Support call), so
that the action pages and the dashboard panel have something to show."""

from datetime import timedelta

from django.db import transaction

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.organizations.permissions import Principal
from apps.scoring.filters import organization_today

from .models import ActionSource, ActionStatus, ImprovementAction
from .services import action_create, action_update

# Seed content in the organisation's language (data, not UI strings).
TEXTS = {
    "en": {
        "offer_title": "one-page offer with the final price",
        "offer_description": "Sales sends a one-page offer with the final price and delivery "
        "date; no price changes after the offer.",
        "offer_note": "The new offer template is in use by the sales team.",
        "support_title": "call back within one working day",
    },
    "fi": {
        "offer_title": "yhden sivun tarjous lopullisella hinnalla",
        "offer_description": "Myynti lähettää yhden sivun tarjouksen, jossa on lopullinen hinta "
        "ja toimituspäivä; hinta ei muutu tarjouksen jälkeen.",
        "offer_note": "Uusi tarjouspohja on myyntitiimin käytössä.",
        "support_title": "soitto takaisin yhden työpäivän kuluessa",
    },
}


@transaction.atomic
def demo_actions_load(organization: Organization, journey: Journey) -> list[ImprovementAction]:
    """Idempotent: nothing is added when the journey has actions already."""
    existing = list(
        ImprovementAction.objects.for_organization(organization).filter(journey=journey)
    )
    if existing or journey.owner is None:
        return existing
    # The journey owner creates them, as they would from the dashboard.
    actor = Principal(organization=organization, role="analyst", user=journey.owner)
    touchpoints = {
        tp.name_in("en"): tp
        for tp in Touchpoint.objects.for_organization(organization).filter(journey=journey)
    }
    today = organization_today(organization)
    text = TEXTS.get(organization.default_language, TEXTS["en"])
    made = []
    offer = touchpoints.get("Offer")
    if offer is not None:
        started = today - timedelta(days=30)
        action = action_create(
            organization=organization, actor=actor, journey=journey, touchpoint_id=offer.pk,
            dimension="ease", source=ActionSource.BLIND_SPOT, owner_id=journey.owner_id,
            title=f"{offer.name}: {text['offer_title']}", description=text["offer_description"],
            due_date=today + timedelta(days=45), today=started,
        )  # fmt: skip
        action = action_update(
            organization=organization, actor=actor, action=action,
            status=ActionStatus.IN_PROGRESS, note=text["offer_note"],
        )  # fmt: skip
        made.append(action)
    support = touchpoints.get("Support call")
    if support is not None:
        made.append(
            action_create(
                organization=organization,
                actor=actor,
                journey=journey,
                touchpoint_id=support.pk,
                source=ActionSource.TOP_PRIORITY,
                owner_id=journey.owner_id,
                title=f"{support.name}: {text['support_title']}",
                due_date=today + timedelta(days=60),
                today=today,
            )
        )
    return made

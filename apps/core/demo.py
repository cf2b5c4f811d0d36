"""The demo organisation's data, loaded once into the embedded default so every screen has content.

Each capability adds its own step here; every step is idempotent.
"""

from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str


DEMO_PASSWORD = "demo-cx-2026"  # noqa: S105 - published demo credential for the local sandbox only
DEMO_ORGANIZATION_SLUG = "nordic-machinery"
DEMO_LOGINS = [
    DemoLogin("owner@demo.example", DEMO_PASSWORD, "owner (also Django admin)"),
    DemoLogin("admin@demo.example", DEMO_PASSWORD, "admin"),
    DemoLogin("analyst@demo.example", DEMO_PASSWORD, "analyst"),
    DemoLogin("viewer@demo.example", DEMO_PASSWORD, "viewer"),
]
_NAMES = {
    "owner@demo.example": "Olivia Owner",
    "admin@demo.example": "Aaro Admin",
    "analyst@demo.example": "Anna Analyst",
    "viewer@demo.example": "Ville Viewer",
}


@transaction.atomic
def demo_load() -> bool:
    """Create the demo organisation and its people unless they exist. True when created."""
    from apps.accounts.models import User
    from apps.accounts.services import user_create
    from apps.actions.demo import demo_actions_load
    from apps.alerts.demo import demo_alert_rules_load, demo_alerts_load
    from apps.distribution.demo import demo_links_load
    from apps.journeys.demo import demo_journey_load
    from apps.organizations.models import Membership, Organization
    from apps.organizations.services import organization_create
    from apps.scoring.demo import demo_responses_load

    if Organization.objects.filter(slug=DEMO_ORGANIZATION_SLUG).exists():
        return False
    users = {}
    for login in DEMO_LOGINS:
        user = User.objects.filter(email=login.email).first() or user_create(
            email=login.email,
            password=login.password,
            full_name=_NAMES[login.email],
            verified=True,
        )
        users[login.email] = user
    owner = users[DEMO_LOGINS[0].email]
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    organization = organization_create(
        name="Nordic Machinery Oy",
        slug=DEMO_ORGANIZATION_SLUG,
        owner=owner,
        time_zone="Europe/Helsinki",
        default_language="fi",
    )
    # Seed data, not a user action: memberships are written directly, without invitations.
    for login in DEMO_LOGINS[1:]:
        Membership.objects.create(
            organization=organization, user=users[login.email], role=login.role
        )
    journey = demo_journey_load(organization, users["analyst@demo.example"])
    demo_links_load(organization)
    demo_alert_rules_load(organization, journey)
    demo_responses_load(organization, journey)
    demo_actions_load(organization, journey)
    demo_alerts_load(organization, journey)
    return True

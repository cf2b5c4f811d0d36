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
DEMO_LOGINS = [
    DemoLogin("owner@demo.example", DEMO_PASSWORD, "owner (also Django admin)"),
]


@transaction.atomic
def demo_load() -> bool:
    """Create the demo data unless it exists. Returns True when something was created."""
    from apps.accounts.models import User
    from apps.accounts.services import user_create

    owner_login = DEMO_LOGINS[0]
    if User.objects.filter(email=owner_login.email).exists():
        return False
    user_create(
        email=owner_login.email,
        password=owner_login.password,
        full_name="Olivia Owner",
        verified=True,
        is_staff=True,
    )
    User.objects.filter(email=owner_login.email).update(is_superuser=True)
    return True

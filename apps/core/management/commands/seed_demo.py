"""Load the demo organisation's data (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from apps.core.demo import DEMO_LOGINS, demo_load


class Command(BaseCommand):
    help = "Load the demo data once; running it again changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        created = demo_load()
        self.stdout.write("Demo data loaded." if created else "Demo data already present.")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.email} / {login.password}  ({login.role})")

"""Load the demo organisation's data (idempotent)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import DEMO_LOGINS, demo_load


class Command(BaseCommand):
    help = "Load the demo data once; running it again changes nothing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load even with DEBUG off (the demo has a superuser with a published password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "Refusing to load demo data with DEBUG off: its superuser's password is public."
            )
        created = demo_load()
        self.stdout.write("Demo data loaded." if created else "Demo data already present.")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.email} / {login.password}  ({login.role})")

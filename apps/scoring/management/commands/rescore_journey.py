"""Rebuild one journey's aggregates from its raw answers (after a mapping change or a repair)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.core.tenancy import organization_context
from apps.organizations.models import Organization
from apps.scoring.services import journey_rescore


class Command(BaseCommand):
    help = "Rescore a journey: delete its aggregates and rebuild them from all its responses."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("organization", help="the organisation's slug")
        parser.add_argument("journey", type=int, help="the journey's id")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {options['organization']!r}.")
        with organization_context(organization):
            try:
                counted = journey_rescore(
                    organization=organization, actor=None, journey=options["journey"]
                )
            except ApplicationError as error:
                details = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.fields.items())
                raise CommandError(f"{error.message} {details}".strip()) from error
        self.stdout.write(f"Rescored journey {options['journey']}: {counted} responses counted.")

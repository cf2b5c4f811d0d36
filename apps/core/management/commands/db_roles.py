"""Create or update the runtime database role and its grants (run as the tables' owner).

    MIGRATE_DATABASE_URL=postgres://owner:...@db/cx DATABASE_URL=postgres://cx_app:...@db/cx \\
        python manage.py db_roles

manage.py connects as MIGRATE_DATABASE_URL for this command and passes the runtime URL on: the
role it names is created (LOGIN, NOSUPERUSER, NOBYPASSRLS, owning nothing) with that URL's
password, row-level security is (re)applied, and the role is granted what it needs. `--check`
only reports what is wrong with the role and exits non-zero if anything is.
"""

import os
from typing import Any

import environ
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.core import rls


class Command(BaseCommand):
    help = "Create/update the runtime database role (no owner, no BYPASSRLS) and its grants."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--role", default=None, help="role name (default: DATABASE_APP_ROLE)")
        parser.add_argument("--check", action="store_true", help="only check the role")

    def handle(self, *args: Any, role: str | None = None, check: bool = False, **kw: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist on PostgreSQL only.")
        role = role or settings.DATABASE_APP_ROLE
        if not check:
            runtime_url = os.environ.get("RUNTIME_DATABASE_URL", "")
            password = (
                environ.Env.db_url_config(runtime_url).get("PASSWORD") if runtime_url else None
            )
            created = rls.role_ensure(role, password=password or None)
            secured = rls.apply()
            self.stdout.write(
                f"role {role} {'created' if created else 'updated'}; "
                f"{len(secured)} table(s) newly secured"
            )
        problems = rls.role_problems(role)
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(f"role {role}: owns nothing, no superuser, no BYPASSRLS")

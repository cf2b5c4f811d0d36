#!/usr/bin/env python
"""Django's command-line utility; the embedded default settings unless told otherwise."""

import os
import sys

OWNER_COMMANDS = ("migrate", "db_roles")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxplatform.settings.local")
    # Schema changes and role grants run as the tables' owner (MIGRATE_DATABASE_URL); everything
    # else as DATABASE_URL, the runtime role that row-level security holds to one organisation.
    owner_url = os.environ.get("MIGRATE_DATABASE_URL")
    if owner_url and len(sys.argv) > 1 and sys.argv[1] in OWNER_COMMANDS:
        os.environ.setdefault("RUNTIME_DATABASE_URL", os.environ.get("DATABASE_URL", ""))
        os.environ["DATABASE_URL"] = owner_url
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Django's command-line utility; the embedded default settings unless told otherwise."""

import os
import sys

OWNER_COMMANDS = ("migrate", "db_roles")


def use_owner_database(argv: list[str], environ: "os._Environ[str] | dict[str, str]") -> bool:
    """Schema changes and role grants run as the tables' owner (MIGRATE_DATABASE_URL); everything
    else as DATABASE_URL, the runtime role that row-level security holds to one organisation.
    The runtime URL stays available to `db_roles` as RUNTIME_DATABASE_URL."""
    owner_url = environ.get("MIGRATE_DATABASE_URL")
    if not owner_url or len(argv) < 2 or argv[1] not in OWNER_COMMANDS:
        return False
    environ.setdefault("RUNTIME_DATABASE_URL", environ.get("DATABASE_URL", ""))
    environ["DATABASE_URL"] = owner_url
    return True


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxplatform.settings.local")
    use_owner_database(sys.argv, os.environ)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

"""PostgreSQL row-level security: the database's own tenant wall, behind the application's.

Every table with an `organization_id` column gets RLS enabled and forced (the owner too) and
one policy: a row is visible and writable only when its organisation is the one in the session
setting `cx.organization_id` (apps/core/tenancy.py keeps it in step with the request or task).
Two more ways in, both explicit:

- memberships are also readable by their own user (`cx.user_id`): the organisation switcher
  and resolving `/o/<slug>/` look a user's memberships up across organisations;
- `cx.all_organizations = on` admits every row: the beat's maintenance ticks only
  (`tenancy.all_organizations()`, refused during requests), and the token function below.

Public tokens (a survey link, an email invitation, a member invitation, an API key's prefix, a
report recipient's unsubscribe link) are resolved by one SECURITY DEFINER function,
`cx_token_owner(kind, token)`, which answers only (row id, organisation id); the caller then
enters that organisation and reads the row through the policy like any other.

Applied after every `migrate` (post_migrate, PostgreSQL only), idempotently, to whatever tables
then have the column, so a new tenant table is covered by the migration that creates it. The
embedded SQLite default has no such thing: the explicit `for_organization` filters (kept
everywhere, and what the indexes serve) are its only wall.
"""

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

POLICY = "cx_tenant_v1"
MEMBER_POLICY = "cx_own_membership_v1"
TOKEN_FUNCTION = "cx_token_owner"  # noqa: S105 (a function name)

_ORGANIZATION = (
    "(SELECT NULLIF(pg_catalog.current_setting('cx.organization_id', true), '')::bigint)"
)
_EVERYTHING = "(SELECT pg_catalog.current_setting('cx.all_organizations', true) = 'on')"
_USER = "(SELECT NULLIF(pg_catalog.current_setting('cx.user_id', true), '')::bigint)"
TENANT_RULE = f"organization_id = {_ORGANIZATION} OR {_EVERYTHING}"
MEMBER_RULE = f"user_id = {_USER}"


def _token_kinds() -> dict[str, tuple[Any, str]]:
    """kind -> (model, column the token is compared with). The only lookups the function does."""
    from apps.distribution.models import SurveyInvitation, SurveyLink
    from apps.organizations.models import ApiKey, Invitation
    from apps.reports.models import ScheduleRecipient

    return {
        "survey_link": (SurveyLink, "token"),
        "survey_invitation": (SurveyInvitation, "token"),
        "member_invitation": (Invitation, "token_hash"),
        "api_key": (ApiKey, "prefix"),
        "report_recipient": (ScheduleRecipient, "unsubscribe_token"),
    }


TOKEN_KINDS = ("survey_link", "survey_invitation", "member_invitation", "api_key",
               "report_recipient")  # fmt: skip
MAX_TOKEN = 128


def token_owner(kind: str, token: str) -> tuple[int, int] | None:
    """(row id, organisation id) of the row the token names, or None."""
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if not token or len(token) > MAX_TOKEN:
        return None
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, organization_id FROM {TOKEN_FUNCTION}(%s, %s)",  # noqa: S608
                [kind, token],
            )
            row = cursor.fetchone()
    else:
        model, column = _token_kinds()[kind]
        row = model.unscoped.filter(**{column: token}).values_list("pk", "organization_id").first()
    return (int(row[0]), int(row[1])) if row else None


# --- applying it ---------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(name)


def tenant_tables(cursor: Any) -> list[str]:
    """Tables of the current schema with an organization_id column (what the catalog says, not
    what the models say: a table made by raw SQL is covered too)."""
    cursor.execute(
        """
        SELECT c.relname FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND a.attname = 'organization_id' AND NOT a.attisdropped
        ORDER BY c.relname
        """
    )
    return [row[0] for row in cursor.fetchall()]


def _token_function_sql(schema: str) -> str:
    branches = []
    for kind, (model, column) in _token_kinds().items():
        table = f"{_quote(schema)}.{_quote(model._meta.db_table)}"
        field = _quote(model._meta.get_field(column).column)
        branches.append(
            f"IF p_kind = '{kind}' THEN RETURN QUERY SELECT t.id, t.organization_id "  # noqa: S608
            f"FROM {table} t WHERE t.{field} = p_token; "
            f"PERFORM set_config('cx.all_organizations', previous, true); RETURN; END IF;"
        )
    body = "\n  ".join(branches)
    # SECURITY DEFINER with a fixed search_path. `cx.all_organizations` is on only around its
    # one lookup (so the owner's FORCEd policies do not hide the row) and put back before it
    # returns; should the lookup fail, the transaction's failure discards it too. (A function
    # `SET cx.all_organizations` clause would need a superuser on PostgreSQL 15+.)
    return f"""
CREATE OR REPLACE FUNCTION {_quote(schema)}.{TOKEN_FUNCTION}(p_kind text, p_token text)
RETURNS TABLE (id bigint, organization_id bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  previous text := coalesce(current_setting('cx.all_organizations', true), '');
BEGIN
  IF p_token IS NULL OR length(p_token) > {MAX_TOKEN} THEN RETURN; END IF;
  PERFORM set_config('cx.all_organizations', 'on', true);
  {body}
  PERFORM set_config('cx.all_organizations', previous, true);
  RAISE EXCEPTION 'unknown token kind %', p_kind;
END
$fn$;
REVOKE ALL ON FUNCTION {_quote(schema)}.{TOKEN_FUNCTION}(text, text) FROM PUBLIC;
"""


def apply(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Enable, force and attach the policy on every tenant table; (re)create the token function;
    grant the runtime role (if it exists). Idempotent. Returns the tables newly secured."""
    from apps.organizations.models import Membership

    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    secured = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        for table in tenant_tables(cursor):
            cursor.execute(
                "SELECT c.relrowsecurity AND c.relforcerowsecurity, "
                "EXISTS (SELECT 1 FROM pg_catalog.pg_policy p "
                "        WHERE p.polrelid = c.oid AND p.polname = %s) "
                "FROM pg_catalog.pg_class c WHERE c.oid = %s::regclass",
                [POLICY, f"{_quote(schema)}.{_quote(table)}"],
            )
            forced, has_policy = cursor.fetchone()
            name = f"{_quote(schema)}.{_quote(table)}"
            if not forced:
                cursor.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
                cursor.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
            if not has_policy:
                cursor.execute(
                    f"CREATE POLICY {POLICY} ON {name} USING ({TENANT_RULE}) "
                    f"WITH CHECK ({TENANT_RULE})"
                )
            if table == Membership._meta.db_table:
                cursor.execute(
                    f"DROP POLICY IF EXISTS {MEMBER_POLICY} ON {name}; "
                    f"CREATE POLICY {MEMBER_POLICY} ON {name} FOR SELECT USING ({MEMBER_RULE})"
                )
            if not (forced and has_policy):
                secured.append(table)
        cursor.execute(_token_function_sql(schema))
        role = runtime_role()
        if role and role_exists(cursor, role):
            grant(cursor, role, schema)
    return secured


def runtime_role() -> str:
    return str(getattr(settings, "DATABASE_APP_ROLE", "") or "")


def role_exists(cursor: Any, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def grant(cursor: Any, role: str, schema: str) -> None:
    """What the runtime role may do: read and write rows (through the policies), use sequences
    and call the token function. It owns nothing, so it cannot alter, disable or drop."""
    r, s = _quote(role), _quote(schema)
    cursor.execute(
        f"GRANT USAGE ON SCHEMA {s} TO {r}; "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}; "
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r}; "
        f"GRANT EXECUTE ON FUNCTION {s}.{TOKEN_FUNCTION}(text, text) TO {r}; "
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}; "
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r}"
    )


def role_ensure(role: str, password: str | None = None, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Create the runtime role if missing (LOGIN, no superuser, no BYPASSRLS, owns nothing) and
    grant it; run as the tables' owner. Returns whether it was created."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    attributes = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
    with transaction.atomic(using=using), connection.cursor() as cursor:
        created = not role_exists(cursor, role)
        if created:
            cursor.execute(f"CREATE ROLE {_quote(role)} {attributes}")
        else:
            cursor.execute(f"ALTER ROLE {_quote(role)} {attributes}")
        if password:
            cursor.execute(f"ALTER ROLE {_quote(role)} PASSWORD %s", [password])
        cursor.execute("SELECT current_schema()")
        grant(cursor, role, cursor.fetchone()[0])
    return created


def role_problems(role: str, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """What is wrong with the runtime role, if anything: it must exist, not be a superuser,
    not bypass RLS, and own no table of the schema."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = %s", [role]
        )
        row = cursor.fetchone()
        if row is None:
            return [f"role {role} does not exist"]
        problems = []
        if row[0]:
            problems.append(f"role {role} is a superuser")
        if row[1]:
            problems.append(f"role {role} bypasses row-level security")
        cursor.execute(
            "SELECT count(*) FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND pg_catalog.pg_get_userbyid(c.relowner) = %s",
            [role],
        )
        owned = cursor.fetchone()[0]
        if owned:
            problems.append(f"role {role} owns {owned} relation(s)")
    return problems


def post_migrate(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    apply(using=using)

"""Row-level security on PostgreSQL: the database's own tenant wall (apps/core/rls.py).

The suite connects as a superuser, which row-level security does not hold; these tests switch
to the runtime role (`SET ROLE`, inside the test's transaction) to see what the web and the
workers see in production.
"""

import contextlib
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from apps.core import rls
from apps.core.tenancy import (
    all_organizations,
    organization_context,
    serving_request,
    token_owner,
    user_context,
)
from apps.journeys.models import Journey
from apps.organizations.api_keys import api_key_create
from apps.organizations.models import Membership
from apps.organizations.permissions import Principal
from apps.responses.models import Answer, Response
from apps.scoring.tasks import responses_process_task
from tests.distribution.fixtures import customer_link, journey, make_link, questionnaire  # noqa: F401
from tests.journeys.helpers import b2b_journey
from tests.responses.helpers import full_answers, submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROLE = settings.DATABASE_APP_ROLE


@pytest.fixture(scope="session")
def runtime_role(django_db_setup, django_db_blocker) -> str:
    """The runtime role exists and is granted on the test database (as `manage.py db_roles`)."""
    with django_db_blocker.unblock():
        for attempt in range(2):  # another test run on the same server may create it meanwhile
            try:
                rls.role_ensure(ROLE)
                break
            except DatabaseError:
                if attempt:
                    raise
        rls.apply()
    return ROLE


@contextlib.contextmanager
def as_runtime_role(role: str) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {connection.ops.quote_name(role)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0] or ""


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        return cursor.fetchone()[0]


def _tenant_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name = 'organization_id' "
            "ORDER BY table_name"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture(autouse=True)
def _respondent_settings(settings):
    from django.core.cache import cache

    settings.RESPONDENT_MIN_SECONDS = 0
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def two_orgs(org, other_org, analyst, customer_link):  # noqa: F811
    """Org A (acme) with a published questionnaire, a link and a response; org B with a journey
    and a member of its own."""
    from tests.factories import MembershipFactory

    rival = MembershipFactory(organization=other_org, role="owner").user
    b2b_journey(other_org, rival, name="Rival journey")
    return org, other_org


def test_every_tenant_table_has_rls_enabled_forced_and_the_policy(runtime_role):
    tables = _tenant_tables()
    assert (
        len(tables) >= 40 and "responses_answer" in tables and "organizations_membership" in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "  array(SELECT p.policyname::text FROM pg_policies p "
            "        WHERE p.schemaname = current_schema() AND p.tablename = c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(%s)",
            [tables],
        )
        rows = {name: (enabled, forced, policies) for name, enabled, forced, policies in cursor}
    assert set(rows) == set(tables)
    missing = [t for t, (enabled, forced, policies) in rows.items()
               if not (enabled and forced and rls.POLICY in policies)]  # fmt: skip
    assert missing == []
    # Only memberships have a second way in (their own user's, read only).
    extra = {t: p for t, (_e, _f, p) in rows.items() if set(p) - {rls.POLICY}}
    assert extra == {"organizations_membership": [rls.POLICY, rls.MEMBER_POLICY]} or extra == {
        "organizations_membership": [rls.MEMBER_POLICY, rls.POLICY]
    }


def test_the_runtime_role_owns_nothing_and_cannot_bypass(runtime_role):
    assert rls.role_problems(runtime_role) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s",
            [runtime_role],
        )
        assert cursor.fetchone() == (False, False, True)
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relowner = "
            "(SELECT oid FROM pg_roles WHERE rolname = %s)",
            [runtime_role],
        )
        assert cursor.fetchone()[0] == 0


# Committed as in production: the respondent write sets the organisation for its own
# transaction, which inside a test's transaction would last to the end of the test.
@pytest.mark.django_db(transaction=True)
def test_without_an_organisation_no_tenant_row_is_visible(runtime_role, two_orgs):
    org, _rival = two_orgs
    submitted = submit(APIClient(), _link(org), full_answers(_link(org)))
    assert submitted.status_code == 302
    tables = _tenant_tables()
    populated = [t for t in tables if _count(t) > 0]  # as the superuser
    assert {"responses_response", "responses_answer", "journeys_journey",
            "organizations_membership", "distribution_surveylink"} <= set(populated)  # fmt: skip
    assert _setting("cx.organization_id") == ""
    with as_runtime_role(runtime_role):
        visible = {t: _count(t) for t in populated}
        assert visible == dict.fromkeys(populated, 0)
        # The Django managers see nothing either, `unscoped` included.
        assert Response.unscoped.count() == 0 and Journey.unscoped.count() == 0


def _link(org):
    from apps.distribution.models import SurveyLink

    return SurveyLink.objects.for_organization(org).get(name="Web")


def test_one_organisation_sees_and_writes_only_its_own_rows(runtime_role, two_orgs):
    org, rival = two_orgs
    rival_journey = Journey.objects.for_organization(rival).get()
    with as_runtime_role(runtime_role), organization_context(org):
        assert _setting("cx.organization_id") == str(org.pk)
        names = set(Journey.unscoped.values_list("name", flat=True))
        assert names and "Rival journey" not in names
        assert Journey.unscoped.filter(pk=rival_journey.pk).update(name="taken") == 0
        assert Journey.unscoped.filter(pk=rival_journey.pk).delete()[0] == 0
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Journey.objects.create(organization=rival, name="Planted")
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Journey.unscoped.filter(organization=org).update(organization=rival)
    rival_journey.refresh_from_db()
    assert rival_journey.name == "Rival journey"
    # Leaving the context puts the connection back to no organisation.
    assert _setting("cx.organization_id") == ""


def test_memberships_are_readable_by_their_own_user_only(runtime_role, two_orgs, analyst):
    org, rival = two_orgs
    Membership.objects.create(organization=rival, user=analyst, role="viewer")
    with as_runtime_role(runtime_role):
        with user_context(analyst):
            mine = set(Membership.unscoped.values_list("organization_id", "user_id"))
        assert mine == {(org.pk, analyst.pk), (rival.pk, analyst.pk)}
        assert Membership.unscoped.count() == 0
        with user_context(analyst):  # reading only: no row of theirs is writable so
            assert Membership.unscoped.filter(user=analyst).update(role="owner") == 0


def test_the_token_function_resolves_only_ids(runtime_role, two_orgs):
    org, _rival = two_orgs
    link = _link(org)
    with as_runtime_role(runtime_role):
        assert token_owner("survey_link", link.token) == (link.pk, org.pk)
        assert token_owner("survey_link", "nope") is None
        assert token_owner("survey_link", "") is None
        assert token_owner("survey_link", "x" * 500) is None
        assert token_owner("api_key", link.token) is None  # a link's token is no key's prefix
        with pytest.raises(ValueError):
            token_owner("journeys", link.token)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM cx_token_owner('survey_link', %s)", [link.token])
            assert [column.name for column in cursor.description] == ["id", "organization_id"]
            assert cursor.fetchall() == [(link.pk, org.pk)]
        # It leaves nothing behind: no organisation, no "all organisations".
        assert _setting("cx.organization_id") == "" and _setting("cx.all_organizations") == ""
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM cx_token_owner('journeys', 'x')")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.prosecdef, p.proconfig FROM pg_proc p WHERE p.proname = 'cx_token_owner'"
        )
        definer, config = cursor.fetchone()
    assert definer and "search_path=pg_catalog, pg_temp" in config


def test_maintenance_scope_is_refused_during_requests():
    token = serving_request.set(True)
    try:
        with pytest.raises(RuntimeError), all_organizations():
            pass  # pragma: no cover
    finally:
        serving_request.reset(token)


def test_maintenance_scope_sees_every_organisation_and_is_left_behind(runtime_role, two_orgs):
    org, rival = two_orgs
    with as_runtime_role(runtime_role):
        with all_organizations():
            assert set(Journey.unscoped.values_list("organization_id", flat=True)) == {
                org.pk, rival.pk
            }  # fmt: skip
            with organization_context(rival):  # doing the work enters one organisation
                assert set(Journey.unscoped.values_list("organization_id", flat=True)) == {rival.pk}
        assert Journey.unscoped.count() == 0


# --- the real paths, end to end, as the runtime role -------------------------------------------


def test_member_pages_and_api_work_as_the_runtime_role(runtime_role, two_orgs, analyst, owner):
    org, _rival = two_orgs
    web = APIClient()
    web.force_login(analyst)
    _key, plaintext = api_key_create(
        organization=org,
        actor=Principal.for_membership(Membership.objects.for_organization(org).get(user=owner)),
        name="CRM",
    )
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    with as_runtime_role(runtime_role):
        page = web.get("/o/acme/journeys/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "Rival journey" not in html
        own = web.get("/api/v1/o/acme/journeys/")
        assert own.status_code == 200 and own.json()["count"] == 1
        assert web.get("/api/v1/o/rival/journeys/").status_code == 404
        assert web.get("/o/rival/journeys/").status_code == 404
        by_key = bearer.get("/api/v1/o/acme/journeys/")
        assert by_key.status_code == 200 and by_key.json()["count"] == 1
        assert bearer.get("/api/v1/o/rival/journeys/").status_code == 404
        chooser = web.get("/o/?all=1")
        assert chooser.status_code == 200 and "Acme Oy" in chooser.content.decode()
        assert _setting("cx.organization_id") == "" and _setting("cx.user_id") == ""


# Committed as in production: the respondent write sets the organisation for its own
# transaction, which inside a test's transaction would last to the end of the test.
@pytest.mark.django_db(transaction=True)
def test_a_respondent_submission_and_its_scoring_work_as_the_runtime_role(
    runtime_role, two_orgs, django_assert_max_num_queries, monkeypatch
):
    org, _rival = two_orgs
    link = _link(org)
    client = APIClient()
    answers = full_answers(link)
    with as_runtime_role(runtime_role):
        assert submit(client, link, answers).status_code == 302
        # The warm submit path: the organisation rides with the one write statement.
        hidden = _hidden(client, link)
        applied = _count_applies(monkeypatch)
        with django_assert_max_num_queries(1):
            assert submit(client, link, answers, hidden=hidden).status_code == 302
        assert applied == [], "the warm submit sends no set_config of its own"
        assert _setting("cx.organization_id") == ""
        assert client.get(f"/s/{link.token}/thanks/").status_code == 200
        assert client.get("/s/nope/").status_code == 404
        # The first submission's processing ran at once (eager Celery, after its commit); the
        # second was debounced and is left for the task, which finds it through the policy.
        assert responses_process_task(organization_id=org.pk) == 1
    stored = Response.objects.for_organization(org)
    assert stored.count() == 2 and not stored.filter(pending__isnull=False).exists()
    assert Answer.objects.for_organization(org).count() > 0


def _count_applies(monkeypatch) -> list[tuple]:
    """Every statement the contexts send on their own (they are not in Django's query log)."""
    from apps.core import tenancy

    calls: list[tuple] = []
    original = tenancy._apply

    def counting(**kwargs):
        calls.append(tenancy._wanted())
        return original(**kwargs)

    monkeypatch.setattr(tenancy, "_apply", counting)
    return calls


def test_a_pooled_connection_is_cleaned_but_a_deferred_context_costs_nothing(
    runtime_role, org, monkeypatch
):
    from apps.core import tenancy

    connection.ensure_connection()
    raw = connection.connection
    applied = _count_applies(monkeypatch)
    # Handed out clean inside a respondent's deferred context: nothing to send.
    with organization_context(org, deferred=True):
        tenancy.connection_checked_out(connection)
    assert applied == []
    # Handed out with an organisation a failed context left behind: reset before first use.
    raw._cx_tenant_state = (str(org.pk), "", "")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('cx.organization_id', %s, false)", [str(org.pk)])
    tenancy.connection_checked_out(connection)
    assert len(applied) == 1 and _setting("cx.organization_id") == ""
    assert raw._cx_tenant_state == ("", "", "")


def _hidden(client, link):
    from tests.responses.helpers import open_form

    return open_form(client, link)


# Committed as in production: the respondent write sets the organisation for its own
# transaction, which inside a test's transaction would last to the end of the test.
@pytest.mark.django_db(transaction=True)
def test_the_beat_ticks_run_as_the_runtime_role(runtime_role, two_orgs):
    from apps.alerts.tasks import digest_tick, sla_tick
    from apps.distribution.tasks import sweep as distribution_sweep
    from apps.reports.tasks import purge_expired_files, schedules_tick, sweep_stale_files
    from apps.scoring.tasks import responses_sweep
    from apps.webhooks.tasks import sweep as webhooks_sweep

    org, _rival = two_orgs
    assert submit(APIClient(), _link(org), full_answers(_link(org))).status_code == 302
    with as_runtime_role(runtime_role):
        responses_sweep(older_than_seconds=0)
        distribution_sweep()
        schedules_tick()
        purge_expired_files()
        sweep_stale_files()
        webhooks_sweep()
        sla_tick()
        digest_tick()
        assert _setting("cx.all_organizations") == ""


@pytest.mark.parametrize(
    ("command", "swapped"), [("migrate", True), ("db_roles", True), ("runserver", False)]
)
def test_only_migrate_and_db_roles_connect_as_the_owner(command, swapped):
    from manage import use_owner_database

    environ = {
        "DATABASE_URL": "postgres://cx_app:a@db/cx",
        "MIGRATE_DATABASE_URL": "postgres://cx:o@db/cx",
    }
    assert use_owner_database(["manage.py", command], environ) is swapped
    if swapped:
        assert environ["DATABASE_URL"] == "postgres://cx:o@db/cx"
        assert environ["RUNTIME_DATABASE_URL"] == "postgres://cx_app:a@db/cx"
    else:
        assert environ["DATABASE_URL"] == "postgres://cx_app:a@db/cx"
    assert use_owner_database(["manage.py", "migrate"], {"DATABASE_URL": "x"}) is False

"""Benchmark: the scoring pipeline against one hand-written INSERT ... SELECT ... GROUP BY.

Run from the repository root:

    .venv/bin/python bench/scoring_pipeline.py [--responses 200000] [--keep]

It creates a fresh PostgreSQL database, migrates it, seeds an organisation with the demo B2B
journey and its published questionnaire (the project's own services), generates the responses
with set-based SQL (20 scaled answers each: three dimensions of six touchpoints, NPS, overall;
one rating in twenty "not applicable"; four customers to one employee; spread over 90 days in
arrival order; customers in 12 stores of 4 regions, employees in 6 teams), and measures:

  (a) draining that backlog with `responses_process` batches (the tasks' loop,
      `responses_process_pending`), against the baseline: one hand-written statement
      (INSERT ... SELECT ... GROUP BY) producing the same aggregates the issue names, the
      item-day counts and the per-respondent touchpoint scores aggregated per cell and day
      (n, sum, sum of squares) (target >= 25% of its rate); both results are compared with the
      pipeline's, row for row. The narrower statement of earlier runs (the item-day counts
      alone) is timed and reported too;
  (b) a full `journey_rescore` of the same data against the same statements (target <= 2x);
  (c) freshness: responses stored through `response_submit` at a steady rate (default 100/s)
      while a real Celery worker consumes the ingest queue on Redis; the delay from each
      submission until it is seen processed (target p95 <= 5 s).

Results go to stdout and bench/results/scoring_pipeline-<time>.json.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.respondent_submit import drop_database, recreate_database, redis_client  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cx_bench_scoring"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
TOUCHPOINTS_ANSWERED = 6  # x 3 dimensions + NPS + overall = 20 scaled answers
DAYS = 90


def settings_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The production settings' environment (as the respondent bench uses)."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(REPO),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMAIL_URL": "console://",
        "SITE_URL": "http://127.0.0.1:8000",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
    }


# --- seeding ----------------------------------------------------------------------------------


def seed() -> dict[str, Any]:
    """An organisation, the demo journey with its published questionnaire and two links."""
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.distribution.demo import demo_links_load
    from apps.journeys.demo import demo_journey_load
    from apps.organizations.services import organization_create

    call_command("migrate", verbosity=0, interactive=False)
    owner = User.objects.create_user("bench-owner@example.com", secrets.token_urlsafe(16))
    organization = organization_create(name="Bench Oy", owner=owner, slug="bench")
    journey = demo_journey_load(organization, owner)
    links = {link.audience: link for link in demo_links_load(organization)}
    return _spec(organization, owner, journey, links)


def reseed() -> dict[str, Any]:
    """`--reuse`: the database of an earlier `--keep` run, migrated to the current code, its
    responses made unprocessed again and every aggregate and baseline table emptied."""
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import User
    from apps.distribution.models import SurveyLink
    from apps.journeys.models import Journey
    from apps.organizations.models import Organization

    call_command("migrate", verbosity=0, interactive=False)
    organization = Organization.objects.get(slug="bench")
    owner = User.objects.get(email="bench-owner@example.com")
    journey = Journey.objects.for_organization(organization).get()
    links = {
        link.audience: link
        for link in SurveyLink.objects.for_organization(organization).select_related(
            "questionnaire"
        )
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS bench_item_day, bench_item_day_stored, bench_touchpoint_day"
        )
        cursor.execute(
            "TRUNCATE scoring_itemdaycount, scoring_touchpointdayaggregate, "
            "scoring_respondentscore, scoring_itemdaytotal, scoring_touchpointdaytotal, "
            "scoring_importancepairdaycount, scoring_importancepairsetmonthcount, "
            "scoring_importancepairsetspancount, scoring_importancepairspancount, "
            "scoring_touchpointspanaggregate, scoring_itemspancount, "
            "scoring_scoringstate, alerts_alert CASCADE"
        )
        # Responses stored by an earlier freshness phase go: the backlog is the generated one.
        # Responses stored through the links by an earlier freshness phase go (the generated
        # backlog has no link).
        cursor.execute(
            "DELETE FROM responses_answer a USING responses_response r "
            "WHERE r.id = a.response_id AND r.link_id IS NOT NULL"
        )
        cursor.execute("DELETE FROM responses_response WHERE link_id IS NOT NULL")
        _unprocess(cursor)
    with connection.cursor() as cursor:
        for table in ("responses_response", "responses_pendingresponse", "responses_answer",
                      "surveys_item"):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")
    return _spec(organization, owner, journey, links)


def _unprocess(cursor: Any) -> None:
    """Every response pending again (the submission's row for each)."""
    cursor.execute("TRUNCATE responses_pendingresponse")
    cursor.execute(
        "INSERT INTO responses_pendingresponse (organization_id, response_id) "
        "SELECT organization_id, id FROM responses_response ORDER BY id"
    )


def _spec(organization: Any, owner: Any, journey: Any, links: dict[str, Any]) -> dict[str, Any]:
    from apps.surveys.models import Item, ItemKind

    questionnaire = links["customer"].questionnaire
    items = list(
        Item.objects.for_organization(organization)
        .filter(version=questionnaire.published_version)
        .order_by("audience", "position", "id")
    )
    touchpoints = list(dict.fromkeys(i.touchpoint_id for i in items if i.touchpoint_id))
    answered = set(touchpoints[:TOUCHPOINTS_ANSWERED])
    scaled = [
        item
        for item in items
        if item.kind in (ItemKind.NPS, ItemKind.OVERALL)
        or (item.kind == ItemKind.RATING and item.touchpoint_id in answered)
    ]
    return {
        "organization": organization,
        "owner": owner,
        "journey": journey,
        "questionnaire": questionnaire,
        "links": links,
        "items": scaled,
        "touchpoints": len(touchpoints),
    }


def generate(spec: dict[str, Any], count: int, answers: str = "realistic") -> dict[str, int]:
    """`count` responses and their answers, set-based (generate_series), then ANALYZE."""
    from django.db import connection

    questionnaire = spec["questionnaire"]
    item_ids = [item.pk for item in spec["items"]]
    with connection.cursor() as cursor:
        # Bulk generation of consistent rows: foreign-key triggers off (a superuser setting,
        # this connection only, reset below), else millions of checks run at commit.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO responses_response (organization_id, questionnaire_id, version_id,
                audience, segment, idempotency_key, submitted_on, submitted_at, ip_address,
                user_agent, language, duration_seconds)
            SELECT %(org)s, %(questionnaire)s, %(version)s,
                CASE WHEN g %% 5 = 0 THEN 'employee' ELSE 'customer' END,
                CASE WHEN g %% 5 = 0 THEN jsonb_build_object('team', 't' || (g %% 6))
                     ELSE jsonb_build_object('region', (ARRAY['north', 'south', 'east',
                         'west'])[1 + g %% 12 %% 4], 'store', 's' || (g %% 12)) END,
                md5(g::text || random()::text)::uuid,
                day,
                CASE WHEN g %% 5 = 0 THEN NULL
                     ELSE day::timestamptz + (g %% 86400) * interval '1 second' END,
                NULL, '', 'en', 60 + g %% 300
            FROM generate_series(1, %(count)s) AS g,
                -- Responses arrive in time order: ids and days grow together.
                LATERAL (SELECT date '2026-01-01' + ((g - 1) * %(days)s / %(count)s)::int AS day) d
            """,
            {"org": questionnaire.organization_id, "questionnaire": questionnaire.pk,
             "version": questionnaire.published_version_id, "count": count, "days": DAYS},
        )  # fmt: skip
        # Each response waits for the pipeline, as a submission leaves it.
        cursor.execute(
            "INSERT INTO responses_pendingresponse (organization_id, response_id) "
            "SELECT organization_id, id FROM responses_response WHERE organization_id = %s "
            "ORDER BY id",
            [questionnaire.organization_id],
        )
        # Each answer: a value in the item's scale, one rating in twenty not applicable.
        # "uniform": every value equally likely, independently. "realistic": each respondent
        # has a mood (mean 0.78 of the scale, sd 0.125, the sum of three uniforms) and each
        # answer is that mood plus a little noise (sd 0.06), rounded into the scale: answers of
        # one respondent move together and lean positive, as survey answers do.
        if answers == "uniform":
            value = "i.scale_lo + floor(random() * (i.scale_hi - i.scale_lo + 1))::int"
        else:
            value = (
                "i.scale_lo + round((i.scale_hi - i.scale_lo) * greatest(0.0, least(1.0, "
                "r.mood + 0.15 * (random() + random() - 1.0))))::int"
            )
        cursor.execute(
            f"""
            INSERT INTO responses_answer (organization_id, response_id, item_id, value,
                not_applicable, text, choices)
            SELECT r.organization_id, r.id, i.id, CASE WHEN na THEN NULL ELSE {value} END,
                na, '', '[]'::jsonb
            FROM (SELECT id, organization_id, audience,
                      0.78 + 0.25 * (random() + random() + random() - 1.5) AS mood
                  FROM responses_response WHERE organization_id = %(org)s) r
            JOIN surveys_item i ON i.audience = r.audience AND i.id = ANY(%(items)s)
            CROSS JOIN LATERAL (SELECT i.kind = 'rating' AND random() < 0.05 AS na) AS x
            """,  # noqa: S608
            {"org": questionnaire.organization_id, "items": item_ids},
        )
        cursor.execute("SELECT count(*) FROM responses_answer")
        count_answers = int(cursor.fetchone()[0])
        # Remembered for --reuse, which keeps the data.
        cursor.execute(f"COMMENT ON TABLE responses_answer IS 'bench answers: {answers}'")
        cursor.execute("SET session_replication_role = DEFAULT")
    with connection.cursor() as cursor:
        for table in ("responses_response", "responses_pendingresponse", "responses_answer",
                      "surveys_item"):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"responses": count, "answers": count_answers}


def alert_rules(spec: dict[str, Any], *, enabled: bool) -> None:
    """The journey's alert rules: the defaults (every rule on, as a new journey has them), or
    switched off."""
    from apps.alerts.models import AlertRuleSet

    rules = AlertRuleSet.objects.for_organization(spec["organization"])
    rules.filter(journey=spec["journey"]).delete()
    if not enabled:
        rules.create(organization=spec["organization"], journey=spec["journey"], enabled=False)


# --- (a) and (b) ------------------------------------------------------------------------------

BASELINE_SQL = """
    INSERT INTO bench_item_day (questionnaire_id, item_key, audience, segment, day, scale_lo,
        scale_hi, value, count)
    SELECT r.questionnaire_id, i.key, r.audience, r.segment, r.submitted_on, i.scale_lo,
        i.scale_hi, a.value, count(*)
    FROM responses_answer a
    JOIN responses_response r ON r.id = a.response_id
    JOIN surveys_item i ON i.id = a.item_id
    WHERE r.organization_id = %s AND i.kind IN ('rating', 'nps', 'overall')
        AND a.value IS NOT NULL AND NOT a.not_applicable
    GROUP BY r.questionnaire_id, i.key, r.audience, r.segment, r.submitted_on, i.scale_lo,
        i.scale_hi, a.value
"""


# The per-respondent touchpoint scores (the mean normalised score of each respondent's answers
# to a touchpoint's dimension items, SCORING.md 4) aggregated per cell and day like the item
# counts: what `TouchpointDayAggregate` holds. One statement with the item counts: the full
# baseline.
FULL_BASELINE_SQL = f"""
    WITH items AS ({BASELINE_SQL} RETURNING 1)
    INSERT INTO bench_touchpoint_day (questionnaire_id, touchpoint_id, audience, segment, day,
        n, total, total_sq)
    SELECT questionnaire_id, touchpoint_id, audience, segment, day, count(*), sum(score),
        sum(score * score)
    FROM (
        SELECT r.id, i.touchpoint_id, r.questionnaire_id, r.audience, r.segment,
            r.submitted_on AS day,
            avg(CAST((a.value - i.scale_lo) * 100 AS double precision)
                / (i.scale_hi - i.scale_lo)) AS score
        FROM responses_answer a
        JOIN responses_response r ON r.id = a.response_id
        JOIN surveys_item i ON i.id = a.item_id
        WHERE r.organization_id = %s AND i.kind = 'rating' AND i.touchpoint_id IS NOT NULL
            AND i.dimension <> '' AND i.scale_hi > i.scale_lo
            AND a.value IS NOT NULL AND NOT a.not_applicable
        GROUP BY r.id, i.touchpoint_id, r.questionnaire_id, r.audience, r.segment,
            r.submitted_on
    ) per
    GROUP BY questionnaire_id, touchpoint_id, audience, segment, day
"""  # noqa: S608


def _best_of_two(cursor: Any, tables: str, sql: str, params: list[Any]) -> tuple[float, float]:
    """A hand-written statement run twice into emptied `tables`: the best (seconds, backend CPU
    seconds). It gets the memory a rescoring gets (the default 4MB sends the per-respondent
    grouping to disk) and no JIT, like the pipeline's transactions; both are reset after, so the
    drain runs with the server's defaults and its own settings."""
    from apps.scoring.services import RESCORE_WORK_MEM

    runs = []
    cursor.execute(f"SET work_mem = '{RESCORE_WORK_MEM}'")
    cursor.execute("SET jit = off")
    try:
        for _ in range(2):
            cursor.execute(f"TRUNCATE {tables}")
            cpu = backend_cpu()
            started = time.perf_counter()
            cursor.execute(sql, params)
            runs.append((time.perf_counter() - started, backend_cpu() - cpu))
    finally:
        cursor.execute("RESET work_mem")
        cursor.execute("RESET jit")
    return min(runs)


def full_baseline(organization_id: int) -> tuple[float, float]:
    """FULL_BASELINE_SQL into plain tables (no indexes, segments as JSON): (seconds, backend
    CPU seconds), best of two runs. Run before the drain, like `baseline`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_touchpoint_day (questionnaire_id bigint, touchpoint_id bigint, "
            "audience varchar(16), segment jsonb, day date, n integer, "
            "total double precision, total_sq double precision)"
        )
        return _best_of_two(
            cursor,
            "bench_item_day, bench_touchpoint_day",
            FULL_BASELINE_SQL,
            [organization_id, organization_id],
        )


def compare_touchpoints_with_baseline(cursor: Any) -> int:
    """Rows that differ between the pipeline's TouchpointDayAggregate and the full baseline's
    (0: equal; sums compared to 1e-9 relative, the summation order differs)."""
    cursor.execute(
        "WITH p AS (SELECT t.questionnaire_id, t.touchpoint_id, t.audience, s.values AS segment, "
        "t.day, t.n, t.total, t.total_sq FROM scoring_touchpointdayaggregate t "
        "JOIN scoring_attributeset s ON s.id = t.attribute_set_id) "
        "SELECT count(*) FROM p FULL JOIN bench_touchpoint_day b "
        "ON b.questionnaire_id = p.questionnaire_id AND b.touchpoint_id = p.touchpoint_id "
        "AND b.audience = p.audience AND b.segment = p.segment AND b.day = p.day "
        "WHERE p.n IS NULL OR b.n IS NULL OR p.n <> b.n "
        "OR abs(p.total - b.total) > 1e-9 * greatest(abs(b.total), 1) "
        "OR abs(p.total_sq - b.total_sq) > 1e-9 * greatest(abs(b.total_sq), 1)"
    )
    return int(cursor.fetchone()[0])


def baseline(organization_id: int) -> tuple[float, float]:
    """The hand-written statement, into a plain table of the same aggregates (segments as JSON
    instead of attribute sets). Returns (seconds, backend CPU seconds), best of two runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_item_day (questionnaire_id bigint, item_key varchar(64), "
            "audience varchar(16), segment jsonb, day date, scale_lo smallint, "
            "scale_hi smallint, value smallint, count integer)"
        )
        return _best_of_two(cursor, "bench_item_day", BASELINE_SQL, [organization_id])


# The same statement writing ItemDayCount's own columns into a copy of its table (indexes and
# all), keyed by the attribute sets the drain created (matched by segment: the bench's segments
# are all strings): what storing the same aggregates the same way costs. Run after the drain;
# compared with the pipeline's rows as well.
STORED_BASELINE_SQL = """
    INSERT INTO bench_item_day_stored (organization_id, questionnaire_id, item_key, audience,
        attribute_set_id, day, scale_lo, scale_hi, value, count, journey_id, kind,
        touchpoint_id, dimension)
    SELECT r.organization_id, r.questionnaire_id, i.key, r.audience, s.id,
        r.submitted_on, i.scale_lo, i.scale_hi, a.value, count(*), max(q.journey_id),
        max(i.kind), max(i.touchpoint_id), max(i.dimension)
    FROM responses_answer a
    JOIN responses_response r ON r.id = a.response_id
    JOIN scoring_attributeset s ON s.organization_id = r.organization_id
        AND s.values = r.segment
    JOIN surveys_item i ON i.id = a.item_id
    JOIN surveys_questionnaire q ON q.id = r.questionnaire_id
    WHERE r.organization_id = %s AND i.kind IN ('rating', 'nps', 'overall')
        AND a.value IS NOT NULL AND NOT a.not_applicable
    GROUP BY r.organization_id, r.questionnaire_id, i.key, r.audience, s.id,
        r.submitted_on, i.scale_lo, i.scale_hi, a.value
"""


def stored_baseline(organization_id: int) -> tuple[float, float, int]:
    """STORED_BASELINE_SQL: (seconds, backend CPU seconds) best of two, and the rows that
    differ from the pipeline's ItemDayCount."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_item_day_stored (LIKE scoring_itemdaycount INCLUDING ALL) "
            "WITH (fillfactor = 80)"
        )
        timing = _best_of_two(
            cursor, "bench_item_day_stored", STORED_BASELINE_SQL, [organization_id]
        )
        columns = (
            "organization_id, questionnaire_id, item_key, audience, attribute_set_id, day, "
            "scale_lo, scale_hi, value, count, journey_id, kind, touchpoint_id, dimension"
        )
        pipeline = f"SELECT {columns} FROM scoring_itemdaycount"  # noqa: S608
        reference = f"SELECT {columns} FROM bench_item_day_stored"  # noqa: S608
        cursor.execute(
            f"SELECT (SELECT count(*) FROM ({pipeline} EXCEPT ALL {reference}) x) "  # noqa: S608
            f"+ (SELECT count(*) FROM ({reference} EXCEPT ALL {pipeline}) y)"
        )
        differences = int(cursor.fetchone()[0])
    return (*timing, differences)


def drain(organization_id: int, limit: int, processes: int = 1) -> tuple[float, int, float]:
    """Every unprocessed response through batches of `limit`, as a worker's task drains them.
    Returns (seconds, processed, CPU seconds of the database backends).

    `processes` > 1 (exploratory, `--drain-processes`): that many processes drain the same
    backlog at once, each with its own connection (batches claim with SKIP LOCKED); the
    product's task does not fan out like this yet."""
    from apps.scoring.services import responses_process_pending

    if processes > 1:
        return _drain_in_processes(organization_id, limit, processes)
    cpu = backend_cpu()
    started = time.perf_counter()
    processed, _drained = responses_process_pending(
        organization_id=organization_id, limit=limit, time_budget=float("inf")
    )
    return time.perf_counter() - started, processed, backend_cpu() - cpu


def _drain_child(organization_id: int, limit: int, start: Any, out: Any) -> None:
    import django

    django.setup()  # a spawned process: the parent's environment, its own connection
    from apps.scoring.services import responses_process_pending

    cpu = backend_cpu()
    start.wait()
    processed, _drained = responses_process_pending(
        organization_id=organization_id, limit=limit, time_budget=float("inf")
    )
    out.put((processed, backend_cpu() - cpu))


def _drain_in_processes(
    organization_id: int, limit: int, processes: int
) -> tuple[float, int, float]:
    import multiprocessing

    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    children = [
        context.Process(target=_drain_child, args=(organization_id, limit, start, out))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    time.sleep(8.0)  # every child set up, connected and ready
    started = time.perf_counter()
    start.set()
    results = [out.get() for _ in children]
    elapsed = time.perf_counter() - started
    for child in children:
        child.join()
    return elapsed, sum(n for n, _cpu in results), sum(cpu for _n, cpu in results)


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine): the
    figures below also compare CPU, which other load on the machine disturbs less than time."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare_with_baseline(cursor: Any) -> int:
    """Rows that differ between the pipeline's item-day counts and the baseline's (0: equal)."""
    pipeline = (
        "SELECT d.questionnaire_id, d.item_key, d.audience, s.values, d.day, d.scale_lo, "
        "d.scale_hi, d.value, d.count FROM scoring_itemdaycount d "
        "JOIN scoring_attributeset s ON s.id = d.attribute_set_id"
    )
    reference = (
        "SELECT questionnaire_id, item_key, audience, segment, day, scale_lo, scale_hi, value, "
        "count FROM bench_item_day"
    )
    cursor.execute(
        f"SELECT (SELECT count(*) FROM ({pipeline} EXCEPT ALL {reference}) x) "  # noqa: S608
        f"+ (SELECT count(*) FROM ({reference} EXCEPT ALL {pipeline}) y)"
    )
    return int(cursor.fetchone()[0])


def snapshot(cursor: Any) -> dict[str, Any]:
    """Totals of the three aggregate tables, to compare a rescoring with the drain."""
    cursor.execute(
        "SELECT (SELECT count(*) FROM scoring_itemdaycount), "
        "(SELECT sum(count) FROM scoring_itemdaycount), "
        "(SELECT count(*) FROM scoring_touchpointdayaggregate), "
        "(SELECT sum(n) FROM scoring_touchpointdayaggregate), "
        "(SELECT sum(total) FROM scoring_touchpointdayaggregate), "
        "(SELECT sum(total_sq) FROM scoring_touchpointdayaggregate), "
        "(SELECT count(*) FROM scoring_respondentscore), "
        "(SELECT sum(score) FROM scoring_respondentscore), "
        "(SELECT count(outcome) FROM scoring_respondentscore)"
    )
    names = ("item_day_rows", "answers_counted", "touchpoint_day_rows", "respondent_scores_n",
             "score_total", "score_total_sq", "respondent_rows", "respondent_score_sum",
             "outcomes")  # fmt: skip
    return dict(zip(names, [float(v or 0) for v in cursor.fetchone()], strict=True))


def same_snapshot(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(a[k])) for k in a)


# --- (c) freshness ----------------------------------------------------------------------------


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "celery", "-A", "cxplatform", "worker", "-l", "INFO", "-Q",
        "ingest", "--concurrency", "2", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h",
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    handle = log.open("w")
    process = subprocess.Popen(  # noqa: S603 (our own fixed command)
        command, cwd=REPO, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the worker exited ({process.returncode}); see {log}")
        if " ready." in log.read_text():
            return process
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the worker did not start in 120 s; see {log}")


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def form_data(spec: dict[str, Any], audience: str, n: int) -> tuple[list[Any], dict[str, list]]:
    """The link's items and a step-2 form answering the same 20 scaled items."""
    from apps.responses.selectors import respondent_items
    from apps.responses.services import field_name
    from apps.surveys.models import ItemKind

    link = spec["links"][audience]
    items = respondent_items(link=link, version_id=spec["questionnaire"].published_version_id)
    chosen = {item.touchpoint_id for item in spec["items"] if item.touchpoint_id}
    data: dict[str, list[str]] = {}
    for item in items:
        if item.kind == ItemKind.SCREENING:
            data[field_name(item)] = ["yes" if item.touchpoint_id in chosen else "no"]
        elif item.kind in (ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL) and (
            item.touchpoint_id is None or item.touchpoint_id in chosen
        ):
            points = item.scale_hi - item.scale_lo + 1
            data[field_name(item)] = [str(item.scale_lo + (n + item.pk) % points)]
    return items, data


def freshness(spec: dict[str, Any], rate: float, seconds: float) -> dict[str, Any]:
    """Submit at `rate` per second for `seconds` (open loop, two threads) and time each
    response until it is seen processed (polled every 50 ms)."""
    from django.db import connection

    from apps.responses.models import Response
    from apps.responses.services import Respondent, response_submit

    forms = {audience: form_data(spec, audience, 0) for audience in ("customer", "employee")}
    submitted: dict[int, float] = {}
    seen: dict[int, float] = {}
    lock = threading.Lock()
    errors: list[str] = []
    start = time.monotonic() + 0.5
    total = int(rate * seconds)
    submit_ms: list[float] = []

    def submitter(offset: int, step: int) -> None:
        try:
            for n in range(offset, total, step):
                scheduled = start + n / rate
                pause = scheduled - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                audience = "employee" if n % 5 == 0 else "customer"
                items, data = forms[audience]
                began = time.monotonic()
                response = response_submit(
                    link=spec["links"][audience], items=items, data=data,
                    respondent=Respondent(
                        idempotency_key=uuid.uuid4(), language="en",
                        started_at=datetime.now(UTC) - timedelta(seconds=60),
                        segment={"region": "north"} if audience == "customer" else {},
                    ),
                )  # fmt: skip
                ended = time.monotonic()
                assert response is not None
                with lock:
                    # Counted from the scheduled time: a stalled submitter hides no delay.
                    submitted[response.pk] = scheduled
                    submit_ms.append((ended - began) * 1000)
        except Exception as exc:  # reported, not hidden
            errors.append(repr(exc))
        finally:
            connection.close()

    def watcher() -> None:
        try:
            while True:
                with lock:
                    pending = [pk for pk in submitted if pk not in seen]
                    finished = len(submitted) >= total and not pending
                if finished or time.monotonic() > start + seconds + 60:
                    return
                if pending:
                    done = (
                        Response.objects.for_organization(spec["organization"])
                        .filter(pk__in=pending, pending__isnull=True)
                        .values_list("pk", flat=True)
                    )
                    now = time.monotonic()
                    with lock:
                        for pk in done:
                            seen[pk] = now
                time.sleep(0.05)
        finally:
            connection.close()

    threads = [threading.Thread(target=submitter, args=(i, 2)) for i in range(2)]
    threads.append(threading.Thread(target=watcher))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delays = sorted(seen[pk] - submitted[pk] for pk in seen)
    submit_ms.sort()

    def q(values: list[float], p: float) -> float | None:
        if not values:
            return None
        return round(values[min(len(values) - 1, max(0, round(p * len(values)) - 1))], 3)

    return {
        "rate": rate, "seconds": seconds, "submitted": len(submitted), "processed": len(seen),
        "errors": errors, "delay_p50_s": q(delays, 0.5), "delay_p95_s": q(delays, 0.95),
        "delay_max_s": q(delays, 1.0), "submit_p50_ms": q(submit_ms, 0.5),
        "submit_p95_ms": q(submit_ms, 0.95),
    }  # fmt: skip


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=200_000)
    parser.add_argument(
        "--batch", type=int, default=None,
        help="responses per batch (default: the tasks', apps.scoring.services.DRAIN_BATCH_SIZE)",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=100.0, help="freshness: responses/s")
    parser.add_argument("--freshness-seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--alerts", choices=("on", "off"), default="on",
        help="off: the journey's alert rules switched off (AlertRuleSet.enabled), so that the "
        "drain measures the aggregation without raising alerts",
    )  # fmt: skip
    parser.add_argument(
        "--drain-processes", type=int, default=1,
        help="exploratory: drain with this many processes at once (the product's task does "
        "not fan out yet)",
    )  # fmt: skip
    parser.add_argument(
        "--answers", choices=("realistic", "uniform"), default="realistic",
        help="how answers are drawn: realistic (each respondent's answers lean together and "
        "positive; about one customer response in five trips an alert rule) or uniform "
        "(independent, every value equally likely: an alert storm, four in five trip one)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", action="store_true",
        help="reuse the database an earlier --keep run left (same --responses): migrate it, "
        "mark its responses unprocessed, empty the aggregates; no seeding or generation",
    )  # fmt: skip
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis = redis_client(redis_url)
    if redis.dbsize():
        raise SystemExit(f"{redis_url} is not empty; set BENCH_REDIS_URL to an unused database.")
    env = settings_env(database_url, redis_url)
    os.environ.update(env)
    try:
        run(args, database_url, env)
    finally:
        redis.flushdb()
        if not args.keep:
            drop_database(database_url)


def run(args: argparse.Namespace, database_url: str, env: dict[str, str]) -> None:
    import django

    if not args.reuse:
        recreate_database(database_url)
    django.setup()
    from django.db import connection

    from apps.scoring.services import DRAIN_BATCH_SIZE, journey_rescore

    args.batch = args.batch or DRAIN_BATCH_SIZE
    name = urlsplit(database_url).path.lstrip("/")
    if args.reuse:
        print(f"Reusing {name} ...", flush=True)
        started = time.perf_counter()
        spec = reseed()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM responses_answer")
            sizes = {"responses": args.responses, "answers": int(cursor.fetchone()[0])}
            cursor.execute("SELECT count(*) FROM responses_response")
            if int(cursor.fetchone()[0]) != args.responses:
                raise SystemExit("--reuse: the database holds another number of responses")
            cursor.execute("SELECT obj_description('responses_answer'::regclass, 'pg_class')")
            kept = (cursor.fetchone()[0] or "bench answers: uniform").rpartition(" ")[2]
            if kept != args.answers:
                print(f"--reuse: the kept answers are {kept}, not {args.answers}", flush=True)
                args.answers = kept
    else:
        print(f"Seeding {name} ...", flush=True)
        spec = seed()
        started = time.perf_counter()
        sizes = generate(spec, args.responses, args.answers)
    organization = spec["organization"]
    generated_s = time.perf_counter() - started
    alert_rules(spec, enabled=args.alerts == "on")
    print(f"{'Reset' if args.reuse else 'Generated'} {sizes['responses']} responses, "
          f"{sizes['answers']} answers ({sizes['answers'] / sizes['responses']:.1f} per "
          f"response) in {generated_s:.1f} s.", flush=True)  # fmt: skip

    print("(a) baseline statements ...", flush=True)
    baseline_s, baseline_cpu = baseline(organization.pk)
    full_s, full_cpu = full_baseline(organization.pk)
    print(f"    item counts {baseline_s:.2f} s, item counts and touchpoint moments {full_s:.2f} s; "
          f"draining in batches of {args.batch} ...", flush=True)  # fmt: skip
    drain_s, drained, drain_cpu = drain(organization.pk, args.batch, args.drain_processes)
    with connection.cursor() as cursor:
        differences = compare_with_baseline(cursor)
        touchpoint_differences = compare_touchpoints_with_baseline(cursor)
        after_drain = snapshot(cursor)
        cursor.execute("SELECT count(*) FROM alerts_alert")
        alerts_raised = int(cursor.fetchone()[0])
    print(f"    {drain_s:.2f} s for {drained} responses; {differences} item rows and "
          f"{touchpoint_differences} touchpoint rows differ from the baseline's.",
          flush=True)  # fmt: skip

    print("    the same statement storing into a copy of ItemDayCount ...", flush=True)
    stored_s, stored_cpu, stored_differences = stored_baseline(organization.pk)
    print(f"    {stored_s:.2f} s; {stored_differences} rows differ from the pipeline's.",
          flush=True)  # fmt: skip

    print("(b) full rescoring ...", flush=True)
    cpu = backend_cpu()
    started = time.perf_counter()
    rescored = journey_rescore(organization=organization, actor=None, journey=spec["journey"])
    rescore_s = time.perf_counter() - started
    rescore_cpu = backend_cpu() - cpu
    with connection.cursor() as cursor:
        after_rescore = snapshot(cursor)
        rescore_differences = compare_with_baseline(cursor)
    rescore_same = same_snapshot(after_drain, after_rescore) and rescore_differences == 0
    print(f"    {rescore_s:.2f} s for {rescored} responses; "
          f"{'same aggregates as the drain' if rescore_same else 'AGGREGATES DIFFER'}.",
          flush=True)  # fmt: skip
    connection.close()

    print(f"(c) freshness at {args.rate:.0f}/s for {args.freshness_seconds:.0f} s, one worker ...",
          flush=True)  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    worker = start_worker(env, RESULTS / f"scoring-worker-{stamp}.log")
    try:
        fresh = freshness(spec, args.rate, args.freshness_seconds)
    finally:
        stop_worker(worker)

    drain_ratio = (drained / drain_s) / (args.responses / full_s)
    drain_ratio_items = (drained / drain_s) / (args.responses / baseline_s)
    stored_ratio = (drained / drain_s) / (args.responses / stored_s)
    verdict = {
        "drain_rate_ratio_stored_baseline": round(stored_ratio, 3),
        "rescore_time_ratio_stored_baseline": round(rescore_s / stored_s, 3),
        "stored_baseline_matches": stored_differences == 0,
        "drain_rate_ratio": round(drain_ratio, 3),
        "drain_cpu_ratio": round(full_cpu / drain_cpu, 3),
        "drain_target_met": drain_ratio >= 0.25,
        "drain_rate_ratio_item_counts": round(drain_ratio_items, 3),
        "drain_cpu_ratio_item_counts": round(baseline_cpu / drain_cpu, 3),
        "rescore_time_ratio": round(rescore_s / full_s, 3),
        "rescore_cpu_ratio": round(rescore_cpu / full_cpu, 3),
        "rescore_target_met": rescore_s / full_s <= 2.0,
        "rescore_time_ratio_item_counts": round(rescore_s / baseline_s, 3),
        "rescore_cpu_ratio_item_counts": round(rescore_cpu / baseline_cpu, 3),
        "freshness_p95_s": fresh["delay_p95_s"],
        "freshness_target_met": fresh["delay_p95_s"] is not None
        and fresh["delay_p95_s"] <= 5.0
        and fresh["processed"] == fresh["submitted"],
        "aggregates_match_baseline": differences == 0 and touchpoint_differences == 0,
        "rescore_matches_drain": rescore_same,
    }

    def met(flag: bool) -> str:
        return "met" if flag else "MISSED"

    per = sizes["answers"] / args.responses
    processes = "" if args.drain_processes == 1 else f" x{args.drain_processes} processes"
    print()
    print(f"  {args.responses} responses x {per:.0f} answers; database backend CPU in brackets; "
          f"{args.answers} answers, alert rules {args.alerts}: {alerts_raised} alerts raised by "
          "the drain")  # fmt: skip
    print(
        f"  baseline statement   {full_s:7.2f} s [{full_cpu:6.2f} s] "
        f"{args.responses / full_s:8.0f} responses/s (item counts and touchpoint moments)"
    )
    print(
        f"  item counts alone    {baseline_s:7.2f} s [{baseline_cpu:6.2f} s] "
        f"{args.responses / baseline_s:8.0f} responses/s (the narrower statement)"
    )
    print(
        f"  drain, batches {args.batch:<5}{processes} "
        f"{drain_s:7.2f} s [{drain_cpu:6.2f} s] "
        f"{drained / drain_s:8.0f} responses/s = {drain_ratio:.0%} of the baseline's rate, "
        f"{verdict['drain_cpu_ratio']:.0%} by CPU (target >= 25%: "
        f"{met(verdict['drain_target_met'])}); {drain_ratio_items:.0%} of the item counts "
        f"alone ({verdict['drain_cpu_ratio_item_counts']:.0%} by CPU)"
    )
    print(
        f"  stored baseline      {stored_s:7.2f} s [{stored_cpu:6.2f} s] "
        f"{args.responses / stored_s:8.0f} responses/s: the drain makes {stored_ratio:.0%} of "
        f"its rate, the rescoring takes {rescore_s / stored_s:.2f}x its time"
    )
    print(
        f"  full rescoring       {rescore_s:7.2f} s [{rescore_cpu:6.2f} s] "
        f"= {verdict['rescore_time_ratio']:.2f}x the baseline's time, "
        f"{verdict['rescore_cpu_ratio']:.2f}x by CPU (target <= 2x: "
        f"{met(verdict['rescore_target_met'])}); {verdict['rescore_time_ratio_item_counts']:.2f}x "
        f"the item counts alone ({verdict['rescore_cpu_ratio_item_counts']:.2f}x by CPU)"
    )
    print(
        f"  freshness at {args.rate:.0f}/s   p50 {fresh['delay_p50_s']} s, p95 "
        f"{fresh['delay_p95_s']} s, max {fresh['delay_max_s']} s; {fresh['processed']} of "
        f"{fresh['submitted']} processed (target p95 <= 5 s: "
        f"{met(verdict['freshness_target_met'])}); submit p50 {fresh['submit_p50_ms']} ms, "
        f"p95 {fresh['submit_p95_ms']} ms"
    )
    print(
        f"  item-day counts and touchpoint moments equal to the baseline's: "
        f"{verdict['aggregates_match_baseline']}; "
        f"rescoring equal to the drain: {verdict['rescore_matches_drain']}"
    )
    load = os.getloadavg()
    print(
        f"  load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    result = {
        "when": stamp, "cores": os.cpu_count(), "load_average": load, "args": vars(args),
        "sizes": sizes, "generate_s": round(generated_s, 2),
        "baseline_s": round(full_s, 3), "baseline_cpu_s": round(full_cpu, 3),
        "item_count_baseline_s": round(baseline_s, 3),
        "item_count_baseline_cpu_s": round(baseline_cpu, 3),
        "stored_baseline_s": round(stored_s, 3), "stored_baseline_cpu_s": round(stored_cpu, 3),
        "drain_s": round(drain_s, 3), "drain_cpu_s": round(drain_cpu, 3),
        "rescore_s": round(rescore_s, 3), "rescore_cpu_s": round(rescore_cpu, 3),
        "freshness": fresh, "aggregates": after_drain, "alerts_raised": alerts_raised,
        "verdict": verdict,
    }  # fmt: skip
    out = RESULTS / f"scoring_pipeline-{stamp}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

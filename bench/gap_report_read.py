"""Benchmark: reading the gap report at 1M and at 10M answers (PostgreSQL).

Run from the repository root:

    .venv/bin/python bench/gap_report_read.py [--runs 7] [--scales 1000000,10000000] [--keep]

It creates a fresh PostgreSQL database, migrates it, seeds an organisation with the demo B2B
journey (7 touchpoints, 21 rating items + NPS + overall per audience) and 58 attribute sets,
then for each scale: generates that many answers over 365 days with set-based SQL (responses,
answers in a temporary table), builds the three aggregate tables from them with the pipeline's
grouping (so their cardinality is what real answers give), and times `selectors.gap_report`
(median of --runs after a warm-up run) for the default 90 days and a whole year, with the
derived-importance cache cold (deleted before every run) and warm. Results go to stdout and
bench/results/gap_report_read-*.json.
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cx_bench_gap_read"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DAYS = 365
EMPLOYEE_SHARE = 0.05  # of responses
# Customer segments: 25 stores x 2 channels, used with Zipf-like frequencies; 8 staff teams.
STORES = 25
CHANNELS = ("web", "kiosk")
REGIONS = ("Uusimaa", "Pirkanmaa", "Varsinais-Suomi", "Pohjois-Pohjanmaa", "Keski-Suomi")
TEAMS = ("Sales", "Customer service", "Logistics", "Finance", "Marketing", "IT", "HR", "Field")
ZIPF = 0.8
NOT_APPLICABLE = 0.05


def env_for(database_url: str, redis_url: str) -> dict[str, str]:
    """The production settings (Redis as the cache, PostgreSQL), quiet."""
    return {
        "DJANGO_SETTINGS_MODULE": "cxplatform.settings.production",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # Seeding queues notifications (journey owner): nobody consumes them here.
        "CELERY_BROKER_URL": "memory://localhost/",
        "EMAIL_URL": "console://",
        "SITE_URL": "http://127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


# --- seeding ---------------------------------------------------------------------------------


def seed() -> dict[str, Any]:
    """An organisation, the demo journey with its published questionnaire, attribute sets."""
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.journeys.demo import demo_journey_load
    from apps.journeys.models import Touchpoint
    from apps.organizations.services import organization_create
    from apps.scoring.demo import DEFAULT_PROFILE, PROFILES
    from apps.scoring.models import AttributeSet
    from apps.scoring.services import attribute_digest
    from apps.surveys.models import Questionnaire

    call_command("migrate", verbosity=0, interactive=False)
    owner = User.objects.create_user("bench-read@example.com", "bench-read-password-1")
    organization = organization_create(name="Bench Read Oy", owner=owner, slug="bench-read")
    journey = demo_journey_load(organization, owner)
    questionnaire = Questionnaire.objects.for_organization(organization).get(journey=journey)
    values = [
        {"store": f"Store {i + 1:02d}", "region": REGIONS[i % len(REGIONS)], "channel": channel}
        for i in range(STORES)
        for channel in CHANNELS
    ]
    customer_sets = [
        AttributeSet.objects.create(organization=organization, values=v, digest=attribute_digest(v))
        for v in values
    ]
    employee_sets = [
        AttributeSet.objects.create(
            organization=organization, values={"team": t}, digest=attribute_digest({"team": t})
        )
        for t in TEAMS
    ]
    touchpoints = list(
        Touchpoint.objects.for_organization(organization)
        .filter(journey=journey)
        .order_by("stage__position", "position", "id")
    )
    profiles = [PROFILES.get(tp.name_in("en"), DEFAULT_PROFILE) for tp in touchpoints]
    return {
        "organization": organization,
        "journey": journey,
        "questionnaire": questionnaire,
        "customer_sets": [s.pk for s in customer_sets],
        "employee_sets": [s.pk for s in employee_sets],
        "touchpoints": [
            (tp.pk, p.customer, p.employee, p.used_by, p.nps_weight)
            for tp, p in zip(touchpoints, profiles, strict=True)
        ],
    }


def _intervals(ids: list[int], weights: list[float]) -> list[tuple[int, float, float]]:
    total = sum(weights)
    rows, low = [], 0.0
    for pk, weight in zip(ids, weights, strict=True):
        high = low + weight / total
        rows.append((pk, low, high))
        low = high
    last_id, last_low, _ = rows.pop()
    return [*rows, (last_id, last_low, 1.0 + 1e-9)]  # no draw of random() falls past the end


def _setup_temp_tables(cursor: Any, spec: dict[str, Any]) -> None:
    q = spec["questionnaire"]
    cursor.execute(
        "CREATE TEMP TABLE bench_sets (id bigint, audience text, lo float8, hi float8, "
        "segment jsonb)"
    )
    customer = _intervals(
        spec["customer_sets"], [1 / (k + 1) ** ZIPF for k in range(len(spec["customer_sets"]))]
    )
    employee = _intervals(spec["employee_sets"], [1.0] * len(spec["employee_sets"]))
    for audience, rows in (("customer", customer), ("employee", employee)):
        cursor.executemany(
            "INSERT INTO bench_sets SELECT %s, %s, %s, %s, s.values FROM scoring_attributeset s "
            "WHERE s.id = %s",
            [(pk, audience, lo, hi, pk) for pk, lo, hi in rows],
        )
    cursor.execute(
        "CREATE TEMP TABLE bench_tps (tp_id bigint, c_mean float8, e_mean float8, "
        "used_by float8, nps_weight float8)"
    )
    cursor.executemany("INSERT INTO bench_tps VALUES (%s, %s, %s, %s, %s)", spec["touchpoints"])
    cursor.execute(
        "CREATE TEMP TABLE bench_items AS SELECT key AS item_key, kind, touchpoint_id, dimension, "
        "audience, scale_lo AS lo, scale_hi AS hi FROM surveys_item "
        "WHERE version_id = %s AND kind IN ('rating', 'nps', 'overall')",
        [q.published_version_id],
    )


def _noise() -> str:
    """Roughly normal with SD 0.5 (sum of three uniforms)."""
    return "(random() + random() + random() - 1.5)"


class StepTimer:
    """Seconds per generating statement, to see where population time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds[" ".join(sql.split())[:48]] += time.perf_counter() - started

    def slowest(self, count: int = 4) -> dict[str, float]:
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1])[:count]
        return {name: round(seconds, 1) for name, seconds in ranked}


_TABLES = (
    "scoring_itemdaycount", "scoring_touchpointdayaggregate", "scoring_respondentscore",
    "scoring_itemdaytotal", "scoring_touchpointdaytotal", "scoring_importancepairdaycount",
    "scoring_importancepairsetmonthcount", "scoring_importancepairsetspancount",
    "scoring_importancepairspancount", "scoring_touchpointspanaggregate", "scoring_itemspancount",
    "scoring_importancepairvaluespancount",
)  # fmt: skip


def populate(spec: dict[str, Any], answers: int) -> dict[str, Any]:
    """Generate ~`answers` valued answers and build the aggregates from them; returns counts."""
    from django.db import connection, transaction

    organization, journey, q = spec["organization"], spec["journey"], spec["questionnaire"]
    today = datetime.now(UTC).date()
    per_customer = sum(3 * used for _, _, _, used, _ in spec["touchpoints"]) + 2
    per_employee = 3 * len(spec["touchpoints"]) + 2
    per_response = (1 - EMPLOYEE_SHARE) * per_customer + EMPLOYEE_SHARE * per_employee
    responses = round(answers / (per_response * (1 - NOT_APPLICABLE * 0.9)))
    counts: dict[str, Any] = {}
    started = time.monotonic()
    steps = StepTimer()
    with transaction.atomic(), connection.execute_wrapper(steps), connection.cursor() as cursor:
        # Generated rows are consistent by construction: skip the per-row foreign-key triggers
        # (hours at 10M answers). Needs a superuser, as the bench's default URL has.
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in (*_TABLES, "scoring_scoringstate", "responses_answer",
                      "responses_pendingresponse", "responses_response"):  # fmt: skip
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        _setup_temp_tables(cursor, spec)
        # Processed responses: no pending rows, their aggregates are written below.
        for audience, n in (
            ("customer", round(responses * (1 - EMPLOYEE_SHARE))),
            ("employee", round(responses * EMPLOYEE_SHARE)),
        ):
            cursor.execute(
                "WITH picks AS (SELECT g, random() AS u, floor(random() * %(days)s)::int AS back "
                "FROM generate_series(1, %(n)s) g) "
                "INSERT INTO responses_response (organization_id, questionnaire_id, version_id, "
                "audience, segment, idempotency_key, submitted_on, submitted_at, user_agent, "
                "language, duration_seconds) "
                "SELECT %(org)s, %(q)s, %(v)s, %(aud)s, s.segment, gen_random_uuid(), "
                "%(today)s::date - p.back, CASE WHEN %(aud)s = 'customer' THEN now() END, '', "
                "'fi', 90 FROM picks p JOIN bench_sets s "
                "ON s.audience = %(aud)s AND p.u >= s.lo AND p.u < s.hi",
                {"days": DAYS, "n": n, "org": organization.pk, "q": q.pk,
                 "v": q.published_version_id, "aud": audience, "today": today},
            )  # fmt: skip
        cursor.execute(
            # Each response's attribute set, matched by segment (responses do not store it).
            f"CREATE TEMP TABLE bench_resp AS SELECT r.id AS response_id, r.audience, "  # noqa: S608
            f"s.id AS attribute_set_id, r.submitted_on AS day, {_noise()} * 0.8 AS mood "
            f"FROM responses_response r JOIN bench_sets s ON s.audience = r.audience "
            f"AND s.segment = r.segment WHERE r.organization_id = %s",
            [organization.pk],
        )
        cursor.execute("ANALYZE bench_resp")
        cursor.execute(
            f"CREATE TEMP TABLE bench_levels AS SELECT r.response_id, r.audience, "  # noqa: S608
            f"r.attribute_set_id, r.day, t.tp_id, t.nps_weight, "
            f"CASE WHEN r.audience = 'customer' THEN t.c_mean ELSE t.e_mean END + r.mood "
            f"+ {_noise()} * 1.1 AS level "
            f"FROM bench_resp r CROSS JOIN bench_tps t "
            f"WHERE r.audience = 'employee' OR random() < t.used_by"
        )
        cursor.execute("ANALYZE bench_levels")
        cursor.execute(
            f"CREATE TEMP TABLE bench_answers AS "  # noqa: S608
            f"SELECT l.response_id, l.audience, l.attribute_set_id, l.day, i.item_key, i.kind, "
            f"i.touchpoint_id, i.dimension, i.lo, i.hi, "
            f"least(i.hi, greatest(i.lo, round(l.level + {_noise()} * 0.9)))::int AS value "
            f"FROM bench_levels l JOIN bench_items i "
            f"ON i.touchpoint_id = l.tp_id AND i.audience = l.audience "
            f"WHERE random() >= {NOT_APPLICABLE} "
            f"UNION ALL "
            f"SELECT e.response_id, e.audience, e.attribute_set_id, e.day, i.item_key, i.kind, "
            f"NULL, '', i.lo, i.hi, least(i.hi, greatest(i.lo, round(CASE i.kind "
            f"WHEN 'nps' THEN 3 + 8.5 * e.experience + {_noise()} * 2.6 "
            f"ELSE 1 + 4 * e.experience + {_noise()} * 1.2 END)))::int "
            f"FROM (SELECT response_id, audience, attribute_set_id, day, "
            f"sum(nps_weight * (level - 1) / 4) / sum(nps_weight) AS experience "
            f"FROM bench_levels GROUP BY 1, 2, 3, 4) e "
            f"JOIN bench_items i ON i.audience = e.audience AND i.kind IN ('nps', 'overall')"
        )
        cursor.execute("ANALYZE bench_answers")
        cursor.execute("SELECT count(*) FROM bench_answers")
        counts["answers"] = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO scoring_itemdaycount (organization_id, journey_id, questionnaire_id, "
            "item_key, kind, touchpoint_id, dimension, audience, attribute_set_id, day, scale_lo, "
            'scale_hi, value, "count") '
            "SELECT %s, %s, %s, item_key, max(kind), max(touchpoint_id), max(dimension), "
            "audience, attribute_set_id, day, lo, hi, value, count(*) FROM bench_answers "
            "GROUP BY item_key, audience, attribute_set_id, day, lo, hi, value "
            # Day after day, as the scoring batches write them: a day's rows share pages.
            "ORDER BY day, item_key, audience, attribute_set_id, lo, hi, value",
            [organization.pk, journey.pk, q.pk],
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_per AS SELECT response_id, audience, attribute_set_id, day, "
            "touchpoint_id, avg(CAST((value - lo) * 100 AS float8) / (hi - lo)) AS score "
            "FROM bench_answers WHERE kind = 'rating' GROUP BY 1, 2, 3, 4, 5"
        )
        cursor.execute("ANALYZE bench_per")
        cursor.execute(
            "INSERT INTO scoring_touchpointdayaggregate (organization_id, journey_id, "
            "questionnaire_id, touchpoint_id, audience, attribute_set_id, day, n, total, total_sq) "
            "SELECT %s, %s, %s, touchpoint_id, audience, attribute_set_id, day, count(*), "
            "sum(score), sum(score * score) FROM bench_per GROUP BY 4, 5, 6, 7 ORDER BY 7, 4, 5, 6",
            [organization.pk, journey.pk, q.pk],
        )
        cursor.execute(
            "INSERT INTO scoring_respondentscore (organization_id, response_id, journey_id, "
            "questionnaire_id, touchpoint_id, attribute_set_id, day, score, outcome) "
            "SELECT %s, p.response_id, %s, %s, p.touchpoint_id, p.attribute_set_id, p.day, "
            "p.score, o.value * 10.0 FROM bench_per p LEFT JOIN bench_answers o "
            "ON o.response_id = p.response_id AND o.item_key = 'nps' "
            # In the order the scoring batches write them, day after day (not the generated
            # responses' random order): a day's rows share pages, as in production.
            "WHERE p.audience = 'customer' ORDER BY p.day, p.response_id",
            [organization.pk, journey.pk, q.pk],
        )
        # The rollups over attribute sets, summed from the per-set rows as the pipeline's
        # statement (and the migration that introduced them) sums them.
        backfill = importlib.import_module(
            "apps.scoring.migrations.0002_rollups_without_attribute_sets"
        )._BACKFILL
        for statement in backfill:
            cursor.execute(statement)
        # ...and the importance pairs per attribute set (scoring/0003).
        cursor.execute(
            importlib.import_module(
                "apps.scoring.migrations.0003_importance_pairs_per_attribute_set_and_month"
            ).backfill_sql("postgresql")
        )
        # ...per set and week or quarter, over the sets per week, month or quarter, and the
        # touchpoint moments per set and week, month or quarter (scoring/0005).
        for statement in importlib.import_module(
            "apps.scoring.migrations.0005_pairs_and_moments_per_week_month_and_quarter"
        ).backfill_sql("postgresql"):
            cursor.execute(statement)
        # ...and the pairs per attribute value and month, from the sets' (scoring/0008).
        for statement in importlib.import_module(
            "apps.scoring.migrations.0008_importance_pairs_per_attribute_value"
        ).backfill_sql("postgresql"):
            cursor.execute(statement)
        # ...and the customers' item counts per set and month (scoring/0006).
        for statement in importlib.import_module(
            "apps.scoring.migrations.0006_item_counts_per_set_and_month"
        ).backfill_sql("postgresql"):
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO scoring_scoringstate (organization_id, journey_id, version, "
            "settled_version, updated_at) VALUES (%s, %s, 1, 1, now())",
            [organization.pk, journey.pk],
        )
        for table in ("bench_per", "bench_answers", "bench_levels", "bench_resp", "bench_sets",
                      "bench_tps", "bench_items"):  # fmt: skip
            cursor.execute(f"DROP TABLE {table}")
        for table in ("responses_response", *_TABLES):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        for table in ("responses_response", *_TABLES):
            cursor.execute(f"VACUUM ANALYZE {table}")
    counts["populate_s"] = round(time.monotonic() - started, 1)
    counts["slowest_steps_s"] = steps.slowest()
    return counts


# --- timing ----------------------------------------------------------------------------------


class QueryTimer:
    """Times every query of a block, grouped by the aggregate table it reads."""

    def __init__(self) -> None:
        self.by_table: dict[str, float] = defaultdict(float)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            name = next(
                (t for t in ("itemdaycount", "itemdaytotal", "touchpointdayaggregate",
                             "touchpointdaytotal", "respondentscore", "importancepairdaycount",
                             "importancepairspancount",
                             "scoringstate", "attributeset") if f'"scoring_{t}"' in sql),
                "journey shape",
            )  # fmt: skip
            self.by_table[name] += time.perf_counter() - started


def measure(spec: dict[str, Any], runs: int, today: date) -> list[dict[str, Any]]:
    from django.core.cache import cache
    from django.db import connection

    from apps.scoring import selectors
    from apps.scoring.filters import ReportFilter

    organization, journey = spec["organization"], spec["journey"]
    rows = []
    for label, days in (("90 days", 90), ("365 days", 365)):
        report_filter = ReportFilter(date_from=today - timedelta(days=days - 1), date_to=today)
        version = selectors.scoring_version(organization=organization, journey=journey)
        key = selectors.importance_cache_key(organization, journey, report_filter, version)
        for cache_state in ("cold", "warm"):
            timings, breakdowns = [], []
            for attempt in range(runs + 1):  # the first run warms PostgreSQL's buffers
                if cache_state == "cold":
                    cache.delete(key)
                timer = QueryTimer()
                started = time.perf_counter()
                with connection.execute_wrapper(timer):
                    report = selectors.gap_report(
                        organization=organization, journey=journey, report_filter=report_filter
                    )
                elapsed = time.perf_counter() - started
                if attempt:
                    timings.append(elapsed)
                    breakdowns.append(dict(timer.by_table))
            median_breakdown = {
                table: round(1000 * statistics.median(b.get(table, 0.0) for b in breakdowns), 1)
                for table in breakdowns[0]
            }
            rows.append({
                "filter": label, "importance_cache": cache_state,
                "median_ms": round(1000 * statistics.median(timings), 1),
                "min_ms": round(1000 * min(timings), 1), "max_ms": round(1000 * max(timings), 1),
                "queries_ms": median_breakdown,
                "customers_counted": sum(r.customer.n or 0 for r in report.touchpoints),
                "derived": sum(r.importance_source == "derived" for r in report.touchpoints),
            })  # fmt: skip
        cache.delete(key)
    return rows


_WHERE = "organization_id = %s AND journey_id = %s AND day >= %s AND day <= %s"
# The two big reads as plain SQL: the per-set rows (what a segment filter reads) against their
# rollups over the sets (what the report reads without one).
_OPTION_QUERIES = {
    "item counts per set": (
        'SELECT item_key, audience, scale_lo, scale_hi, value, sum("count") '  # noqa: S608
        f"FROM scoring_itemdaycount WHERE {_WHERE} GROUP BY 1, 2, 3, 4, 5"
    ),
    "item counts, rollup (as read)": (
        'SELECT item_key, audience, scale_lo, scale_hi, value, sum("count") '  # noqa: S608
        f"FROM scoring_itemdaytotal WHERE {_WHERE} GROUP BY 1, 2, 3, 4, 5"
    ),
    "importance pairs per respondent": (
        "SELECT touchpoint_id, score, outcome, count(*) FROM scoring_respondentscore "  # noqa: S608
        f"WHERE {_WHERE} AND outcome IS NOT NULL GROUP BY 1, 2, 3"
    ),
    "importance pairs, rollup (as read)": (
        'SELECT touchpoint_id, score, outcome, sum("count") '  # noqa: S608
        f"FROM scoring_importancepairdaycount WHERE {_WHERE} GROUP BY 1, 2, 3"
    ),
}


def measure_options(spec: dict[str, Any], runs: int, today: date) -> list[dict[str, Any]]:
    """The two big reads as plain SQL, against the per-set tables and against their rollups
    over the sets: how much of the growth the attribute-set dimension causes."""
    from django.db import connection

    organization, journey = spec["organization"], spec["journey"]
    rows = []
    with connection.cursor() as cursor:
        sizes = {}
        for table in ("scoring_itemdaytotal", "scoring_importancepairdaycount",
                      "scoring_touchpointdaytotal"):  # fmt: skip
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            sizes[table] = cursor.fetchone()[0]
        for days in (90, 365):
            params = [organization.pk, journey.pk, today - timedelta(days=days - 1), today]
            for name, sql in _OPTION_QUERIES.items():
                timings = []
                for attempt in range(runs + 1):
                    started = time.perf_counter()
                    cursor.execute(sql, params)
                    result = cursor.fetchall()
                    if attempt:
                        timings.append(time.perf_counter() - started)
                rows.append({
                    "filter": f"{days} days", "query": name, "result_rows": len(result),
                    "median_ms": round(1000 * statistics.median(timings), 1),
                })  # fmt: skip
    return [{"rollup_rows": sizes}, *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (median)")
    parser.add_argument(
        "--scales", default="1000000,10000000", help="answers per scale, comma-separated"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.update(env_for(database_url, redis_url))
    sys.path.insert(0, str(REPO))
    from bench.respondent_submit import drop_database, recreate_database

    recreate_database(database_url)
    try:
        run(args, database_url)
    finally:
        from django.db import connection

        connection.close()
        if not args.keep:
            drop_database(database_url)


def run(args: argparse.Namespace, database_url: str) -> None:
    import django

    django.setup()
    print(f"Seeding {urlsplit(database_url).path.lstrip('/')} ...", flush=True)
    spec = seed()
    today = datetime.now(UTC).date()
    scales = [int(s) for s in args.scales.split(",")]
    results = []
    for answers in scales:
        print(f"Generating {answers:,} answers and their aggregates ...", flush=True)
        counts = populate(spec, answers)
        print(f"  {counts}", flush=True)
        rows = measure(spec, args.runs, today)
        options = measure_options(spec, args.runs, today)
        results.append(
            {"answers_target": answers, "counts": counts, "rows": rows, "options": options}
        )
    print()
    header = (f"{'answers':>11} {'filter':>9} {'importance':>10} {'median ms':>10} {'min':>7} "
              f"{'max':>7}  per table (median ms)")  # fmt: skip
    print(header)
    print("-" * len(header))
    for result in results:
        for row in result["rows"]:
            print(
                f"{result['counts']['answers']:>11,} {row['filter']:>9} "
                f"{row['importance_cache']:>10} {row['median_ms']:>10} {row['min_ms']:>7} "
                f"{row['max_ms']:>7}  {row['queries_ms']}"
            )
    print()
    print("The two big reads as plain SQL, per-set tables vs set-less rollups (median ms):")
    for result in results:
        sizes, *option_rows = result["options"]
        print(f"  {result['counts']['answers']:,} answers; rollup rows {sizes['rollup_rows']}")
        for row in option_rows:
            print(f"    {row['filter']:>9}  {row['query']:<36} {row['median_ms']:>8} ms  "
                  f"({row['result_rows']} groups)")  # fmt: skip
    verdict = {}
    if len(results) >= 2:
        small, large = results[0], results[-1]
        print()
        for a, b in zip(small["rows"], large["rows"], strict=True):
            ratio = b["median_ms"] / a["median_ms"]
            name = f"{a['filter']}, importance {a['importance_cache']}"
            verdict[name] = round(ratio, 2)
            met = "met" if ratio <= 1.5 else "MISSED"
            print(f"{name}: {large['counts']['answers']:,} / {small['counts']['answers']:,} "
                  f"answers = {ratio:.2f}x (target <= 1.5: {met})")  # fmt: skip
        for a, b in zip(small["options"][1:], large["options"][1:], strict=True):
            ratio = b["median_ms"] / a["median_ms"]
            name = f"plain SQL, {a['filter']}, {a['query']}"
            verdict[name] = round(ratio, 2)
            print(f"{name}: {ratio:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"gap_report_read-{stamp}.json"
    summary = {"when": stamp, "cores": os.cpu_count(), "runs": args.runs, "results": results,
               "ratios": verdict}  # fmt: skip
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

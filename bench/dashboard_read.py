"""Benchmark: the journey dashboard page's server time at 1M and at 10M answers (PostgreSQL).

Run from the repository root:

    .venv/bin/python bench/dashboard_read.py [--runs 25] [--scales 1000000,10000000] [--keep]

Seeds like bench/gap_report_read.py (its `seed` and `populate`: the demo B2B journey, 7
touchpoints, 50 customer attribute sets of 25 stores x 2 channels, 8 staff teams, answers over
365 days with set-based SQL and the aggregates built from them), then for each scale requests
the dashboard through Django's test client (the whole WSGI handler and middleware, production
settings with PostgreSQL and Redis as the cache, logged in as the owner) and times each request
in-process: the default page (last 90 days), the page comparing the 25 stores side by side with
the staff calibration by team, and the same for 365 days. Derived importance is cached until
new data arrives, so each page is timed with its cache cold (the bench's importance keys deleted
before every run: the first read after a processed batch) and warm. Prints p50/p95 and the
query count per page, the SQL time by read (the comparison's grouped reads apart), and the
10M/1M ratio; writes bench/results/dashboard_read-*.json.
"""

import argparse
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
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cx_bench_dashboard"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
PAGES = (
    ("default, 90 days", 90, {}),
    ("25 stores + calibration, 90 days", 90, {"compare": "store", "unit": "team"}),
    ("default, 365 days", 365, {}),
    ("25 stores + calibration, 365 days", 365, {"compare": "store", "unit": "team"}),
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def forget_importance(redis_url: str) -> int:
    """Delete the cached derived importance (the report's and the compared values')."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match="*importance*", count=1000))
    return client.delete(*keys) if keys else 0


class QueryTimer:
    """Times every query of a request, by what it reads: the segment comparison's two grouped
    reads, the other aggregate reads by table, and the rest (session, journey, shape...)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if (
                '"scoring_touchpointdayaggregate"."attribute_set_id" AS' in sql
                or "scoring_importancepairsetmonthcount" in sql
            ):
                name = "comparison"
            else:
                name = next(
                    (t for t in ("itemdaycount", "touchpointdayaggregate", "respondentscore")
                     if f"scoring_{t}" in sql),
                    "other",
                )  # fmt: skip
            self.ms[name] += 1000 * (time.perf_counter() - started)


def measure(spec: dict[str, Any], runs: int, today: date, redis_url: str) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from apps.accounts.models import User

    organization, journey = spec["organization"], spec["journey"]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(email="bench-read@example.com"))
    url = reverse("dashboards:journey", args=[organization.slug, journey.pk])
    rows = []
    for label, days, extra in PAGES:
        params = {
            "preset": "custom",
            "from": (today - timedelta(days=days - 1)).isoformat(),
            "to": today.isoformat(),
            **extra,
        }
        for cache_state in ("cold", "warm"):
            timings: list[float] = []
            breakdowns: list[dict[str, float]] = []
            queries = set()
            for attempt in range(runs + 1):  # the first run warms PostgreSQL's buffers
                if cache_state == "cold":
                    forget_importance(redis_url)
                timer = QueryTimer()
                with (
                    CaptureQueriesContext(connection) as captured,
                    connection.execute_wrapper(timer),
                ):
                    started = time.perf_counter()
                    response = client.get(url, params, secure=True)
                    elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"{label}: HTTP {response.status_code}")
                queries.add(len(captured.captured_queries))
                if attempt:
                    timings.append(elapsed)
                    breakdowns.append(timer.ms)
            page = response.content.decode()
            rows.append({
                "page": label, "importance_cache": cache_state,
                "p50_ms": round(1000 * statistics.median(timings), 1),
                "p95_ms": round(1000 * percentile(timings, 0.95), 1),
                "max_ms": round(1000 * max(timings), 1),
                "queries": sorted(queries),
                "sql_median_ms": {
                    name: round(statistics.median(b.get(name, 0.0) for b in breakdowns), 1)
                    for name in sorted({n for b in breakdowns for n in b})
                },
                "compared_values": page.count('<th scope="row">Store '),
                "kb": round(len(page) / 1024),
            })  # fmt: skip
            print(f"    {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="timed requests per case")
    parser.add_argument(
        "--scales", default="1000000,10000000", help="answers per scale, comma-separated"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    sys.path.insert(0, str(REPO))
    from bench.gap_report_read import env_for
    from bench.respondent_submit import drop_database, recreate_database

    os.environ.update(env_for(database_url, redis_url))
    # The production settings, static files without the collectstatic manifest (bench.settings).
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "bench.settings", "ALLOWED_HOSTS": "127.0.0.1,testserver"}
    )
    recreate_database(database_url)
    try:
        run(args, database_url, redis_url)
    finally:
        from django.db import connection

        connection.close()
        forget_importance(redis_url)
        if not args.keep:
            drop_database(database_url)


def run(args: argparse.Namespace, database_url: str, redis_url: str) -> None:
    import django

    django.setup()
    from bench.gap_report_read import populate, seed

    print(f"Seeding {urlsplit(database_url).path.lstrip('/')} ...", flush=True)
    spec = seed()
    today = datetime.now(UTC).date()
    results = []
    for answers in [int(s) for s in args.scales.split(",")]:
        print(f"Generating {answers:,} answers and their aggregates ...", flush=True)
        counts = populate(spec, answers)
        print(f"  {counts}", flush=True)
        results.append({"counts": counts, "rows": measure(spec, args.runs, today, redis_url)})
    print()
    header = (f"{'answers':>11} {'page':<34} {'importance':>10} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'max ms':>8} queries  SQL by read (median ms)")  # fmt: skip
    print(header)
    print("-" * len(header))
    for result in results:
        for row in result["rows"]:
            print(f"{result['counts']['answers']:>11,} {row['page']:<34} "
                  f"{row['importance_cache']:>10} {row['p50_ms']:>8} {row['p95_ms']:>8} "
                  f"{row['max_ms']:>8} {row['queries']}  {row['sql_median_ms']}")  # fmt: skip
    ratios = {}
    if len(results) >= 2:
        small, large = results[0], results[-1]
        print()
        for a, b in zip(small["rows"], large["rows"], strict=True):
            ratio = b["p95_ms"] / a["p95_ms"]
            name = f"{a['page']}, importance {a['importance_cache']}"
            ratios[name] = round(ratio, 2)
            met = "met" if ratio <= 1.5 else "MISSED"
            print(f"p95 {name}: {ratio:.2f}x (target <= 1.5: {met})")
    most = max(q for result in results for row in result["rows"] for q in row["queries"])
    print(f"Most queries on one page: {most} (target <= 15)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"dashboard_read-{stamp}.json"
    summary = {"when": stamp, "cores": os.cpu_count(), "load": os.getloadavg(),
               "runs": args.runs, "results": results, "p95_ratios": ratios}  # fmt: skip
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

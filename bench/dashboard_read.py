"""Benchmark: the journey dashboard page's server time at 1M and at 10M answers (PostgreSQL).

Run from the repository root:

    .venv/bin/python bench/dashboard_read.py [--runs 25] [--scales 1000000,10000000] [--keep]

Seeds like bench/gap_report_read.py (its `seed` and `populate`: the demo B2B journey, 7
touchpoints, 50 customer attribute sets of 25 stores x 2 channels, 8 staff teams, answers over
365 days with set-based SQL and the aggregates built from them), one database per scale, each
served by a process of its own. Then requests the dashboard through Django's test client (the
whole WSGI handler and middleware, production settings with PostgreSQL and Redis as the cache,
logged in as the owner) and times each request in its process: the default page (last 90 days),
the page comparing the 25 stores side by side with the staff calibration by team, the page
under a segment filter (channel "web": half of the customers' attribute sets), and the same for
365 days. The scales' requests alternate (1M, 10M, then 10M, 1M, ...), so that other work
on a shared machine slows both alike and the ratio stays meaningful. Each page is timed in
three cache states: "settled", nothing of derived importance cached (the first read of a
period, or after a late answer or a rescoring); "cold", the first read after a batch of today's
answers (importance read again, the importance pairs and a segment filter's item counts of the
settled days still cached: those before the month of yesterday, `selectors.settled_end`);
"warm". Prints p50/p95 and the query count per page, the SQL time by read (the comparison's
grouped reads apart), and the 10M/1M ratio; writes bench/results/dashboard_read-*.json.
"""

import argparse
import json
import os
import statistics
import subprocess
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
    ("channel web (a segment filter), 90 days", 90, {"attr.channel": "web"}),
    ("channel web (a segment filter), 365 days", 365, {"attr.channel": "web"}),
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# What each cache state deletes before every request: "cold" is the first read after a batch
# of today's answers (the journey's scoring version changed: derived importance is read again,
# but the importance pairs and a segment filter's item counts of settled days, before the
# month of yesterday, stay cached); "settled" also forgets those (the first read of a period,
# or after a late answer or a rescoring).
FORGET = {
    "cold": ("importance",),
    "settled": ("importance", "settled-pairs", "settled-items"),
    "warm": (),
}


def forget_importance(
    redis_url: str, prefix: str = "", what: tuple[str, ...] = ("importance",)
) -> int:
    """Delete the cached derived importance (the report's and the compared values') of the
    process whose cache keys start with `prefix` (and whatever else `what` names)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [key for name in what for key in client.scan_iter(match=f"{prefix}*{name}*", count=1000)]
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
                or "scoring_importancepairsetspancount" in sql
            ):
                name = "comparison"
            else:
                name = next(
                    (t for t in ("itemdaycount", "touchpointdayaggregate", "respondentscore")
                     if f"scoring_{t}" in sql),
                    "other",
                )  # fmt: skip
            self.ms[name] += 1000 * (time.perf_counter() - started)


def _one_request(
    client: Any, url: str, params: dict[str, Any], state: str, redis_url: str, prefix: str
) -> dict[str, Any]:
    """One timed request: seconds, queries, SQL ms by read, and what the page shows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if FORGET[state]:
        forget_importance(redis_url, prefix, FORGET[state])
    timer = QueryTimer()
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        started = time.perf_counter()
        response = client.get(url, params, secure=True)
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    page = response.content.decode()
    return {
        "s": elapsed,
        "queries": len(captured.captured_queries),
        "sql_ms": dict(timer.ms),
        "compared_values": page.count('<th scope="row">Store '),
        "kb": round(len(page) / 1024),
    }


def serve(answers: int, redis_url: str, prefix: str) -> None:
    """A scale's process: seed and populate its database, then answer requests to time, one
    JSON line each, from the orchestrator (stdin), so that the scales' requests alternate."""
    import django

    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything else printed goes to the log, not the protocol
    django.setup()
    from django.test import Client
    from django.urls import reverse

    from apps.accounts.models import User
    from bench.gap_report_read import populate, seed

    spec = seed()
    counts = populate(spec, answers)
    organization, journey = spec["organization"], spec["journey"]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(email="bench-read@example.com"))
    url = reverse("dashboards:journey", args=[organization.slug, journey.pk])
    # As a gunicorn worker serves: the application loaded and its objects frozen out of the
    # garbage collector's full passes (cxplatform/wsgi.py), here after the seeding.
    from apps.core.startup import freeze_loaded_objects

    freeze_loaded_objects()
    print(json.dumps({"counts": counts}, default=str), file=protocol, flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        result = _one_request(client, url, ask["params"], ask["state"], redis_url, prefix)
        print(json.dumps(result), file=protocol, flush=True)


def page_params(days: int, extra: dict[str, str], today: date) -> dict[str, Any]:
    return {
        "preset": "custom",
        "from": (today - timedelta(days=days - 1)).isoformat(),
        "to": today.isoformat(),
        **extra,
    }


def summary_row(label: str, cache_state: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    timings = [r["s"] for r in results]
    breakdowns = [r["sql_ms"] for r in results]
    return {
        "page": label, "importance_cache": cache_state,
        "p50_ms": round(1000 * statistics.median(timings), 1),
        "p95_ms": round(1000 * percentile(timings, 0.95), 1),
        "max_ms": round(1000 * max(timings), 1),
        "queries": sorted({r["queries"] for r in results}),
        "sql_median_ms": {
            name: round(statistics.median(b.get(name, 0.0) for b in breakdowns), 1)
            for name in sorted({n for b in breakdowns for n in b})
        },
        "compared_values": results[-1]["compared_values"],
        "kb": results[-1]["kb"],
    }  # fmt: skip


class Scale:
    """A scale's serving process (`serve`), started with its own database and cache prefix."""

    def __init__(self, answers: int, database_url: str, redis_url: str, index: int) -> None:
        from bench.gap_report_read import env_for

        self.answers, self.prefix = answers, f"bench{index}"
        self.counts: dict[str, Any] = {}
        env = {
            **os.environ,
            **env_for(database_url, redis_url),
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "ALLOWED_HOSTS": "127.0.0.1,testserver",
            "BENCH_CACHE_PREFIX": self.prefix,
        }
        self.log = RESULTS / f"dashboard_read-{self.prefix}.log"
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, "--serve", str(answers)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log.open("w"),
            text=True, env=env, cwd=REPO,
        )  # fmt: skip

    def read(self) -> dict[str, Any]:
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            raise SystemExit(f"the {self.answers:,}-answer process stopped; see {self.log}")
        return json.loads(line)

    def request(self, params: dict[str, Any], state: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"params": params, "state": state}) + "\n")
        self.process.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def measure(scales: list[Scale], runs: int, today: date) -> list[list[dict[str, Any]]]:
    """Every page and cache state at every scale, the scales' requests alternating (ABAB...,
    then BABA... on odd rounds) so that a busy moment on a shared machine hits all alike."""
    rows: list[list[dict[str, Any]]] = [[] for _ in scales]
    for label, days, extra in PAGES:
        params = page_params(days, extra, today)
        for cache_state in ("settled", "cold", "warm"):
            results: list[list[dict[str, Any]]] = [[] for _ in scales]
            for scale in scales:  # the first request of each warms PostgreSQL's buffers
                scale.request(params, cache_state)
            for attempt in range(runs):
                order = list(enumerate(scales))
                for index, scale in order if attempt % 2 == 0 else reversed(order):
                    results[index].append(scale.request(params, cache_state))
            for index, scale in enumerate(scales):
                rows[index].append(summary_row(label, cache_state, results[index]))
                print(f"    {scale.answers:,}: {rows[index][-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="timed requests per case")
    parser.add_argument(
        "--scales", default="1000000,10000000", help="answers per scale, comma-separated"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # a scale's process
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    if args.serve is not None:
        serve(args.serve, redis_url, os.environ["BENCH_CACHE_PREFIX"])
        return
    from bench.respondent_submit import drop_database, recreate_database

    base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    answers = [int(s) for s in args.scales.split(",")]
    urls = [f"{base_url}_{index}" for index in range(len(answers))]
    RESULTS.mkdir(parents=True, exist_ok=True)
    scales: list[Scale] = []
    try:
        for index, (count, url) in enumerate(zip(answers, urls, strict=True)):
            recreate_database(url)
            print(f"Seeding {urlsplit(url).path.lstrip('/')} with {count:,} answers ...",
                  flush=True)  # fmt: skip
            scales.append(Scale(count, url, redis_url, index))
            scales[-1].counts = scales[-1].read()["counts"]  # one at a time: less memory
            print(f"  {scales[-1].counts}", flush=True)
        report(args, scales, measure(scales, args.runs, datetime.now(UTC).date()))
    finally:
        for scale in scales:
            scale.stop()
            forget_importance(redis_url, scale.prefix, FORGET["settled"])
        if not args.keep:
            for url in urls:
                drop_database(url)


def report(args: argparse.Namespace, scales: list[Scale], rows: list[list[dict]]) -> None:
    results = [
        {"counts": scale.counts, "rows": scale_rows}
        for scale, scale_rows in zip(scales, rows, strict=True)
    ]
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
            print(f"p95 {name}: {ratio:.2f}x (target <= 1.5: {met}); "
                  f"p50 {b['p50_ms'] / a['p50_ms']:.2f}x")  # fmt: skip
    most = max(q for result in results for row in result["rows"] for q in row["queries"])
    print(f"Most queries on one page: {most} (target <= 15)")
    load = os.getloadavg()
    print(f"Load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"dashboard_read-{stamp}.json"
    summary = {"when": stamp, "cores": os.cpu_count(), "load": load, "runs": args.runs,
               "interleaved": True, "results": results, "p95_ratios": ratios}  # fmt: skip
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

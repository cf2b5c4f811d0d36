"""Benchmark: rendering the gap report PDF of a 12-touchpoint journey with data.

Run from the repository root:

    .venv/bin/python bench/pdf_render.py [--runs 15] [--renders 1000] [--keep]

Creates a fresh PostgreSQL database (default `postgres://postgres@127.0.0.1:5432/cx_bench_pdf`,
`BENCH_DATABASE_URL`), seeds through the project's services an organisation, the B2B starter
journey with 5 more touchpoints (12 in all), its generated paired questionnaire, published, and
the demo answers (`apps.scoring.demo`: ~2500 customers and ~150 staff over 120 days, processed
by the pipeline). Production settings, Redis as the cache (`BENCH_REDIS_URL`, default
`redis://127.0.0.1:6379/12`; only importance keys are written), Celery to `memory://`.

Then, in this one process, as a worker renders a scheduled or requested PDF
(`services.render_gap_report_pdf`: the gap report read with its trend, the narrative, the
WeasyPrint rendering):

1. `--runs` timed renders after a warm-up: median and spread, and of the read alone;
2. the process's RSS high-water mark (`ru_maxrss`) after them, against its RSS before the
   first render;
3. `--renders` renders in a row, printing RSS at every tenth of them: flat means no leak
   (stopped after `--max-minutes`, default 20, with the count reached).

Writes bench/results/pdf_render-*.json and the last PDF as pdf_render-sample.pdf.
"""

import argparse
import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cx_bench_pdf"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
EXTRA_TOUCHPOINTS = (  # (stage position, name, importance)
    (0, "Trade fair", 2),
    (1, "Product demo", 4),
    (2, "Contract signing", 3),
    (3, "Onboarding training", 4),
    (3, "Account review", 3),
)


def rss_mb() -> float:
    """Resident set size now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pages_of(pdf: bytes) -> int | None:
    """Pages of a PDF by poppler's pdfinfo (installed with pdftoppm), None without it."""
    try:
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)  # noqa: S607
    except (FileNotFoundError, subprocess.CalledProcessError):
        return None
    found = re.search(rb"^Pages:\s+(\d+)", info.stdout, re.M)
    return int(found.group(1)) if found else None


def seed() -> tuple[Any, Any]:
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.journeys.models import Stage
    from apps.journeys.services import journey_create, touchpoint_create
    from apps.organizations.permissions import Principal
    from apps.organizations.services import organization_create
    from apps.scoring.demo import demo_responses_load
    from apps.surveys.services import questionnaire_generate, questionnaire_publish

    call_command("migrate", verbosity=0, interactive=False)
    owner = User.objects.create_user("bench-pdf@example.com", "bench-pdf-password-1")
    organization = organization_create(name="Bench PDF Oy", owner=owner, slug="bench-pdf")
    actor = Principal(organization=organization, role="owner", user=owner)
    journey = journey_create(
        organization=organization,
        actor=actor,
        language="en",
        template="b2b-sales-service",
        status="active",
    )
    stages = list(Stage.objects.for_organization(organization).filter(journey=journey))
    stages.sort(key=lambda stage: stage.position)
    for position, name, importance in EXTRA_TOUCHPOINTS:
        touchpoint_create(
            organization=organization,
            actor=actor,
            stage=stages[min(position, len(stages) - 1)],
            name=name,
            importance=importance,
        )
    questionnaire = questionnaire_generate(organization=organization, actor=actor, journey=journey)
    questionnaire_publish(organization=organization, actor=actor, questionnaire=questionnaire)
    written = demo_responses_load(organization, journey)
    print(f"  {written} responses written and processed", flush=True)
    return organization, journey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed renders (median)")
    parser.add_argument("--renders", type=int, default=1000, help="renders in the leak check")
    parser.add_argument(
        "--max-minutes", type=float, default=20.0, help="stop the leak check after (minutes)"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace Python allocations in the leak check and print where they grew",
    )
    parser.add_argument("--language", default="en", choices=["en", "fi"])
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    sys.path.insert(0, str(REPO))
    from bench.gap_report_read import env_for
    from bench.respondent_submit import drop_database, recreate_database

    os.environ.update(env_for(database_url, redis_url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    recreate_database(database_url)
    try:
        run(args)
    finally:
        from django.db import connection

        connection.close()
        if not args.keep:
            drop_database(database_url)


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from apps.reports.services import render_gap_report_pdf
    from apps.scoring import selectors
    from apps.scoring.filters import ReportFilter, organization_today

    print("Seeding ...", flush=True)
    organization, journey = seed()
    today = organization_today(organization)
    report_filter = ReportFilter(date_from=today - timedelta(days=119), date_to=today)
    touchpoints = len(
        selectors.gap_report(
            organization=organization, journey=journey, report_filter=report_filter
        ).touchpoints
    )

    def render() -> bytes:
        pdf, _priorities = render_gap_report_pdf(
            organization=organization,
            journey=journey,
            report_filter=report_filter,
            language=args.language,
        )
        return pdf

    rss_before = rss_mb()
    pdf = render()  # warm-up: fonts, templates, imports
    renders, reads = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        selectors.gap_report(
            organization=organization, journey=journey, report_filter=report_filter,
            with_trend=True,
        )  # fmt: skip
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        pdf = render()
        renders.append(time.perf_counter() - started)
    timing = {
        "touchpoints": touchpoints,
        "pdf_kb": round(len(pdf) / 1024),
        "pages": pages_of(pdf),
        "render_median_s": round(statistics.median(renders), 3),
        "render_min_s": round(min(renders), 3),
        "render_max_s": round(max(renders), 3),
        "read_median_s": round(statistics.median(reads), 3),
        "rss_before_first_render_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(f"  {timing}", flush=True)

    leak = []
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(5)
        gc.collect()
        first_snapshot = tracemalloc.take_snapshot()
    started = time.monotonic()
    step = max(1, args.renders // 10)
    stopped_early = False
    for done in range(args.renders + 1):
        over_time = time.monotonic() - started > 60 * args.max_minutes
        if done % step == 0 or over_time or done == args.renders:
            gc.collect()
            point = {
                "renders": done,
                "rss_mb": round(rss_mb(), 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "elapsed_s": round(time.monotonic() - started, 1),
            }
            leak.append(point)
            print(f"  {point}", flush=True)
        if over_time and done < args.renders:
            stopped_early = True
            print(f"  stopped after {done} renders: --max-minutes {args.max_minutes}", flush=True)
            break
        if done < args.renders:
            pdf = render()
    leak_seconds = time.monotonic() - started
    if args.tracemalloc:
        gc.collect()
        grown = tracemalloc.take_snapshot().compare_to(first_snapshot, "traceback")
        traced_growth = sum(stat.size_diff for stat in grown) / 2**20
        print(f"  Python allocations grew by {traced_growth:+.1f} MiB in the leak check; top:")
        for stat in grown[:8]:
            frames = " <- ".join(f"{f.filename.split('site-packages/')[-1]}:{f.lineno}"
                                 for f in stat.traceback[:3])  # fmt: skip
            print(f"    {stat.size_diff / 2**10:+.0f} KiB {stat.count_diff:+d} blocks  {frames}")
        tracemalloc.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pdf_render-sample.pdf").write_bytes(pdf)
    growth = leak[-1]["rss_mb"] - leak[1]["rss_mb"] if len(leak) > 2 else 0.0
    print()
    print(f"12-touchpoint gap report PDF ({timing['pages']} pages, {timing['pdf_kb']} KiB):")
    print(
        f"  render median {timing['render_median_s']} s (min {timing['render_min_s']}, "
        f"max {timing['render_max_s']}; of which the report read ~{timing['read_median_s']} s)"
    )
    print(f"  RSS before the first render {timing['rss_before_first_render_mb']} MiB, "
          f"high-water mark {timing['peak_rss_mb']} MiB")  # fmt: skip
    print(f"  {leak[-1]['renders']} renders in {leak_seconds:.0f} s; RSS after the first tenth "
          f"{leak[1]['rss_mb'] if len(leak) > 1 else '-'} MiB, at the end {leak[-1]['rss_mb']} "
          f"MiB ({growth:+.1f} MiB)")  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"pdf_render-{stamp}.json"
    summary = {"when": stamp, "cores": os.cpu_count(), "load": os.getloadavg(),
               "timing": timing, "rss": leak, "leak_check_s": round(leak_seconds, 1),
               "leak_check_stopped_early": stopped_early}  # fmt: skip
    out.write_text(json.dumps(summary, indent=2))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

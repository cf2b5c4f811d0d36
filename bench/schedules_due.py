"""Benchmark: 100 report schedules due at the same minute, delivered by real Celery workers.

Run from the repository root:

    .venv/bin/python bench/schedules_due.py [--schedules 100] [--recipients 2] \
        [--workers 1 --concurrency 2] [--keep]

Needs PostgreSQL (default `postgres://postgres@127.0.0.1:5432/cx_bench_schedules`,
`BENCH_DATABASE_URL`; dropped and recreated) and Redis as broker and cache (default
`redis://127.0.0.1:6379/12`, `BENCH_REDIS_URL`; it must be empty and is flushed at the end).

1. Seeds through the project's services an organisation, the demo B2B journey (7 touchpoints)
   with its generated questionnaire and the demo answers (~2500 customers, processed), and
   `--schedules` monthly schedules of its gap report, `--recipients` outside addresses each.
2. Starts an SMTP sink (aiosmtpd, in this process) and `--workers` Celery workers
   (`celery worker -Q reports --pool prefork --concurrency N`, production settings via
   bench.settings, mail over SMTP to the sink) and waits until they answer a ping.
3. Makes every schedule due at the same minute (next_due_at = this minute), then does what beat
   does every minute: publishes `apps.reports.tasks.schedules_tick`. A worker runs the tick
   (one delivery per schedule, each queued once committed); the workers render the PDF of
   each delivery and send one message per recipient.
4. Polls the database and the sink until every delivery is finished and every message has
   arrived; prints the time from the tick until all deliveries are recorded sent and until
   the last message arrived, and checks that no recipient got a message twice.

Results go to stdout and bench/results/schedules_due-*.json.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cx_bench_schedules"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"


class Sink:
    """An SMTP server keeping (arrival time, recipients, Subject) of every message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[float, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        subject = ""
        for line in envelope.original_content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"subject:"):
                subject = line.decode("utf-8", "replace")[8:].strip()
        with self.lock:
            self.messages.append((time.monotonic(), list(envelope.rcpt_tos), subject))
        return "250 OK"


def seed(schedules: int, recipients: int) -> tuple[Any, list[int]]:
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.journeys.demo import demo_journey_load
    from apps.organizations.permissions import Principal
    from apps.organizations.services import organization_create
    from apps.reports.services import schedule_create
    from apps.scoring.demo import demo_responses_load

    call_command("migrate", verbosity=0, interactive=False)
    owner = User.objects.create_user("bench-schedules@example.com", "bench-password-1")
    organization = organization_create(name="Bench Schedules Oy", owner=owner, slug="bench-sch")
    journey = demo_journey_load(organization, owner)
    print(f"  {demo_responses_load(organization, journey)} responses", flush=True)
    actor = Principal(organization=organization, role="owner", user=owner)
    ids = []
    for i in range(schedules):
        schedule = schedule_create(
            organization=organization, actor=actor, journey=journey,
            name=f"Monthly report {i + 1:03d}", frequency="monthly", day_of_month=1, hour=6,
            period="last_30_days" if i % 2 else "previous_month",
            language="fi" if i % 3 == 0 else "en",
            recipients=[f"reader-{i:03d}-{j}@example.com" for j in range(recipients)],
        )  # fmt: skip
        ids.append(schedule.pk)
    return organization, ids


def start_workers(args: argparse.Namespace, env: dict[str, str]) -> list[subprocess.Popen]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    procs = []
    for n in range(args.workers):
        log = (RESULTS / f"schedules_due-worker{n + 1}.log").open("wb")
        cmd = [sys.executable, "-m", "celery", "-A", "cxplatform", "worker", "-l", "WARNING",
               "-Q", "reports", "--pool", "prefork", "--concurrency", str(args.concurrency),
               "-n", f"bench{n + 1}@%h", "--without-mingle", "--without-gossip"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log))  # noqa: S603
    return procs


def wait_for_workers(count: int, timeout: float = 120.0) -> None:
    from cxplatform.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= count:
            return
        time.sleep(0.5)
    raise SystemExit("The Celery workers did not answer a ping in time.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=100)
    parser.add_argument("--recipients", type=int, default=2, help="addresses per schedule")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
    parser.add_argument("--timeout", type=float, default=1200.0, help="give up after (s)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    sys.path.insert(0, str(REPO))
    from bench.gap_report_read import env_for
    from bench.respondent_submit import drop_database, recreate_database, redis_client

    if redis_client(redis_url).dbsize():
        raise SystemExit(f"{redis_url} is not empty: give the bench a Redis database of its own.")
    from aiosmtpd.controller import Controller

    from bench.email_send import _free_port

    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        **os.environ,
        **env_for(database_url, redis_url),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "CELERY_BROKER_URL": redis_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}/?timeout=30",
        "LOG_FORMAT": "text",
    }
    os.environ.update(env)
    recreate_database(database_url)
    workers: list[subprocess.Popen] = []
    try:
        import django

        django.setup()
        print(f"Seeding {urlsplit(database_url).path.lstrip('/')} ...", flush=True)
        _organization, schedule_ids = seed(args.schedules, args.recipients)
        workers = start_workers(args, env)
        wait_for_workers(args.workers)
        print(f"{args.workers} worker(s) x {args.concurrency} ready; the tick ...", flush=True)
        result = run(args, schedule_ids, sink)
        result["uptime_load"] = os.getloadavg()
        print_result(args, result)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        controller.stop()
        from django.db import connection

        connection.close()
        redis_client(redis_url).flushdb()
        if not args.keep:
            drop_database(database_url)


def run(args: argparse.Namespace, schedule_ids: list[int], sink: Sink) -> dict[str, Any]:
    from django.db.models import Count, Max, Min
    from django.utils import timezone

    from apps.reports import tasks
    from apps.reports.models import (
        DeliveryRecipient,
        DeliveryStatus,
        ReportDelivery,
        ReportSchedule,
    )

    minute = timezone.now().replace(second=0, microsecond=0)
    ReportSchedule.unscoped.filter(pk__in=schedule_ids).update(next_due_at=minute)
    expected_messages = len(schedule_ids) * args.recipients
    deliveries = ReportDelivery.unscoped.filter(schedule_id__in=schedule_ids)
    tick_at = time.monotonic()
    tasks.schedules_tick.delay()  # what beat publishes every minute
    all_sent_s = None
    timeline = []
    while True:
        time.sleep(0.1)
        elapsed = time.monotonic() - tick_at
        statuses = dict(deliveries.values_list("status").annotate(n=Count("pk")).order_by())
        with sink.lock:
            received = len(sink.messages)
        sent = statuses.get(DeliveryStatus.SENT, 0)
        if not timeline or timeline[-1]["sent"] != sent or elapsed - timeline[-1]["s"] >= 10:
            timeline.append({"s": round(elapsed, 1), "deliveries": sum(statuses.values()),
                             "sent": sent, "messages": received})  # fmt: skip
            if len(timeline) % 10 == 1:
                print(f"  {timeline[-1]}", flush=True)
        if all_sent_s is None and sent == len(schedule_ids):
            all_sent_s = elapsed
        finished = sum(
            statuses.get(s, 0)
            for s in (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN)
        )
        if finished == len(schedule_ids) and received >= expected_messages:
            break
        if elapsed > args.timeout:
            print("  timed out", flush=True)
            break
    time.sleep(2.0)  # a duplicate would arrive now
    with sink.lock:
        messages = list(sink.messages)
    per_address = Counter(address for _at, rcpts, _subject in messages for address in rcpts)
    wanted = {f"reader-{i:03d}-{j}@example.com" for i in range(len(schedule_ids))
              for j in range(args.recipients)}  # fmt: skip
    span = deliveries.aggregate(first=Min("created_at"), last=Max("finished_at"))
    durations = [
        (finished - created).total_seconds()
        for created, finished in deliveries.values_list("created_at", "finished_at")
        if finished is not None
    ]
    return {
        "schedules": len(schedule_ids),
        "recipients_per_schedule": args.recipients,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "deliveries": deliveries.count(),
        "deliveries_by_status": dict(
            deliveries.values_list("status").annotate(n=Count("pk")).order_by()
        ),
        "messages_recorded_sent": DeliveryRecipient.unscoped.filter(
            delivery__in=deliveries, status=DeliveryStatus.SENT
        ).count(),
        "all_deliveries_sent_s": None if all_sent_s is None else round(all_sent_s, 1),
        "last_message_s": round(max(at for at, _, _ in messages) - tick_at, 1)
        if messages
        else None,
        "first_message_s": round(min(at for at, _, _ in messages) - tick_at, 1)
        if messages
        else None,
        "messages_received": len(messages),
        "addresses_twice": sorted(a for a, n in per_address.items() if n > 1),
        "addresses_missing": sorted(wanted - set(per_address)),
        "delivery_created_to_finished_median_s": round(statistics.median(durations), 1)
        if durations
        else None,
        "deliveries_span_s": round((span["last"] - span["first"]).total_seconds(), 1)
        if span["last"]
        else None,
        "timeline": timeline,
    }


def print_result(args: argparse.Namespace, result: dict[str, Any]) -> None:
    print()
    for key, value in result.items():
        if key != "timeline":
            print(f"  {key}: {value}")
    ok = (
        result["deliveries_by_status"] == {"sent": result["schedules"]}
        and not result["addresses_twice"]
        and not result["addresses_missing"]
    )
    print(f"Every delivery sent once, every message received once: {'yes' if ok else 'NO'}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"schedules_due-{stamp}.json"
    out.write_text(json.dumps({"when": stamp, "cores": os.cpu_count(), **result}, indent=2))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

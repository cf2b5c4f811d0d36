"""Benchmark: a respondent's 20-answer submission against a bare one-INSERT Django view.

Run from the repository root:

    .venv/bin/python bench/respondent_submit.py [--duration 20] [--connections 16] [--keep]

It creates a fresh PostgreSQL database, migrates it, seeds an organisation with the demo B2B
journey, its published questionnaire and a customer link (the project's own services), starts
gunicorn with the production settings (plus the bench's URL for the baseline view), and
measures both endpoints in the same run: the maximum rate (closed loop, N keep-alive
connections; submission and baseline alternate for --rounds rounds, so that a busy moment on
a shared machine hits both alike) and the latency at half the submission's maximum rate (open
loop, scheduled arrivals, latency counted from the scheduled time). The load generator runs
on the same machine and shares its cores with the server. Results go to stdout and
bench/results/*.json.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cx_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
BASELINE_PATH = "/bench/baseline/"
TARGET_ANSWERS = 20
WARMUP_SECONDS = 3.0


# --- environment and database -----------------------------------------------------------------


def server_env(database_url: str, redis_url: str, port: int, secret_key: str) -> dict[str, str]:
    """The production settings' environment, with limits raised so they do not shape the load."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(REPO),
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMAIL_URL": "console://",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "RESPONDENT_RATE_PER_ADDRESS": "1000000000",
        "RESPONDENT_RATE_PER_LINK": "1000000000",
        "RESPONDENT_MIN_SECONDS": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }


def recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"Refusing an odd database name: {name!r}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def redis_client(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(redis_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- seeding (in this process, through the project's own services) ---------------------------


def seed() -> dict[str, Any]:
    """An organisation, the demo journey with its published questionnaire, a customer link,
    and the answers of a ~20-answer submission (field name -> value)."""
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import User
    from apps.distribution.demo import demo_links_load
    from apps.journeys.demo import demo_journey_load
    from apps.organizations.services import organization_create
    from apps.responses.services import field_name
    from apps.surveys.models import Item, ItemKind
    from bench.baseline import TABLE_SQL

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL)
    owner = User.objects.create_user("bench-owner@example.com", secrets.token_urlsafe(16))
    organization = organization_create(name="Bench Oy", owner=owner, slug="bench")
    demo_journey_load(organization, owner)
    link = next(link for link in demo_links_load(organization) if link.name == "Customers (web)")
    items = list(
        Item.objects.for_organization(organization)
        .filter(version=link.questionnaire.published_version, audience=link.audience)
        .order_by("position", "id")
    )
    touchpoints = list(dict.fromkeys(i.touchpoint_id for i in items if i.touchpoint_id))

    def answers(used: int) -> list[tuple[str, str]]:
        chosen = set(touchpoints[:used])
        fields = []
        for item in items:
            if item.kind == ItemKind.SCREENING:
                fields.append((field_name(item), "yes" if item.touchpoint_id in chosen else "no"))
            elif item.touchpoint_id is not None and item.touchpoint_id not in chosen:
                continue
            elif item.kind == ItemKind.NPS:
                fields.append((field_name(item), "9"))
            elif item.kind in (ItemKind.COMMENT, ItemKind.TEXT):
                continue  # free text is optional; a typical respondent skips it
            elif item.scale_lo is not None:
                fields.append((field_name(item), "4"))
        return fields

    best = min(range(len(touchpoints) + 1), key=lambda n: abs(len(answers(n)) - TARGET_ANSWERS))
    return {
        "organization_id": organization.pk,
        "link_id": link.pk,
        "token": link.token,
        "version_id": link.questionnaire.published_version_id,
        "segment": dict(link.context),
        "language": link.questionnaire.published_version.languages[0],
        "answers": answers(best),
        "touchpoints_used": best,
        "touchpoints": len(touchpoints),
        "items": len(items),
    }


def make_body(spec: dict[str, Any]) -> bytes:
    """The step-2 POST of the form, with a fresh stamp (and so a fresh idempotency key).

    The stamp is signed exactly as apps.responses.views.respond signs it for the page, with
    the same SECRET_KEY, so no GET is needed per submission.
    """
    from django.core import signing

    from apps.responses.views import HONEYPOT, STAMP_SALT

    stamp = signing.dumps(
        {"l": spec["link_id"], "v": spec["version_id"], "k": uuid.uuid4().hex,
         "t": time.time() - 60, "s": spec["segment"]},
        salt=STAMP_SALT,
    )  # fmt: skip
    fields = [("stamp", stamp), ("lang", spec["language"]), ("step", "2"), (HONEYPOT, "")]
    return urlencode([*fields, *spec["answers"], ("action", "submit")]).encode()


# --- the load ----------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; a request lost on a reused connection the server closed
    (a worker recycled after max_requests) is sent once more, as browsers do."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.retries = 0

    def post(self, path: str, body: bytes) -> tuple[int, str]:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "cx-bench/1",
            "Accept-Language": "en",
        }
        for attempt in (1, 2):
            reused = self.conn.sock is not None
            try:
                self.conn.request("POST", path, body, headers)
                response = self.conn.getresponse()
                response.read()
                if response.will_close:
                    self.conn.close()
                return response.status, response.getheader("Location", "")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2 or not reused:
                    raise
                self.retries += 1
        raise AssertionError("unreachable")


def _expected(kind: str, status: int, location: str) -> bool:
    if kind == "submit":
        return status == 302 and "/thanks/" in location
    return status == 204


def _client_process(job: dict[str, Any]) -> dict[str, Any]:
    """One client process: threads over keep-alive connections, closed or open loop."""
    kind, path, spec, port = job["kind"], job["path"], job["spec"], job["port"]
    start, duration = job["start"], job["duration"]
    deadline = start + duration
    latencies: list[float] = []
    lags: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    counter = iter(range(10**9))
    retries = [0]

    def one(client: Client, scheduled: float | None) -> None:
        body = make_body(spec)
        begin = time.monotonic()
        try:
            status, location = client.post(path, body)
            outcome = "ok" if _expected(kind, status, location) else str(status)
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
            client.conn.close()
        end = time.monotonic()
        with lock:
            statuses[outcome] += 1
            if outcome == "ok":
                latencies.append(end - (begin if scheduled is None else scheduled))
            if scheduled is not None:
                lags.append(begin - scheduled)

    def closed_loop() -> None:
        client = Client(port)
        while time.monotonic() < start:
            time.sleep(0.001)
        while time.monotonic() < deadline:
            one(client, None)
        with lock:
            retries[0] += client.retries

    def open_loop() -> None:
        client = Client(port)
        rate, procs, index = job["rate"], job["procs"], job["index"]
        while True:
            with lock:
                n = next(counter)
            scheduled = start + (n * procs + index) / rate
            if scheduled >= deadline:
                break
            pause = scheduled - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            one(client, scheduled)
        with lock:
            retries[0] += client.retries

    target = closed_loop if job["mode"] == "closed" else open_loop
    threads = [threading.Thread(target=target) for _ in range(job["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "lags": lags, "statuses": dict(statuses),
            "retries": retries[0], "ended": time.monotonic()}  # fmt: skip


def run_phase(
    pool: Any, *, kind: str, mode: str, port: int, spec: dict[str, Any], duration: float,
    threads: int, procs: int, rate: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    path = f"/s/{spec['token']}/" if kind == "submit" else BASELINE_PATH
    start = time.monotonic() + 0.5
    per_proc = max(1, threads // procs)
    jobs = [
        {"kind": kind, "mode": mode, "path": path, "spec": spec, "port": port, "start": start,
         "duration": duration, "threads": per_proc, "rate": rate, "procs": procs, "index": i}
        for i in range(procs)
    ]  # fmt: skip
    parts = pool.map(_client_process, jobs)
    latencies = sorted(x for p in parts for x in p["latencies"])
    lags = sorted(x for p in parts for x in p["lags"])
    statuses: Counter[str] = Counter()
    for p in parts:
        statuses.update(p["statuses"])
    ok = statuses.pop("ok", 0)
    elapsed = max(p["ended"] for p in parts) - start if mode == "closed" else duration
    return {
        "endpoint": kind, "mode": mode, "connections": per_proc * procs,
        "offered_rate": round(rate, 1) if mode == "open" else None,
        "duration_s": round(elapsed, 2), "ok": ok, "errors": dict(statuses),
        "retries": sum(p["retries"] for p in parts),
        "throughput_rps": round(ok / elapsed, 1),
        "p50_ms": _ms(latencies, 0.50), "p95_ms": _ms(latencies, 0.95),
        "p99_ms": _ms(latencies, 0.99), "max_ms": _ms(latencies, 1.0),
        "client_lag_p99_ms": _ms(lags, 0.99) if lags else None,
    }  # fmt: skip


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q * len(values)) - 1))
    return round(values[index] * 1000, 1)


# --- the run -----------------------------------------------------------------------------------


def start_gunicorn(
    env: dict[str, str], workers: int, threads: int, max_requests: int | None, log: Path
) -> Any:
    command = [
        str(REPO / ".venv" / "bin" / "gunicorn"), "-c", str(REPO / "docker" / "gunicorn.conf.py"),
        "cxplatform.wsgi:application",
    ]  # fmt: skip
    if max_requests is not None:  # the command line overrides the config file
        command += ["--max-requests", str(max_requests)]
    env = {**os.environ, **env, "GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": str(threads)}
    handle = log.open("w")
    process = subprocess.Popen(  # noqa: S603 (our own fixed command)
        command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({process.returncode}); see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"gunicorn did not answer /healthz in 30 s; see {log}")


def stop_gunicorn(process: Any) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def db_counts(spec: dict[str, Any]) -> dict[str, int]:
    from django.db import connection

    from apps.responses.models import Answer, Response

    org = spec["organization_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_baseline")
        baseline_rows = int(cursor.fetchone()[0])
    counts = {
        "responses": Response.objects.for_organization(org).count(),
        "answers": Answer.objects.for_organization(org).count(),
        "baseline_rows": baseline_rows,
    }
    connection.close()
    return counts


def verify(port: int, spec: dict[str, Any]) -> int:
    """One submission must redirect to the thank-you page and store a response with its
    answers; sending the same form again must store nothing more. Returns the answer count."""
    client = Client(port)
    body = make_body(spec)
    status, location = client.post(f"/s/{spec['token']}/", body)
    thanks = f"/s/{spec['token']}/thanks/"
    if status != 302 or thanks not in location:
        raise SystemExit(f"Submission check failed: {status} {location!r}; expected 302 {thanks}")
    again = client.post(f"/s/{spec['token']}/", body)
    counts = db_counts(spec)
    if counts["responses"] != 1 or again[0] != 302:
        raise SystemExit(f"Idempotency check failed: {again}, {counts}")
    if counts["answers"] < TARGET_ANSWERS - 3:
        raise SystemExit(f"Only {counts['answers']} answers stored; expected ~{TARGET_ANSWERS}")
    status, _location = client.post(BASELINE_PATH, make_body(spec))
    if status != 204:
        raise SystemExit(f"Baseline check failed: {status}")
    return counts["answers"]


def table(rows: list[dict[str, Any]]) -> str:
    header = (f"{'phase':<34} {'conn':>4} {'offered':>8} {'ok':>6} {'err':>4} {'req/s':>7} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")  # fmt: skip
    lines = [header, "-" * len(header)]
    for row in rows:
        offered = f"{row['offered_rate']:.0f}/s" if row["offered_rate"] else "max"
        lines.append(
            f"{row['phase']:<34} {row['connections']:>4} {offered:>8} {row['ok']:>6} "
            f"{sum(row['errors'].values()):>4} {row['throughput_rps']:>7} "
            f"{row['p50_ms']!s:>7} {row['p95_ms']!s:>7} {row['p99_ms']!s:>7} {row['max_ms']!s:>7}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds per phase")
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="alternating rounds of the two maximum-rate phases (the best of each counts)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument(
        "--open-connections", type=int, default=64, help="connections the open loop may use"
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker")
    parser.add_argument(
        "--max-requests", type=int, default=None,
        help="gunicorn max_requests (default: the config's 20000 +-2000; 0 never recycles)",
    )  # fmt: skip
    parser.add_argument("--client-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis = redis_client(redis_url)
    if redis.dbsize():
        raise SystemExit(f"{redis_url} is not empty; set BENCH_REDIS_URL to an unused database.")
    port = free_port()
    env = server_env(database_url, redis_url, port, secrets.token_urlsafe(48))
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    try:
        run(args, database_url, env, port)
    finally:
        redis.flushdb()  # the queued (never processed) tasks and rate-limit counters of this run
        if not args.keep:
            drop_database(database_url)


def run(args: argparse.Namespace, database_url: str, env: dict[str, str], port: int) -> None:
    import django

    recreate_database(database_url)
    django.setup()
    from django.db import connection

    print(f"Seeding {urlsplit(database_url).path.lstrip('/')} ...", flush=True)
    spec = seed()
    connection.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    server = start_gunicorn(
        env, args.workers, args.threads, args.max_requests, RESULTS / f"gunicorn-{stamp}.log"
    )
    rows: list[dict[str, Any]] = []
    try:
        answers = verify(port, spec)
        print(f"Checked: a submission redirects to the thank-you page and stores {answers} "
              f"answers ({spec['touchpoints_used']} of {spec['touchpoints']} touchpoints used, "
              f"{len(spec['answers'])} fields); a resend stores nothing.", flush=True)  # fmt: skip
        pool = multiprocessing.get_context("fork").Pool(args.client_procs)
        common = {"port": port, "spec": spec, "procs": args.client_procs}
        warmups = {
            kind: run_phase(pool, kind=kind, mode="closed", duration=WARMUP_SECONDS,
                            threads=args.connections, **common)["ok"]
            for kind in ("submit", "baseline")
        }  # fmt: skip

        def phase(name: str, **kw: Any) -> dict[str, Any]:
            print(f"  {name} ...", flush=True)
            row = {"phase": name, **run_phase(pool, duration=args.duration, **common, **kw)}
            rows.append(row)
            return row

        maxima: dict[str, list[dict[str, Any]]] = {"submit": [], "baseline": []}
        for n in range(1, args.rounds + 1):
            for kind, label in (("submit", "submission"), ("baseline", "baseline")):
                maxima[kind].append(phase(f"{label}, max (closed loop) #{n}", kind=kind,
                                          mode="closed", threads=args.connections))  # fmt: skip
        submit_max = max(maxima["submit"], key=lambda row: row["throughput_rps"])
        baseline_max = max(maxima["baseline"], key=lambda row: row["throughput_rps"])
        half = submit_max["throughput_rps"] / 2
        open_submit = phase("submission @ 1/2 submission max", kind="submit", mode="open",
                            rate=half, threads=args.open_connections)  # fmt: skip
        phase("baseline @ 1/2 submission max", kind="baseline", mode="open", rate=half,
              threads=args.open_connections)  # fmt: skip
        phase("baseline @ 1/2 baseline max", kind="baseline", mode="open",
              rate=baseline_max["throughput_rps"] / 2, threads=args.open_connections)  # fmt: skip
        pool.close()
        pool.join()
    finally:
        stop_gunicorn(server)

    counts = db_counts(spec)
    submitted = 1 + warmups["submit"] + sum(r["ok"] for r in rows if r["endpoint"] == "submit")
    posted = 1 + warmups["baseline"] + sum(r["ok"] for r in rows if r["endpoint"] == "baseline")
    match = (submitted, posted) == (counts["responses"], counts["baseline_rows"])
    ratio = submit_max["throughput_rps"] / baseline_max["throughput_rps"]
    paired = sorted(
        s["throughput_rps"] / b["throughput_rps"]
        for s, b in zip(maxima["submit"], maxima["baseline"], strict=True)
    )
    verdict = {
        "throughput_ratio": round(ratio, 3),
        "round_ratios": [round(r, 3) for r in paired],
        "throughput_target_met": ratio >= 0.6,
        "p95_at_half_max_ms": open_submit["p95_ms"],
        "p95_target_met": open_submit["p95_ms"] is not None and open_submit["p95_ms"] <= 150,
    }
    print()
    print(table(rows))
    print()
    print(f"Submission max / baseline max (best of {args.rounds} rounds each) = {ratio:.0%} "
          f"(target >= 60%: {'met' if verdict['throughput_target_met'] else 'MISSED'}); "
          f"round by round {', '.join(f'{r:.0%}' for r in paired)}; submission p95 at half "
          f"its max = {open_submit['p95_ms']} ms (target <= 150 ms: "
          f"{'met' if verdict['p95_target_met'] else 'MISSED'}).")  # fmt: skip
    print(f"Database: {counts['responses']} responses, {counts['answers']} answers "
          f"({counts['answers'] / max(1, counts['responses']):.1f} per response), "
          f"{counts['baseline_rows']} baseline rows. Successful requests seen by the client "
          f"(incl. the check and warm-up): {submitted} submissions, {posted} baseline posts; "
          f"{'match' if match else 'MISMATCH'}.")  # fmt: skip
    result = {
        "when": stamp, "cores": os.cpu_count(), "args": vars(args), "seed": {
            k: v for k, v in spec.items() if k in ("items", "touchpoints", "touchpoints_used")
        }, "answers_per_submission": answers, "rows": rows, "warmups": warmups,
        "verdict": verdict, "db": counts, "db_matches_client": match,
    }  # fmt: skip
    out = RESULTS / f"respondent_submit-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

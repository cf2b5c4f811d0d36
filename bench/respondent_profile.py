"""Profile: CPU of one respondent submission against the baseline view, in one process.

Run from the repository root:

    .venv/bin/python bench/respondent_profile.py [--requests 300] [--rounds 5] [--profile]

The same set-up as respondent_submit.py (a fresh PostgreSQL database seeded through the
project's services, the production settings, Redis), but no HTTP server and no load: requests
go straight through Django's WSGI handler, one after another, so the CPU each costs can be
measured without the noise of a shared machine. Each round measures the submission and then
the baseline; the best round of each is printed, with the PostgreSQL backend's CPU per
request. `--profile` adds a cProfile of the submission (sorted by cumulative time) and keeps it
as bench/results/respondent_profile.prof.
"""

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.respondent_submit import (  # noqa: E402
    BASELINE_PATH,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    drop_database,
    make_body,
    recreate_database,
    redis_client,
    seed,
    server_env,
)

PORT = 8999


def wsgi_post(handler: Any, path: str, body: bytes) -> str:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(PORT), "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": f"127.0.0.1:{PORT}",
        "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
        "HTTP_USER_AGENT": "cx-bench/1", "HTTP_ACCEPT_LANGUAGE": "en",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
    }  # fmt: skip
    status: list[str] = []
    result = handler(environ, lambda s, headers, exc_info=None: status.append(s))
    b"".join(result)
    getattr(result, "close", lambda: None)()
    return status[0]


def postgres_cpu_ticks() -> int:
    """CPU ticks (user + system) of the PostgreSQL backends on the bench database, from /proc
    (the connection pool may hand out any of them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [row[0] for row in cursor.fetchall()]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also cProfile the submission")
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis = redis_client(redis_url)
    if redis.dbsize():
        raise SystemExit(f"{redis_url} is not empty; set BENCH_REDIS_URL to an unused database.")
    os.environ.update(server_env(database_url, redis_url, PORT, secrets.token_urlsafe(48)))
    recreate_database(database_url)
    try:
        run(args)
    finally:
        redis.flushdb()
        drop_database(database_url)


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    spec = seed()
    handler = WSGIHandler()
    paths = {"submission": f"/s/{spec['token']}/", "baseline": BASELINE_PATH}
    expected = {"submission": "302", "baseline": "204"}
    for name, path in paths.items():  # warm: caches, connections, the first published task
        for _ in range(30):
            status = wsgi_post(handler, path, make_body(spec))
            if not status.startswith(expected[name]):
                raise SystemExit(f"{name}: {status}")
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for name, path in paths.items():
            bodies = [make_body(spec) for _ in range(args.requests)]
            ticks, started = postgres_cpu_ticks(), time.process_time()
            for body in bodies:
                wsgi_post(handler, path, body)
            python_ms = 1000 * (time.process_time() - started) / len(bodies)
            postgres_ms = 10 * (postgres_cpu_ticks() - ticks) / len(bodies)  # 100 ticks/s
            if name not in best or python_ms < best[name][0]:
                best[name] = (python_ms, postgres_ms)
    for name, (python_ms, postgres_ms) in best.items():
        print(f"{name:<11} Python CPU {python_ms:5.2f} ms/request, PostgreSQL CPU "
              f"{postgres_ms:5.2f} ms/request (best of {args.rounds})")  # fmt: skip
    print(f"baseline / submission (Python CPU): {best['baseline'][0] / best['submission'][0]:.0%}")
    if args.profile:
        bodies = [make_body(spec) for _ in range(args.requests)]
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for body in bodies:
            wsgi_post(handler, paths["submission"], body)
        profiler.disable()
        out = REPO / "bench" / "results" / "respondent_profile.prof"
        out.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        print(f"Written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

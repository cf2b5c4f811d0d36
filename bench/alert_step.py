"""Benchmark: the alert step of one scoring batch alone, on the database a
`scoring_pipeline.py --keep` run left (BENCH_DATABASE_URL).

    .venv/bin/python bench/alert_step.py [--batch 5000] [--runs 3]

Takes the first `--batch` responses (the drain's first batch: customers and employees), and
times `alerts_raise_for_responses` on them with the journey's default rules (every rule on), each
`--runs` times: `default` as the pipeline calls it (on PostgreSQL: in the database), `python`
with `in_python=True` (SQLite's evaluation; `--modes default` alone also runs on code from
before `in_python` existed).
Every run is a transaction rolled back, after emptying the alerts (TRUNCATE, rolled back too),
so each one raises the batch's alerts into an empty table; the batch's settings are those of a
scoring batch (`_tune`). Prints wall time and the database backend's CPU time (from /proc).
"""

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scoring_pipeline import DEFAULT_DATABASE_URL, backend_cpu, settings_env  # noqa: E402


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="default,python")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.update(settings_env(database_url, "redis://127.0.0.1:6379/15"))
    import django

    django.setup()
    from django.db import connection, transaction

    from apps.alerts.models import Alert, AlertRuleSet
    from apps.alerts.services import alerts_raise_for_responses
    from apps.organizations.models import Organization
    from apps.responses.models import Response
    from apps.scoring.services import BATCH_WORK_MEM, _tune

    organization = Organization.objects.get(slug="bench")
    ids = list(
        Response.objects.for_organization(organization)
        .order_by("id")
        .values_list("id", flat=True)[: args.batch]
    )
    results: dict[str, list[tuple[float, float, int]]] = {
        mode: [] for mode in args.modes.split(",")
    }
    for _ in range(args.runs):
        for name in results:
            try:
                with transaction.atomic():
                    _tune(BATCH_WORK_MEM, synchronous_commit=False)
                    AlertRuleSet.objects.for_organization(organization).delete()
                    with connection.cursor() as cursor:
                        cursor.execute(f"TRUNCATE {Alert._meta.db_table} CASCADE")
                    cpu = backend_cpu()
                    started = time.perf_counter()
                    tripped = alerts_raise_for_responses(
                        organization_id=organization.pk,
                        response_ids=ids,
                        **({"in_python": True} if name == "python" else {}),
                    )
                    elapsed = time.perf_counter() - started
                    used = backend_cpu() - cpu
                    stored = Alert.objects.for_organization(organization).count()
                    assert stored == tripped, (stored, tripped)
                    results[name].append((elapsed, used, tripped))
                    raise Rollback
            except Rollback:
                pass
    for name, runs in results.items():
        walls = sorted(run[0] for run in runs)
        cpus = sorted(run[1] for run in runs)
        print(
            f"{name:8} {len(ids)} responses, {runs[0][2]} alerts: wall best {walls[0]:.3f} s "
            f"median {walls[len(walls) // 2]:.3f} s; backend CPU best {cpus[0]:.3f} s "
            f"median {cpus[len(cpus) // 2]:.3f} s"
        )
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()

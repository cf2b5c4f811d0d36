"""Benchmark: a campaign's invitations sent to a local SMTP sink, against a plain smtplib loop;
and a 100,000-row contact import.

Run from the repository root:

    .venv/bin/python bench/email_send.py [--recipients 10000] [--import-rows 100000]

Uses the database at BENCH_DATABASE_URL (default: a fresh SQLite file in /tmp; a PostgreSQL URL
is migrated in place, so give it a database of its own). The SMTP sink (aiosmtpd) runs in its
own process and only counts what it accepts, so client and server do not share one
interpreter.

Sending: the campaign is created and started through the project's services; then every batch
runs exactly as a worker runs it (`sending.batch_send`: one durable reservation per batch, then
per message one committed statement recording the previous message as sent and claiming this
one, its answer read between the envelope and the data), by `--workers` senders side by side
(threads, each with its own database and SMTP connections, one batch at a time, as a Celery
worker process does; the worker adds one message fetch per batch of 100). The baseline sends
the very same bytes (built by the same composer beforehand, so it pays nothing for building
them) with `smtplib.sendmail` over one connection. The per-organisation throttle is off for the
bench.
Results go to stdout and bench/results/email_send-<time>.json.
"""

import argparse
import json
import multiprocessing
import os
import queue
import smtplib
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def _sink(port: int, counter, ready) -> None:  # in its own process
    import asyncio

    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup_django(database_url: str, port: int) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "cxplatform.settings.test"
    os.environ["DATABASE_URL"] = database_url
    os.environ["TEST_EMAIL_URL"] = f"smtp://127.0.0.1:{port}/?timeout=10"
    os.environ["DISTRIBUTION_SEND_RATE"] = "0"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(recipients: int):
    from apps.accounts.models import User
    from apps.distribution import campaign_services, contact_services
    from apps.distribution.models import Contact
    from apps.journeys.demo import demo_journey_load
    from apps.organizations.models import Membership, Organization
    from apps.organizations.permissions import Principal
    from apps.surveys.models import Questionnaire

    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    user = User.objects.create_user(email=f"bench-{stamp}@example.com", password="x" * 20)
    organization = Organization.objects.create(name="Bench Oy", slug=f"bench-{stamp}")
    membership = Membership.objects.create(organization=organization, user=user, role="owner")
    actor = Principal.for_membership(membership)
    demo_journey_load(organization, user)
    questionnaire = Questionnaire.objects.for_organization(organization).get(status="published")
    contacts = contact_services.contact_list_create(
        organization=organization, actor=actor, name="Bench", audience="customer"
    )
    Contact.objects.bulk_create(
        [Contact(organization=organization, contact_list=contacts,
                 email=f"person{i:06}@example.com", name=f"Person {i}",
                 language="fi" if i % 2 else "en", attributes={"region": f"R{i % 5}"})
         for i in range(recipients)], batch_size=2000,
    )  # fmt: skip
    created = campaign_services.campaign_create(
        organization=organization, actor=actor, name="Bench", questionnaire=questionnaire,
        contact_list=contacts,
    )  # fmt: skip
    # Not the worker's start task: this process makes the invitations itself (bench_send).
    campaign_services._queue_start = lambda *args: None
    campaign_services.campaign_send(organization=organization, actor=actor, campaign=created)
    return organization, created, actor


def bench_send(recipients: int, counter, port: int, workers: int) -> dict:
    from django.conf import settings
    from django.core.mail.utils import DNS_NAME

    from apps.distribution import campaign_services, sending
    from apps.distribution.campaign_mail import Recipient
    from apps.distribution.models import SurveyInvitation

    organization, created, _actor = _seed(recipients)
    queued: list = []
    original = campaign_services.campaign_dispatch
    campaign_services.campaign_dispatch = lambda **kwargs: queued.append(kwargs) or 0
    try:
        campaign_services.campaign_start(organization=organization, campaign_id=created.pk)
    finally:
        campaign_services.campaign_dispatch = original
    ids = list(
        SurveyInvitation.objects.for_organization(organization)
        .filter(campaign=created).order_by("pk").values_list("pk", flat=True)
    )  # fmt: skip
    assert len(ids) == recipients
    size = settings.DISTRIBUTION_BATCH_SIZE

    # The baseline: the same messages, built beforehand, over one plain smtplib connection.
    composer = campaign_services.composer_for(created)
    rows = SurveyInvitation.objects.for_organization(organization).filter(campaign=created)
    messages = []
    for row in rows.order_by("pk").iterator():
        recipient = Recipient(
            invitation_id=row.pk, email=row.email, token=row.token, name=row.name,
            language=row.language, attributes=row.attributes,
        )  # fmt: skip
        messages.append(composer.raw(recipient))  # the very bytes the platform sends
    start_count = counter.value
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, local_hostname=DNS_NAME.get_fqdn()) as smtp:
        for sender, address, data in messages:
            smtp.sendmail(sender, [address], data)
    baseline_seconds = time.perf_counter() - started
    assert counter.value - start_count == recipients

    start_count = counter.value
    batches = queue.SimpleQueue()
    for batch_start in range(0, len(ids), size):
        batches.put(ids[batch_start : batch_start + size])

    def worker() -> None:  # one Celery worker process: one batch at a time, its own connections
        from django.db import connection

        try:
            while True:
                try:
                    batch = batches.get_nowait()
                except queue.Empty:
                    return
                sending.batch_send(organization=organization, campaign_id=created.pk,
                                   invitation_ids=batch, run_id=f"bench-{batch[0]}")  # fmt: skip
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    platform_seconds = time.perf_counter() - started
    sent = rows.filter(status="sent").count()
    assert sent == recipients and counter.value - start_count == recipients, (sent, counter.value)
    return {
        "recipients": recipients, "batch_size": size, "workers": workers,
        "platform_seconds": round(platform_seconds, 3),
        "platform_rate": round(recipients / platform_seconds, 1),
        "smtplib_seconds": round(baseline_seconds, 3),
        "smtplib_rate": round(recipients / baseline_seconds, 1),
        "ratio": round(baseline_seconds / platform_seconds, 3),
    }  # fmt: skip


def bench_import(rows: int) -> dict:
    import io

    import openpyxl

    from apps.distribution import contact_services
    from apps.distribution.models import Contact, ContactImport
    from apps.organizations.models import Membership, Organization
    from apps.organizations.permissions import Principal

    contact_services._queue_import = lambda *args: None  # run below, in this process
    organization = Organization.objects.order_by("-pk").first()
    membership = Membership.objects.for_organization(organization).first()
    actor = Principal.for_membership(membership)
    results = {}
    lines = ["Sähköposti;Nimi;Kieli;Segmentti;Alue"] + [
        f"asiakas{i:06}@example.com;Asiakas Äijälä {i};{'fi' if i % 3 else 'en'};"
        f"{'Yritys' if i % 2 else 'Kuluttaja'};Alue {i % 12}"
        for i in range(rows)
    ]
    csv_content = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for line in lines:
        sheet.append(line.split(";"))
    out = io.BytesIO()
    workbook.save(out)
    for kind, content, name in (("csv", csv_content, "big.csv"),
                                ("xlsx", out.getvalue(), "big.xlsx")):  # fmt: skip
        target = contact_services.contact_list_create(
            organization=organization, actor=actor, name=f"Import {kind}", audience="customer"
        )
        started = time.perf_counter()
        pending = contact_services.contact_import_upload(
            organization=organization, actor=actor, contact_list=target, file_name=name,
            content=content,
        )  # fmt: skip
        contact_services.contact_import_start(
            organization=organization, actor=actor, contact_import=pending,
            mapping=pending.mapping,
        )  # fmt: skip
        done = contact_services.contact_import_run(organization=organization, import_id=pending.pk)
        seconds = time.perf_counter() - started
        assert done is not None and done.created_rows == rows, done
        assert Contact.objects.for_organization(organization).filter(
            contact_list=target).count() == rows  # fmt: skip
        results[kind] = {"rows": rows, "bytes": len(content), "seconds": round(seconds, 2)}
        ContactImport.objects.for_organization(organization).filter(pk=pending.pk).delete()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 4],
        help="senders running batches side by side (worker processes)",
    )
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or (
        f"sqlite:///{tempfile.mkdtemp(prefix='cx-bench-')}/bench.sqlite3"
    )
    port = _free_port()
    counter = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=_sink, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)
    try:
        _setup_django(database_url, port)
        from django.db import connection

        result = {"database": connection.vendor, "when": datetime.now(UTC).isoformat(),
                  "send": [bench_send(args.recipients, counter, port, workers)
                           for workers in args.workers]}  # fmt: skip
        print(json.dumps(result["send"], indent=2))
        if args.import_rows:
            result["import"] = bench_import(args.import_rows)
            print(json.dumps(result["import"], indent=2))
    finally:
        sink.terminate()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"email_send-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()

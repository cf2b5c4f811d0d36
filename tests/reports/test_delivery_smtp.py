"""Deliveries through a real SMTP server (aiosmtpd, started by the test): the report arrives as
a PDF attachment, one message per recipient; a greylisting server gets the message later; a
worker killed by SIGKILL before the hand-off sends it on the next run, once."""

import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from aiosmtpd.controller import Controller

from apps.organizations.permissions import Principal
from apps.reports import delivery as delivery_module
from apps.reports import services
from apps.reports.models import DeliveryRecipient, DeliveryStatus, ReportDelivery
from tests.conftest import ROOT, WorkerProcess, wait_until
from tests.reports import report_data

RECIPIENTS = ["anna@example.com", "ben@example.com"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """Keeps every accepted message; may refuse a recipient with 451 the first time."""

    def __init__(self, greylist: set[str] | None = None) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.greylist = set(greylist or ())
        self.on_ehlo = None
        self.on_mail = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.on_mail is not None:
            self.on_mail()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if self.on_ehlo is not None:
            self.on_ehlo()
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.greylist:
            self.greylist.discard(address)
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    recorder.port = controller.port
    yield recorder
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": smtp_server.port, "timeout": 5},
        }
    }
    return settings


@pytest.fixture
def schedule(org, analyst, monkeypatch):
    journey, touchpoints = report_data.shape(org)
    monkeypatch.setattr(
        services,
        "_gap_report",
        lambda organization, journey_, report_filter, *, trend: report_data.gap_report(
            journey, touchpoints
        ),
    )
    return services.schedule_create(
        organization=org, actor=Principal(organization=org, role="analyst", user=analyst),
        journey=journey, frequency="monthly", day_of_month=31, hour=6, period="previous_month",
        language="fi", recipients=RECIPIENTS,
    )  # fmt: skip


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.django_db
def test_a_real_smtp_server_receives_the_report_with_the_pdf(
    org, smtp_settings, smtp_server, schedule
):
    delivery = services._new_delivery(schedule, schedule.next_due_at, "scheduled")
    outcome = delivery_module.delivery_run(organization=org, delivery_id=delivery.pk)
    assert outcome.status == DeliveryStatus.SENT
    assert sorted(rcpt[0] for rcpt, _raw in smtp_server.messages) == RECIPIENTS
    for rcpt, raw in smtp_server.messages:
        assert len(rcpt) == 1  # one message per recipient: unsubscribing is personal
        message = parsed(raw)
        assert message["To"] == rcpt[0]
        assert message["List-Unsubscribe"].strip().startswith("<http")
        assert "/r/unsubscribe/" in message["List-Unsubscribe"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        attachments = list(message.iter_attachments())
        assert len(attachments) == 1
        pdf = attachments[0]
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_filename().endswith(".pdf")
        assert pdf.get_content().startswith(b"%PDF-")
        text = message.get_body(("plain",)).get_content()
        assert "Staff rate" in text or "Henkilöstö" in text
    unsubscribe_headers = {parsed(raw)["List-Unsubscribe"] for _r, raw in smtp_server.messages}
    assert len(unsubscribe_headers) == 2


@pytest.mark.django_db
def test_a_greylisting_server_gets_the_message_on_the_retry(
    org, smtp_settings, smtp_server, schedule
):
    smtp_server.greylist = {"ben@example.com"}
    delivery = services._new_delivery(schedule, schedule.next_due_at, "scheduled")
    outcome = delivery_module.delivery_run(organization=org, delivery_id=delivery.pk)
    assert outcome.retry
    row = DeliveryRecipient.objects.for_organization(org).get(email="ben@example.com")
    assert row.status == DeliveryStatus.PENDING and "451" in row.error
    assert [rcpt for rcpt, _raw in smtp_server.messages] == [["anna@example.com"]]
    outcome = delivery_module.delivery_run(organization=org, delivery_id=delivery.pk)
    assert outcome.status == DeliveryStatus.SENT
    assert sorted(r[0] for r, _raw in smtp_server.messages) == RECIPIENTS


@pytest.mark.django_db
def test_a_server_that_is_down_leaves_everything_pending(org, settings, schedule):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }
    delivery = services._new_delivery(schedule, schedule.next_due_at, "scheduled")
    outcome = delivery_module.delivery_run(organization=org, delivery_id=delivery.pk)
    assert outcome.retry
    rows = DeliveryRecipient.objects.for_organization(org).filter(delivery=delivery)
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    assert all(r.attempts == 0 for r in rows)  # never marked: nothing was handed over


# --- a real worker, killed -------------------------------------------------------------------

WORKER_SETTINGS = "tests.reports.delivery_worker_settings"


class KilledWorkerRun:
    """A delivery, a real worker on its own queue, and the SMTP server killing it on cue."""

    def __init__(self, org, analyst, redis_url, celery_client, smtp_server, stale_seconds: int):
        from django.db import connection

        journey, _touchpoints = report_data.shape(org)
        schedule = services.schedule_create(
            organization=org, actor=Principal(organization=org, role="analyst", user=analyst),
            journey=journey, frequency="weekly", weekday=0, hour=8, period="last_7_days",
            language="en", recipients=RECIPIENTS,
        )  # fmt: skip
        self.org = org
        self.delivery = services._new_delivery(schedule, schedule.next_due_at, "scheduled")
        self.celery_client = celery_client
        self.smtp_server = smtp_server
        self.redis_url = redis_url
        self.queue = f"test-reports-{os.getpid()}-{time.monotonic_ns()}"
        self.extra_env = {
            "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
            "DATABASE_URL": _database_url(connection),
            "REPORTS_TEST_SMTP_PORT": str(smtp_server.port),
            "REPORTS_SENDING_STALE_SECONDS": str(stale_seconds),
        }

    def send_task(self) -> None:
        self.celery_client.send_task(
            "apps.reports.tasks.send_delivery",
            kwargs={"organization_id": self.org.pk, "delivery_id": self.delivery.pk},
            queue=self.queue,
        )

    def run_and_kill(self, hook: str) -> None:
        """Run the task in a worker that the SMTP server SIGKILLs at its first `hook`."""
        worker = WorkerProcess(self.redis_url, queue=self.queue, extra_env=self.extra_env)
        killed: list[int] = []

        def kill() -> None:
            if not killed and worker.proc is not None:
                killed.append(worker.proc.pid)
                os.kill(worker.proc.pid, signal.SIGKILL)
                worker.proc.wait(10)

        setattr(self.smtp_server, hook, kill)
        worker.start()
        try:
            self.send_task()
            assert wait_until(lambda: bool(killed), timeout=120), worker.log_path.read_text()[
                -3000:
            ]
        finally:
            setattr(self.smtp_server, hook, None)
            worker.stop()

    def run_to_the_end(self) -> ReportDelivery:
        """A new worker runs the task again (what the beat tick's requeue does)."""
        worker = WorkerProcess(self.redis_url, queue=self.queue, extra_env=self.extra_env)
        worker.start()
        try:
            self.send_task()

            def finished() -> bool:
                current = ReportDelivery.objects.for_organization(self.org).get(pk=self.delivery.pk)
                return current.finished_at is not None

            assert wait_until(finished, timeout=120), worker.log_path.read_text()[-3000:]
        finally:
            worker.stop()
        return ReportDelivery.objects.for_organization(self.org).get(pk=self.delivery.pk)

    def statuses(self) -> dict[str, str]:
        return dict(
            DeliveryRecipient.objects.for_organization(self.org)
            .filter(delivery=self.delivery)
            .values_list("email", "status")
        )


def real_worker(test):
    """PostgreSQL (the worker shares the test database), Redis and a real Celery worker."""
    for mark in (
        pytest.mark.postgres,
        pytest.mark.redis,
        pytest.mark.celery_worker,
        pytest.mark.django_db(transaction=True),
    ):
        test = mark(test)
    return test


@real_worker
def test_a_real_worker_killed_before_the_hand_off_retries_and_sends_once(
    org, analyst, redis_url, celery_client, smtp_server
):
    """SIGKILL as the worker greets the mail server (EHLO), after rendering, before marking
    anyone `sending`: a new worker sends each message exactly once."""
    run = KilledWorkerRun(org, analyst, redis_url, celery_client, smtp_server, stale_seconds=300)
    run.run_and_kill("on_ehlo")
    assert set(run.statuses().values()) == {DeliveryStatus.PENDING}
    assert smtp_server.messages == []
    delivery = run.run_to_the_end()
    assert delivery.status == DeliveryStatus.SENT
    assert sorted(r[0] for r, _raw in smtp_server.messages) == RECIPIENTS


@real_worker
def test_a_real_worker_killed_during_the_hand_off_leaves_it_uncertain(
    org, analyst, redis_url, celery_client, smtp_server
):
    """SIGKILL while the server has the first message (MAIL FROM): that one is `sending`; the
    next worker (once it counts as stale) marks it uncertain and sends only the other."""
    run = KilledWorkerRun(org, analyst, redis_url, celery_client, smtp_server, stale_seconds=0)
    run.run_and_kill("on_mail")
    states = run.statuses()
    assert sorted(states.values()) == [DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    (in_flight,) = [email for email, status in states.items() if status == DeliveryStatus.SENDING]
    delivery = run.run_to_the_end()
    assert delivery.status == DeliveryStatus.UNCERTAIN
    assert run.statuses()[in_flight] == DeliveryStatus.UNCERTAIN
    assert [r[0] for r, _raw in smtp_server.messages] == [e for e in RECIPIENTS if e != in_flight]


def _database_url(connection) -> str:
    settings_dict = connection.settings_dict
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def test_the_worker_settings_module_loads():
    result = subprocess.run(
        [sys.executable, "-c", "import tests.reports.delivery_worker_settings as s; "
         "print(s.MAILERS['default']['BACKEND'])"],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "REPORTS_TEST_SMTP_PORT": "2525"}, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"

"""A real Celery worker killed (SIGKILL) in the middle of a campaign, twice, and restarted.

The SMTP server holds its reply to each message for a moment (it keeps the message first), so a
kill lands while a message is being handed over. Afterwards every recipient has exactly one
invitation in the server, except messages marked uncertain (at most one per kill), which have
zero or one and are not sent again. The sweeper (beat's job, sent here by the test) finds what
the dead worker left.
"""

import time

import pytest
import redis
from django.conf import settings

from apps.distribution import campaign_services
from apps.distribution.models import Campaign, CampaignStatus, InvitationStatus, SurveyInvitation
from tests.conftest import WorkerProcess, wait_until
from tests.distribution.mail_fixtures import MESSAGES, SmtpServer, campaign, contact_list, send

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

RECIPIENTS = 90
KILLS = 2


def _database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}"
    )


def _worker(redis_url: str, smtp_url: str) -> WorkerProcess:
    return WorkerProcess(
        redis_url, queue="email",
        extra_env={
            "DATABASE_URL": _database_url(), "TEST_EMAIL_URL": smtp_url,
            "DISTRIBUTION_SEND_RATE": "0", "DISTRIBUTION_BATCH_SIZE": "15",
            "DISTRIBUTION_SENDING_STALE_SECONDS": "3", "DISTRIBUTION_REDISPATCH_SECONDS": "2",
            "SITE_URL": "http://testserver",
        },
    )  # fmt: skip


def test_a_worker_killed_mid_campaign_sends_nobody_twice_and_leaves_nobody_out(
    org, analyst, questionnaire, redis_url, celery_client, monkeypatch
):
    # Nothing left in the email queue from an earlier run (the test consumes it for real).
    redis.Redis.from_url(redis_url).delete("email", "unacked", "unacked_index")
    server = SmtpServer(delay=0.06)
    server.controller.start()
    worker = _worker(redis_url, server.url)
    try:
        people = [(f"r{i:03}@example.com", f"R{i}", "en", {"region": "N"})
                  for i in range(RECIPIENTS)]  # fmt: skip
        contacts = contact_list(org, analyst, people=people)
        created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
        # The test process runs tasks eagerly: the start goes to the real worker instead.
        monkeypatch.setattr(campaign_services, "_queue_start", lambda *args: None)
        send(org, analyst, created)
        worker.start()
        celery_client.send_task(
            "apps.distribution.tasks.start_campaign", queue="email",
            kwargs={"organization_id": org.pk, "campaign_id": created.pk},
        )  # fmt: skip
        for kill in range(KILLS):
            # Off the batch boundaries (batches of 15), so the kill lands inside a batch.
            target = (kill + 1) * RECIPIENTS // (KILLS + 1) + 7
            assert wait_until(lambda t=target: server.sink.count >= t, timeout=60), (
                f"the worker sent {server.sink.count} messages, see {worker.log_path}"
            )
            time.sleep(0.02 * (kill + 1))  # land somewhere inside a hand-off
            worker.proc.kill()  # SIGKILL: no cleanup, no acknowledgement
            worker.proc.wait()
            worker = _worker(redis_url, server.url)
            worker.start()

        def settled() -> bool:
            # Beat's job: the sweeper settles what the dead workers left and re-dispatches.
            celery_client.send_task("apps.distribution.tasks.sweep", queue="email")
            return Campaign.objects.for_organization(org).get(pk=created.pk).status == (
                CampaignStatus.SENT
            )

        assert wait_until(settled, timeout=90, interval=1.0), f"see {worker.log_path}"
    finally:
        worker.stop()
        server.controller.stop()

    rows = {
        row.email: row
        for row in SurveyInvitation.objects.for_organization(org).filter(campaign=created)
    }
    assert len(rows) == RECIPIENTS
    uncertain = [email for email, row in rows.items() if row.status == InvitationStatus.UNCERTAIN]
    assert len(uncertain) <= KILLS
    for email, row in rows.items():
        copies = len(server.sink.to(email))
        if row.status == InvitationStatus.UNCERTAIN:
            assert copies in (0, 1), email
        else:
            assert row.status == InvitationStatus.SENT, (email, row.status)
            assert copies == 1, (email, copies)
    assert server.sink.count == RECIPIENTS - sum(
        1 for email in uncertain if not server.sink.to(email)
    )
    print(f"\nkill test: {len(uncertain)} uncertain after {KILLS} kills: {uncertain}")

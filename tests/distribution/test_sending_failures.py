"""The sending state machine against a real SMTP server: refusals for now (retried with
backoff), for good (failed, suppressed as bounced), unknown outcomes (uncertain, never resent by
themselves), and a crash injected right after the server accepted a message."""

import datetime
import smtplib

import pytest
from django.utils import timezone

from apps.distribution import campaign_services, sending, tasks
from apps.distribution.models import (
    CampaignStatus,
    InvitationStatus,
    Suppression,
    SuppressionReason,
    SurveyInvitation,
)
from tests.distribution.mail_fixtures import MESSAGES, campaign, contact_list, send
from tests.factories import MembershipFactory
from tests.journeys.helpers import principal

pytestmark = pytest.mark.django_db

PEOPLE = [(f"p{i}@example.com", f"P{i}", "en", {"region": "North"}) for i in range(5)]


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.DISTRIBUTION_SEND_RATE = 0
    settings.SITE_URL = "http://testserver"


def rows(created):
    return SurveyInvitation.objects.for_organization(created.organization_id).filter(
        campaign=created
    )


def prepared(org, analyst, questionnaire, capture, people=PEOPLE):
    """A sending campaign with its invitations queued, no batch run yet."""
    contacts = contact_list(org, analyst, people=people)
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    with capture(execute=False):
        send(org, analyst, created)
        campaign_services.campaign_start(organization=org, campaign_id=created.pk)
    created.refresh_from_db()
    return created


def run(created, run_id="run-1"):
    ids = list(rows(created).order_by("pk").values_list("pk", flat=True))
    return sending.batch_send(
        organization=created.organization, campaign_id=created.pk, invitation_ids=ids,
        run_id=run_id,
    )  # fmt: skip


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no `except Exception` catches it."""


def test_a_crash_right_after_acceptance_leaves_one_uncertain_message_never_resent(
    smtp, monkeypatch, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    handed = []

    def crash_on_third(invitation_id):
        handed.append(invitation_id)
        if len(handed) == 3:
            raise Killed

    monkeypatch.setattr(sending, "_handed_off", crash_on_third)
    with pytest.raises(Killed):
        run(created)
    statuses = list(rows(created).order_by("pk").values_list("status", flat=True))
    assert statuses == ["sent", "sent", "sending", "queued", "queued"]
    assert smtp.sink.count == 3  # the third was accepted by the server

    monkeypatch.setattr(sending, "_handed_off", lambda invitation_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)  # the same batch delivered again (same run id)
    assert result.uncertain == 1 and result.sent == 2
    uncertain = rows(created).get(status=InvitationStatus.UNCERTAIN)
    assert uncertain.email == "p2@example.com"
    assert sorted(r.to for r in smtp.sink.received) == sorted(p[0] for p in PEOPLE)
    # Nothing sends it again by itself: not the sweeper, not another run, not reminders.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
        run(created, run_id="run-2")
    assert smtp.sink.count == 5
    created.refresh_from_db()
    assert created.status == CampaignStatus.SENT

    # An admin decides: send it again (explicitly) or count it as delivered.
    admin = MembershipFactory(organization=org, role="admin").user
    with django_capture_on_commit_callbacks(execute=True):
        campaign_services.invitation_resolve_uncertain(
            organization=org, actor=principal(org, admin), invitation=uncertain, resend=True
        )
    assert len(smtp.sink.to("p2@example.com")) == 2
    assert rows(created).get(pk=uncertain.pk).status == InvitationStatus.SENT


def test_an_analyst_cannot_settle_uncertain_deliveries(
    org, analyst, questionnaire, smtp, django_capture_on_commit_callbacks
):
    from apps.core.errors import PermissionDenied

    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    invitation = rows(created).first()
    rows(created).filter(pk=invitation.pk).update(status=InvitationStatus.UNCERTAIN)
    with pytest.raises(PermissionDenied):
        campaign_services.invitation_resolve_uncertain(
            organization=org, actor=principal(org, analyst), invitation=invitation, resend=False
        )


def test_another_runs_message_in_flight_is_left_alone_until_it_is_stale(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks, settings
):
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    first = rows(created).order_by("pk").first()
    rows(created).filter(pk=first.pk).update(
        status=InvitationStatus.SENDING, claimed_by="run-alive", claimed_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        run(created, run_id="run-2")
        tasks.sweep()
    assert rows(created).get(pk=first.pk).status == InvitationStatus.SENDING
    assert smtp.sink.count == 4
    rows(created).filter(pk=first.pk).update(
        claimed_at=timezone.now() - datetime.timedelta(seconds=601)
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    assert rows(created).get(pk=first.pk).status == InvitationStatus.UNCERTAIN
    assert smtp.sink.count == 4


def test_a_refusal_for_now_is_retried_with_backoff(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    smtp.sink.refuse["p1@example.com"] = "451 4.7.1 Greylisted, try again later"
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)
    assert result.sent == 4 and len(result.retry) == 1
    waiting = rows(created).get(email="p1@example.com")
    assert waiting.status == InvitationStatus.QUEUED and waiting.attempts == 1
    assert waiting.next_attempt_at > timezone.now() + datetime.timedelta(seconds=50)
    assert "451" in waiting.error
    # Not due yet: a run skips it.
    with django_capture_on_commit_callbacks(execute=True):
        run(created, run_id="run-early")
    assert not smtp.sink.to("p1@example.com")
    del smtp.sink.refuse["p1@example.com"]
    rows(created).filter(pk=waiting.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        run(created, run_id="run-retry")
    assert len(smtp.sink.to("p1@example.com")) == 1
    assert rows(created).get(pk=waiting.pk).status == InvitationStatus.SENT
    assert smtp.sink.count == 5


def test_retries_give_up_after_the_maximum(
    smtp, settings, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    settings.DISTRIBUTION_MAX_ATTEMPTS = 2
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks,
                       people=PEOPLE[:1])  # fmt: skip
    smtp.sink.refuse["p0@example.com"] = "452 4.2.2 Mailbox full"
    for attempt in range(2):
        rows(created).update(next_attempt_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            run(created, run_id=f"run-{attempt}")
    invitation = rows(created).get()
    assert invitation.status == InvitationStatus.FAILED
    assert "Gave up after 2 attempts" in invitation.error


def test_a_refusal_for_good_fails_and_suppresses_the_address(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    smtp.sink.refuse["p3@example.com"] = "550 5.1.1 No such user"
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)
    assert result.failed == 1 and result.sent == 4
    failed = rows(created).get(email="p3@example.com")
    assert failed.status == InvitationStatus.FAILED and "550" in failed.error
    bounce = Suppression.objects.for_organization(org).get(email="p3@example.com")
    assert bounce.reason == SuppressionReason.BOUNCED
    # The next campaign does not even try the address.
    second = campaign(org, analyst, questionnaire, created.contact_list, name="Again", **MESSAGES)
    smtp.sink.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, second)
    assert sorted(r.to for r in smtp.sink.received) == [f"p{i}@example.com" for i in (0, 1, 2, 4)]


def test_a_reply_lost_in_transit_is_uncertain(
    settings, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    """The server keeps the message but its reply never comes in time: maybe delivered."""
    from tests.distribution.mail_fixtures import SmtpServer

    server = SmtpServer(delay=1.5)
    server.controller.start()
    try:
        settings.MAILERS = {"default": {**server.mailer(), "OPTIONS": {
            "host": "127.0.0.1", "port": server.port, "timeout": 0.5}}}  # fmt: skip
        created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks,
                           people=PEOPLE[:2])  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            result = run(created)
        assert result.uncertain >= 1
        first = rows(created).order_by("pk").first()
        assert first.status == InvitationStatus.UNCERTAIN and "timed out" in first.error
        received_before = server.sink.count
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sweep()
            run(created, run_id="run-again")
        assert len(server.sink.to(first.email)) == 1
        assert server.sink.count >= received_before
    finally:
        server.controller.stop()


def test_an_unreachable_server_claims_nothing_and_retries_later(
    settings, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    from tests.distribution.mail_fixtures import free_port

    settings.MAILERS = {"default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 1}}}  # fmt: skip
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)
    assert len(result.retry) == 5
    assert set(rows(created).values_list("status", flat=True)) == {InvitationStatus.QUEUED}
    assert all(r.attempts == 1 and r.next_attempt_at for r in rows(created))


@pytest.mark.parametrize(
    ("exc", "data_started", "expected"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no")}), False, ("permanent", True, False)),
        (smtplib.SMTPRecipientsRefused({"a@x": (450, b"later")}), False,
         ("transient", False, False)),
        (smtplib.SMTPDataError(554, b"spam"), True, ("permanent", False, False)),
        (smtplib.SMTPSenderRefused(421, b"closing", "a@x"), False, ("transient", False, True)),
        (smtplib.SMTPServerDisconnected("gone"), False, ("transient", False, True)),
        (smtplib.SMTPServerDisconnected("gone"), True, ("uncertain", False, True)),
        (TimeoutError("timed out"), True, ("uncertain", False, True)),
        (ConnectionResetError("reset"), False, ("transient", False, True)),
        (ValueError("bad address"), False, ("permanent", False, False)),
        (RuntimeError("unknown backend failure"), None, ("uncertain", False, True)),
    ],
)  # fmt: skip
def test_failures_are_classified(exc, data_started, expected):
    assert sending.classify(exc, data_started) == expected


def test_addresses_and_names_beyond_ascii(
    smtp, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    from apps.distribution.models import Contact

    people = [
        ("ida@bücher.example", "Ida Äijälä", "fi", {"region": "Itä"}),
        ("plain@example.com", 'Smith, "Jo"', "en", {"region": "N"}),
    ]
    contacts = contact_list(org, analyst, people=people)
    # Stored before addresses were checked on the way in: SMTP cannot carry this one.
    Contact.objects.create(organization=org, contact_list=contacts, email="jörö@example.com",
                           attributes={"region": "Itä"})  # fmt: skip
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    with django_capture_on_commit_callbacks(execute=False):
        send(org, analyst, created)
        campaign_services.campaign_start(organization=org, campaign_id=created.pk)
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)
    assert (result.sent, result.failed) == (2, 1)
    assert "Cannot be sent" in rows(created).get(email="jörö@example.com").error
    (ida,) = smtp.sink.to("ida@xn--bcher-kva.example")
    assert ida.message["To"].addresses[0].display_name == "Ida Äijälä"
    assert ida.message["Subject"] == "Kerro miten meni" and "Hei Ida Äijälä," in ida.text
    assert ida.message["From"].addresses[0].display_name == "Acme Oy"
    (plain,) = smtp.sink.to("plain@example.com")
    assert plain.message["To"].addresses[0].display_name == 'Smith, "Jo"'


def test_an_opt_out_during_the_batch_gets_no_message_and_the_rest_go_out(
    smtp, monkeypatch, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    """The claim is read after the envelope went out: a row that is no longer this run's gets
    RSET instead of its data, and the server delivers nothing to it."""
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)
    second = rows(created).order_by("pk")[1]

    def opt_out_after_first(invitation_id):
        if invitation_id != second.pk:
            rows(created).filter(pk=second.pk).update(status=InvitationStatus.OPTED_OUT)

    monkeypatch.setattr(sending, "_handed_off", opt_out_after_first)
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)
    assert result.sent == 4 and result.skipped == 1
    assert not smtp.sink.to(second.email)
    assert sorted(r.to for r in smtp.sink.received) == sorted(
        p[0] for p in PEOPLE if p[0] != second.email
    )
    assert rows(created).get(pk=second.pk).status == InvitationStatus.OPTED_OUT
    assert rows(created).filter(status=InvitationStatus.SENT).count() == 4


def test_a_campaign_stopped_during_the_batch_sends_nothing_more(
    smtp, monkeypatch, org, analyst, questionnaire, django_capture_on_commit_callbacks
):
    created = prepared(org, analyst, questionnaire, django_capture_on_commit_callbacks)

    def stop_after_second(invitation_id):
        if smtp.sink.count == 2:
            campaign_services.campaign_stop(
                organization=org, actor=principal(org, analyst), campaign=created
            )

    monkeypatch.setattr(sending, "_handed_off", stop_after_second)
    with django_capture_on_commit_callbacks(execute=True):
        result = run(created)
    assert result.sent == 2 and smtp.sink.count == 2
    statuses = list(rows(created).order_by("pk").values_list("status", "claimed_by"))
    assert [s for s, _c in statuses[:2]] == [InvitationStatus.SENT] * 2
    # Nothing is left in flight or reserved: the rest is queued for nobody.
    assert statuses[2:] == [(InvitationStatus.QUEUED, "")] * 3

"""A real SMTP server for the email tests (aiosmtpd on a free local port), and builders for
contact lists and campaigns."""

import asyncio
import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from apps.distribution import campaign_services, contact_services
from apps.distribution.models import Contact
from tests.journeys.helpers import principal


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage
    at: float

    @property
    def to(self) -> str:
        return self.envelope_to[0]

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    @property
    def survey_path(self) -> str:
        match = re.search(r"https?://[^/\s]+(/s/[^/\s]+/)\?lang=(\w+)", self.text)
        assert match, self.text
        return match.group(1)

    @property
    def survey_token(self) -> str:
        return self.survey_path.split("/")[2]


class SmtpSink:
    """Keeps every message it accepts. `refuse` maps an address to an SMTP reply for its RCPT;
    `delay` holds the reply to DATA (the message is kept first: accepted, reply on its way)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.refuse: dict[str, str] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message, time.time()))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if address in r.envelope_to]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.received)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.sink = SmtpSink(delay)
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/?timeout=5"

    def mailer(self) -> dict:
        return {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 5},
        }


@pytest.fixture
def smtp(settings) -> Iterator[SmtpServer]:
    """A running SMTP server that the default mailer sends to."""
    server = SmtpServer()
    server.controller.start()
    settings.MAILERS = {"default": server.mailer()}
    try:
        yield server
    finally:
        server.controller.stop()


# --- builders -------------------------------------------------------------------------------


def contact_list(org, user, audience="customer", people=(), name="Customers"):
    actor = principal(org, user)
    created = contact_services.contact_list_create(
        organization=org, actor=actor, name=name, audience=audience
    )
    for person in people:
        email_address, *rest = person if isinstance(person, tuple) else (person,)
        person_name = rest[0] if len(rest) > 0 else ""
        language = rest[1] if len(rest) > 1 else ""
        attributes = rest[2] if len(rest) > 2 else {}
        contact_services.contact_create(
            organization=org, actor=actor, contact_list=created, email=email_address,
            name=person_name, language=language, attributes=attributes,
        )  # fmt: skip
    created.refresh_from_db()
    return created


def campaign(org, user, questionnaire, contacts, **kwargs):
    kwargs.setdefault("name", "Spring survey")
    return campaign_services.campaign_create(
        organization=org, actor=principal(org, user), questionnaire=questionnaire,
        contact_list=contacts, **kwargs,
    )  # fmt: skip


def send(org, user, created, **kwargs):
    return campaign_services.campaign_send(
        organization=org, actor=principal(org, user), campaign=created, **kwargs
    )


def contacts_of(contact_list_obj):
    return Contact.objects.for_organization(contact_list_obj.organization_id).filter(
        contact_list=contact_list_obj
    )


MESSAGES = {
    "subjects": {"en": "Tell {{ organization }} how it went", "fi": "Kerro miten meni"},
    "bodies": {
        "en": "Hello {{ name }} from {{ region }},\n\nAnswer here: {{ link }}\n\nThanks!",
        "fi": "Hei {{ name }},\n\nVastaa tästä: {{ link }}\n\nKiitos!",
    },
}

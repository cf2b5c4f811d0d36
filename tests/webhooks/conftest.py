"""A real HTTP receiver on 127.0.0.1 (http.server in a thread) and webhook endpoints for tests.

def test_x(receiver, make_endpoint):
    receiver.answer(500)              # every request from now on gets a 500
    receiver.answer(200, delay=2)     # ...or waits 2 s before its 200
    endpoint, secret = make_endpoint(events=["response.submitted"])
    receiver.requests                 # what arrived: method, path, headers, body
"""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.webhooks import services
from tests.journeys.helpers import principal


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[Answer] = []  # consumed in order; the last one repeats
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received("POST", self.path, dict(self.headers.items()), body)
                    )
                    answer = (
                        receiver.answers.pop(0)
                        if len(receiver.answers) > 1
                        else (receiver.answers[0] if receiver.answers else Answer())
                    )
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/cx"

    def answer(self, *answers: "int | Answer", delay: float = 0.0, body: bytes = b"ok") -> None:
        self.answers = [
            a if isinstance(a, Answer) else Answer(status=a, delay=delay, body=body)
            for a in answers
        ]


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def make_endpoint(org, admin):
    def make(
        url=None, events=("response.submitted", "alert.created", "report.delivered"), **kwargs
    ):
        return services.webhook_endpoint_create(
            organization=org, actor=principal(org, admin), url=url or "http://127.0.0.1:9/x",
            events=list(events), **kwargs,
        )  # fmt: skip

    return make


# Responses are stored with the scoring tests' fixtures (a published paired questionnaire).
from tests.scoring.conftest import (  # noqa: E402, F401 - fixtures
    _fresh_cache,
    response_store,
    scoring_journey,
    scoring_questionnaire,
)

"""Posting one webhook over HTTP(S) to an address already checked by the guard.

The connection goes to `Target.address`, never to a fresh DNS answer; TLS still verifies the
certificate against the URL's host name. Redirects are not followed (a 3xx is a failure). The
timeout bounds every socket operation and the whole exchange: a receiver that trickles its
answer a byte at a time is cut off at the deadline too. Only the start of the body is read.
"""

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from .guard import Target

RESPONSE_BODY_LIMIT = 1000  # characters of the receiver's answer kept in the log
_READ_LIMIT = 4096


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    duration_ms: int
    response_body: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout)
    else:
        connection = _PinnedHTTPConnection(target, timeout)
    started = time.monotonic()
    cut_off = threading.Event()

    def cut() -> None:
        # Ends a slow exchange at the deadline: a blocked read returns at once.
        cut_off.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(_READ_LIMIT)
        status = response.status
        location = response.getheader("Location") or ""
    except TimeoutError:
        return PostResult(None, elapsed(), error=f"Timed out after {timeout:g} s.")
    except ssl.SSLError as exc:
        if cut_off.is_set():
            return PostResult(None, elapsed(), error=f"Timed out after {timeout:g} s.")
        return PostResult(None, elapsed(), error=f"TLS error: {exc}"[:500])
    except (OSError, http.client.HTTPException) as exc:
        if cut_off.is_set():
            return PostResult(None, elapsed(), error=f"Timed out after {timeout:g} s.")
        return PostResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        watchdog.cancel()
        connection.close()
    if cut_off.is_set():
        return PostResult(None, elapsed(), error=f"Timed out after {timeout:g} s.")
    text = raw.decode("utf-8", errors="replace")[:RESPONSE_BODY_LIMIT]
    error = ""
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed ({location[:200]})."
    elif not 200 <= status < 300:
        error = f"HTTP {status}."
    return PostResult(status, elapsed(), text, error)

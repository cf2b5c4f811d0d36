"""`make run`'s runtime: web, worker and beat on SQLite with a file broker, no services at all."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_runlocal_serves_pages_and_processes_tasks_without_services(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
    }
    env.update(DJANGO_SETTINGS_MODULE="cxplatform.settings.local", VAR_DIR=str(tmp_path))
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runlocal", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _get(f"{base}/healthz")[0] == 200, timeout=60), (
            tmp_path / "run.log"
        ).read_text()
        status, body = _get(f"{base}/")
        assert status == 200 and "CX Platform" in body
        status, body = _get(f"{base}/accounts/login/")
        assert status == 200 and 'name="password"' in body
        assert _get(f"{base}/readyz")[0] == 200
        assert (tmp_path / "db.sqlite3").exists()

        # The banner names the URL and the demo login.
        assert wait_until(lambda: "Demo logins" in (tmp_path / "run.log").read_text(), 10)
        banner = (tmp_path / "run.log").read_text()
        assert f"{base}/" in banner and "owner@demo.example" in banner

        # A task sent through the file broker is executed by the running worker.
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup();from apps.core.tasks import ping; ping.delay()",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr
        assert wait_until(
            lambda: (
                "apps.core.tasks.ping" in (tmp_path / "run.log").read_text()
                and "succeeded" in (tmp_path / "run.log").read_text()
            ),
            timeout=30,
        ), (tmp_path / "run.log").read_text()
    finally:
        # Ctrl-C reaches the whole foreground process group; do the same.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    text = (tmp_path / "run.log").read_text()
    assert "Stopped web, worker and beat." in text
    time.sleep(0.5)
    leftovers = subprocess.run(
        ["pgrep", "-f", f"runserver 127.0.0.1:{port}"], capture_output=True, text=True
    )
    assert leftovers.stdout.strip() == ""

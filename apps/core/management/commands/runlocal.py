"""Run the whole platform on one machine with no services: web server, Celery worker and beat.

Used by `make run`. Ctrl-C (or SIGTERM) stops every process; if one dies, the others are stopped.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.core.demo import DEMO_LOGINS


class Command(BaseCommand):
    help = "Migrate, load the demo data once, then run web + worker + beat until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default=os.environ.get("RUN_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="Skip loading the demo data.")

    def handle(self, *args: Any, **options: Any) -> None:
        addr: str = options["addr"]
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_demo"]:
            call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115

        python = sys.executable
        queues = ",".join(settings.CELERY_TASK_QUEUES_ALL)
        commands = {
            "web": [python, "manage.py", "runserver", addr],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "cxplatform",
                "worker",
                "-l",
                "INFO",
                "-Q",
                queues,
                "--concurrency",
                "2",
                "-n",
                "local@%h",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "cxplatform",
                "beat",
                "-l",
                "INFO",
                "-s",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        # Each child leads its own process group, so stopping it also stops what it spawned
        # (runserver's autoreloader child, the worker's pool processes).
        processes = {
            name: subprocess.Popen(cmd, start_new_session=True)  # noqa: S603
            for name, cmd in commands.items()
        }

        # A server bound to every interface is still reached locally through localhost.
        host = addr.replace("0.0.0.0", "localhost", 1)  # noqa: S104
        self._wait_until_serving(f"http://{host}/healthz", processes["web"])
        lines = [
            "",
            "CX Platform is running (web, Celery worker and beat; SQLite; no services needed).",
            f"  Open:   http://{host}/",
            f"  Admin:  http://{host}/admin/",
            f"  API:    http://{host}/api/docs/",
            f"  Emails are written to {getattr(settings, 'MAIL_FOLDER', 'the console')}/",
            "  Demo logins:",
            *[f"    {login.email} / {login.password}  ({login.role})" for login in DEMO_LOGINS],
            "  Press Ctrl-C to stop everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))

        stopping = False

        def _stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        exit_code = 0
        try:
            while not stopping:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping.")
                        exit_code = proc.returncode or 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            self._terminate(processes)
        if exit_code:
            sys.exit(exit_code)

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def _wait_until_serving(self, url: str, web: subprocess.Popen, timeout: float = 30) -> None:
        """Print the banner after the start-up noise, once the web server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and web.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own local URL
                    return
            except OSError:
                time.sleep(0.3)

    def _terminate(self, processes: dict[str, subprocess.Popen]) -> None:
        # The main processes shut down their own children gracefully (Celery's warm shutdown).
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()
            self._signal_group(proc, signal.SIGKILL)  # anything the child left behind
        self.stdout.write("Stopped web, worker and beat.")

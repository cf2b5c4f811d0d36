"""Shared fixtures and the rule that tests needing real services never silently skip under CI."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", "")


def _redis_available() -> tuple[bool, str]:
    url = _redis_url()
    if not url:
        return False, "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return False, f"Redis at REDIS_URL does not answer: {exc}"
    return True, ""


def _postgres_available() -> tuple[bool, str]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return False, "DATABASE_URL does not point at PostgreSQL"
    return True, ""


def _browser_available() -> tuple[bool, str]:
    if not Path("/usr/bin/chromium").exists():
        return False, "Debian's Chromium is not installed (/usr/bin/chromium)"
    if not (ROOT / "node_modules/axe-core/axe.min.js").exists():
        return False, "axe-core is not installed (npm ci)"
    return True, ""


_REQUIREMENTS = {
    "browser": _browser_available,
    "postgres": _postgres_available,
    "redis": _redis_available,
    "celery_worker": _redis_available,
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, check in _REQUIREMENTS.items():
        if item.get_closest_marker(marker) is None:
            continue
        ok, why = check()
        if ok:
            continue
        if IN_CI:
            pytest.fail(f"[{marker}] required under CI, but {why}", pytrace=False)
        pytest.skip(f"[{marker}] {why}")


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Per-process caches keyed by ids must not outlive a test: rolled-back ids are reused."""
    from apps.responses import ratelimit
    from apps.responses import services as response_services
    from apps.responses.selectors import respondent_items_cache_clear

    respondent_items_cache_clear()
    response_services._QUEUED_AT.clear()
    ratelimit.counts_forget()
    yield
    respondent_items_cache_clear()
    response_services._QUEUED_AT.clear()
    ratelimit.counts_forget()


@pytest.fixture(autouse=True)
def _default_language():
    """A request in Finnish leaves Finnish active in the thread: later tests would read it."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def user(db):
    return UserFactory()


# The usual cast (STYLE.md): one organisation with a member of every role, and a stranger who
# belongs to another organisation.
@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme Oy", slug="acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Rival Ltd", slug="rival")


def _member(organization, role):
    return MembershipFactory(organization=organization, role=role).user


@pytest.fixture
def owner(org):
    return _member(org, "owner")


@pytest.fixture
def admin(org):
    return _member(org, "admin")


@pytest.fixture
def analyst(org):
    return _member(org, "analyst")


@pytest.fixture
def viewer(org):
    return _member(org, "viewer")


@pytest.fixture
def stranger(other_org):
    """An owner of another organisation: must see nothing of `org`."""
    return _member(other_org, "owner")


def _logged_in_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _api_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _logged_in_client(owner)


@pytest.fixture
def admin_client_(admin):
    return _logged_in_client(admin)


@pytest.fixture
def viewer_client(viewer):
    return _logged_in_client(viewer)


@pytest.fixture
def stranger_client(stranger):
    return _logged_in_client(stranger)


@pytest.fixture
def owner_api(owner):
    return _api_client(owner)


@pytest.fixture
def admin_api(admin):
    return _api_client(admin)


@pytest.fixture
def analyst_api(analyst):
    return _api_client(analyst)


@pytest.fixture
def viewer_api(viewer):
    return _api_client(viewer)


@pytest.fixture
def stranger_api(stranger):
    return _api_client(stranger)


@pytest.fixture
def redis_url() -> str:
    return _redis_url()


class WorkerProcess:
    """A real `celery worker` subprocess consuming its own queue on Redis."""

    def __init__(self, broker_url: str, queue: str, extra_env: dict[str, str] | None = None):
        self.broker_url = broker_url
        self.queue = queue
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "tests" / "artifacts" / f"worker-{queue}.log"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cxplatform.settings.test",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_RESULT_BACKEND": self.broker_url,
            **self.extra_env,
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cxplatform",
            "worker",
            "-l",
            "INFO",
            "-Q",
            self.queue,
            "--pool",
            "solo",
            "-n",
            f"{self.queue}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def celery_worker_process(redis_url: str) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(redis_url, queue=f"test-{uuid.uuid4().hex[:12]}")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_client(redis_url: str) -> Iterator[Celery]:
    """A producer talking to the same Redis as the worker (the test process itself runs eager)."""
    # Not the current app: the project's shared tasks (eager in tests) must keep resolving to
    # the project's app in later tests, not to this client.
    client = Celery("test-client", broker=redis_url, backend=redis_url, set_as_current=False)
    client.conf.task_serializer = "json"
    client.conf.accept_content = ["json"]
    yield client
    client.close()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()

"""The production image and compose file say what the README promises (no Docker engine here)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def test_compose_runs_the_whole_stack():
    services = COMPOSE["services"]
    assert {"db", "redis", "mailpit", "migrate", "web", "worker", "beat"} <= set(services)
    app_services = ["migrate", "web", "worker", "beat"]
    assert {services[name]["image"] for name in app_services} == {"cxplatform:latest"}
    for name in app_services:
        env = services[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "cxplatform.settings.production"
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["EMAIL_URL"] == "smtp://mailpit:1025"
        assert "user" not in services[name], "the image's non-root user must not be overridden"
    worker_queues = services["worker"]["command"][services["worker"]["command"].index("-Q") + 1]
    assert set(worker_queues.split(",")) == {"default", "ingest", "email", "reports"}
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_image_is_multi_stage_non_root_and_serves_with_gunicorn():
    stages = re.findall(r"^FROM .+ AS (\w+)$", DOCKERFILE, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert re.search(r"^USER cx:cx$", runtime, flags=re.MULTILINE)
    assert "uv sync --frozen --no-dev" in DOCKERFILE
    assert "collectstatic" in DOCKERFILE
    assert '"gunicorn", "--config", "docker/gunicorn.conf.py"' in runtime
    assert (ROOT / "docker" / "gunicorn.conf.py").exists()


def test_compose_runs_the_app_as_the_runtime_role_and_migrates_as_the_owner():
    services = COMPOSE["services"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://cx_app:")
        assert "MIGRATE_DATABASE_URL" not in env, "only migrate holds the owner's password"
    migrate = services["migrate"]
    assert migrate["environment"]["MIGRATE_DATABASE_URL"].startswith("postgres://cx:")
    assert "manage.py migrate" in migrate["command"][-1]
    assert "manage.py db_roles" in migrate["command"][-1]

"""Embedded default for a fresh machine: SQLite, a file-system Celery broker, email to a folder."""

import secrets

from cxplatform.env import mailer_from_url

from .base import *  # noqa: F403
from .base import VAR_DIR, env

VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])


def _local_secret_key() -> str:
    """A per-checkout key kept in var/, so sessions survive restarts without a committed secret."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY", default="") or _local_secret_key()

# Celery without a server: the worker and beat exchange messages through files in var/broker.
_broker_dir = VAR_DIR / "broker"
for _sub in ("queue", "processed", "control"):
    (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.5,
    }

# Every email the platform sends lands as a file in var/mail unless EMAIL_URL says otherwise.
MAIL_FOLDER = str(VAR_DIR / "mail")
MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default=f"file://{MAIL_FOLDER}"))}

# The embedded default may post webhooks to a receiver on this machine.
WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_BLOCK_PRIVATE_ADDRESSES", default=False)

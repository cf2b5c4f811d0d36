"""Settings for the real Celery worker of tests/reports/test_delivery_smtp.py: the test
settings, with mail going to the SMTP server the test started (its port in the environment)."""

import os

from cxplatform.settings.test import *  # noqa: F403

MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": "127.0.0.1",
            "port": int(os.environ.get("REPORTS_TEST_SMTP_PORT", "25")),
            "timeout": 5,
        },
    }
}

# How long a message may stay `sending` before a run counts it as left by a dead worker.
REPORTS_SENDING_STALE_SECONDS = int(os.environ.get("REPORTS_SENDING_STALE_SECONDS", "300"))

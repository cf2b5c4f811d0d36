"""Test settings: fast hashing, in-memory email, eager Celery unless a real worker is asked for.

DATABASE_URL and REDIS_URL, when set, point the suite at real PostgreSQL and Redis.
"""

from cxplatform.env import mailer_from_url

from .base import *  # noqa: F403
from .base import VAR_DIR, env

# A fresh clone has no var/ yet; checks that open the default SQLite file need it.
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = "test-secret-key-not-for-production-" + "x" * 20
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In memory; a real worker process started by a test is pointed at its SMTP server with
# TEST_EMAIL_URL (not EMAIL_URL: a developer's real mail settings must never be used here).
MAILERS = {"default": mailer_from_url(env("TEST_EMAIL_URL", default="locmem://"))}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Unit tests run tasks in-process; integration tests start a real worker against Redis.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True

LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Serve static files from the finders: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Tests post webhooks to a server on 127.0.0.1; the guard's own tests turn it on.
WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = False
WEBHOOKS_HTTPS_ONLY = False
WEBHOOKS_TIMEOUT_SECONDS = 1.0

"""Production: PostgreSQL, Redis broker and cache, hardened transport, JSON logs.

Every secret and address comes from the environment; a missing required value stops start-up.
"""

from cxplatform.env import mailer_from_url

from .base import *  # noqa: F403
from .base import DATABASES, LOGGING, REDIS_URL, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
if len(SECRET_KEY) < 50 or SECRET_KEY.lower().startswith(("change-me", "changeme")):
    # Sessions, email confirmation links and survey form stamps are signed with it.
    raise RuntimeError("SECRET_KEY must be at least 50 random characters, not a placeholder.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Emails sent from workers link here; a wrong default would mail people dead links.
SITE_URL = env("SITE_URL")
if not REDIS_URL:
    raise RuntimeError("REDIS_URL must be set in production (Celery broker and cache).")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("DATABASE_URL must point at PostgreSQL in production.")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL),
    }
}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"

LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="json")

MAILERS = {"default": mailer_from_url(env("EMAIL_URL"))}

# Webhook receivers must be public HTTPS addresses: no requests into the private network.
WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = True
WEBHOOKS_HTTPS_ONLY = True

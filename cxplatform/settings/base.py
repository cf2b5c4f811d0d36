"""Settings shared by every environment; what differs per deployment comes from the environment."""

import os
from pathlib import Path
from typing import Any

import environ
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from cxplatform.env import mailer_from_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "apps.core",
    "apps.accounts",
    "apps.organizations",
    "apps.audit",
    "apps.journeys",
    "apps.surveys",
    "apps.distribution",
    "apps.responses",
    "apps.scoring",
    "apps.reports",
    "apps.actions",
    "apps.webhooks",
    "apps.alerts",
    "apps.privacy",
]

MIDDLEWARE = [
    "apps.core.middleware.TrustedProxyMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Session, auth and messages step over the public respondent pages (/s/...), which have no
    # account or session: see apps/responses/middleware.py (subclasses of Django's own).
    "apps.responses.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.responses.middleware.AuthenticationMiddleware",
    "apps.responses.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "cxplatform.urls"
WSGI_APPLICATION = "cxplatform.wsgi.application"
ASGI_APPLICATION = "cxplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://... in production, sqlite:///... for the embedded default).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool: each web/worker process keeps a few warm connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=10),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
    # Prepared statements: psycopg prepares a statement on a connection after this many runs
    # of it. Django's own cursors bind values on the client and are never prepared, so this
    # only concerns cursors with server-side binding (the respondent write; see
    # apps/responses/services.py). The pool is in-process: no external pooler to confuse.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = env.int(
        "DATABASE_PREPARE_THRESHOLD", default=2
    )
# Row-level security (apps/core/rls.py): the runtime role the web and workers connect as
# (DATABASE_URL). It owns no table and cannot bypass RLS; `migrate` and `db_roles` connect as the
# owner instead (MIGRATE_DATABASE_URL, swapped in by manage.py), which grants this role. Named
# by the runtime URL when manage.py swapped it, else DATABASE_APP_ROLE.
_runtime_url = env.str("RUNTIME_DATABASE_URL", default="")
DATABASE_APP_ROLE = env.str(
    "DATABASE_APP_ROLE",
    default=(environ.Env.db_url_config(_runtime_url).get("USER") if _runtime_url else "")
    or "cx_app",
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "organizations:choose"

# django-allauth: email is the login; verification is mandatory for new accounts.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_FORMS = {"signup": "apps.accounts.forms.SignupForm"}
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[CX Platform] "
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_RATE_LIMITS = {
    # allauth's defaults, stated so they are visible and reviewed here.
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
# Two-factor authentication: an authenticator app (TOTP) with single-use recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "CX Platform"

# Internationalisation: English and Finnish from day one.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fi", _("Finnish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Email: EMAIL_URL (smtp://user:pass@host:587/?tls=1, file:///folder, console://), see env.py.
MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default="console://"))}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="CX Platform <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people reach the web app: links in emails sent outside a request (invitations, reports).
SITE_URL = env("SITE_URL", default="http://localhost:8000")

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# How many proxies (load balancer, ingress) stand in front of the web processes and append to
# X-Forwarded-For; 0 trusts no header. See apps.core.middleware.TrustedProxyMiddleware.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Respondent pages (apps.responses): requests per minute per address and per link, the
# shortest plausible answering time, and the largest accepted submission.
RESPONDENT_RATE_PER_ADDRESS = env.int("RESPONDENT_RATE_PER_ADDRESS", default=600)
RESPONDENT_RATE_PER_LINK = env.int("RESPONDENT_RATE_PER_LINK", default=6000)
RESPONDENT_MIN_SECONDS = env.int("RESPONDENT_MIN_SECONDS", default=3)
RESPONDENT_MAX_BODY_BYTES = 64 * 1024

# Email campaigns (apps.distribution.sending): messages per batch (one mail-server connection
# each), messages per second per organisation (all workers together), attempts of a message
# the server refused for now, and when the sweeper steps in: a message left "sending" this long
# ago is marked uncertain; a campaign that made no progress this long is dispatched again.
DISTRIBUTION_BATCH_SIZE = env.int("DISTRIBUTION_BATCH_SIZE", default=100)
DISTRIBUTION_SEND_RATE = env.int("DISTRIBUTION_SEND_RATE", default=20)
DISTRIBUTION_MAX_ATTEMPTS = env.int("DISTRIBUTION_MAX_ATTEMPTS", default=6)
DISTRIBUTION_RETRY_BASE_SECONDS = env.int("DISTRIBUTION_RETRY_BASE_SECONDS", default=60)
DISTRIBUTION_SENDING_STALE_SECONDS = env.int("DISTRIBUTION_SENDING_STALE_SECONDS", default=600)
DISTRIBUTION_REDISPATCH_SECONDS = env.int("DISTRIBUTION_REDISPATCH_SECONDS", default=900)

# Webhooks (apps.webhooks): attempts per delivery and the first backoff (doubling, with jitter:
# six attempts span about an hour), the receiver's time to answer, how many deliveries in a row
# may fail before the endpoint is disabled, and the SSRF guard: refuse receivers on private,
# loopback, link-local and other non-public addresses, and plain http. Production turns both on.
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=6)
WEBHOOKS_RETRY_BASE_SECONDS = env.int("WEBHOOKS_RETRY_BASE_SECONDS", default=120)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=5.0)
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=10)
WEBHOOKS_BLOCK_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_BLOCK_PRIVATE_ADDRESSES", default=True)
WEBHOOKS_HTTPS_ONLY = env.bool("WEBHOOKS_HTTPS_ONLY", default=False)

# Security headers that hold in every environment; production tightens transport security.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # forms read it; htmx sends it as a header
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# REST API.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.organizations.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CX Platform API",
    "DESCRIPTION": "Journeys, paired surveys, responses, gap reports and alerts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status"; each choice set gets its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "JourneyStatusEnum": "apps.journeys.models.JourneyStatus",
        "QuestionnaireStatusEnum": "apps.surveys.models.QuestionnaireStatus",
        "LinkStatusEnum": "apps.distribution.models.LinkStatus",
        "CampaignStatusEnum": "apps.distribution.models.CampaignStatus",
        "InvitationStatusEnum": "apps.distribution.models.InvitationStatus",
        "ImportStatusEnum": "apps.distribution.models.ImportStatus",
        "ReportFileStatusEnum": "apps.reports.models.FileStatus",
        "ReportFileKindEnum": "apps.reports.models.FileKind",
        "ItemKindEnum": "apps.surveys.models.ItemKind",  # "kind" of items and of report files
        "DeliveryStatusEnum": "apps.reports.models.DeliveryStatus",
        "AlertStatusEnum": "apps.alerts.models.AlertStatus",
        "ImprovementActionStatusEnum": "apps.actions.models.ActionStatus",
        "WebhookDeliveryStatusEnum": "apps.webhooks.models.DeliveryStatus",
        "TrendStatusEnum": ["improved", "declined", "stable", "insufficient_data"],
    },
    # Every operation documents the error shape of the 4xx it can answer (apps/core/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.openapi.error_responses",
    ],
}

# Celery: the broker comes from CELERY_BROKER_URL, else REDIS_URL. Tasks are written to be
# idempotent, so they acknowledge late and are re-delivered if the worker dies.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A process that renders PDFs grows ~0.23 MiB per render outside Python's heap (WeasyPrint's
# native side; bench/pdf_render.py): recycling worker processes bounds it (~50 MiB at 200).
CELERY_WORKER_MAX_TASKS_PER_CHILD = (
    env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=200) or None
)
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacknowledged task after this; it must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_ALL = ["default", "ingest", "email", "reports"]
CELERY_TASK_ROUTES = {
    "apps.responses.tasks.*": {"queue": "ingest"},
    "apps.scoring.tasks.*": {"queue": "ingest"},
    "apps.distribution.tasks.*": {"queue": "email"},
    "apps.alerts.tasks.*": {"queue": "email"},
    "apps.actions.tasks.*": {"queue": "email"},
    "apps.reports.tasks.*": {"queue": "reports"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Scheduled campaigns, reminders, deliveries left by a dead worker, stalled imports.
    "distribution-sweep": {"task": "apps.distribution.tasks.sweep", "schedule": 60.0},
    # Responses left unprocessed for 30 s (broker outage, killed worker) are queued again.
    "scoring-sweep": {"task": "apps.scoring.tasks.responses_sweep", "schedule": 60.0},
    # Due report schedules become deliveries (once per due time), stalled ones are requeued.
    "reports-schedules-tick": {"task": "apps.reports.tasks.schedules_tick", "schedule": 60.0},
    # Webhook deliveries whose retry message was lost (worker killed, broker down) are requeued.
    "webhooks-sweep": {"task": "apps.webhooks.tasks.sweep", "schedule": 60.0},
    # Files a stopped worker left "running" fail after 15 min without progress.
    "reports-sweep-stale-files": {"task": "apps.reports.tasks.sweep_stale_files", "schedule": 60.0},
    "reports-purge-expired-files": {
        "task": "apps.reports.tasks.purge_expired_files",
        "schedule": 3600.0,
    },
}
# Alerts: overdue reminders and escalations (once per alert and stage), daily digests.
CELERY_BEAT_SCHEDULE["alerts-sla-tick"] = {"task": "apps.alerts.tasks.sla_tick", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["alerts-digest-tick"] = {
    "task": "apps.alerts.tasks.digest_tick",
    "schedule": 600.0,
}
# Privacy: personal data past each organisation's retention period is anonymised, once a day.
CELERY_BEAT_SCHEDULE["privacy-retention-tick"] = {
    "task": "apps.privacy.tasks.retention_tick",
    "schedule": 86400.0,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="text")  # "json" in production
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "apps.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "INFO"},
    },
}

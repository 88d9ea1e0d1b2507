"""Ratecard settings, 12-factor: everything comes from the environment (shared/API.md lists the variables).

With nothing set: a SQLite file and eager Celery (the embedded demo default).
With DATABASE_URL and REDIS_URL: PostgreSQL, and Redis as Celery broker, result backend and cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.logging import build_logging
from config.mail import mail_settings

# Lets admin and generic classes be subscripted at runtime (ModelAdmin[Customer]) for type checking.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # a public key would let anyone forge sessions and password-reset links: never run with one
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is false: set DJANGO_SECRET_KEY to a long random "
            "value (e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'). "
            "Only the demo (DJANGO_DEBUG unset or true) runs with the built-in demo key."
        )
    SECRET_KEY = "ratecard-demo-insecure-key-change-me-in-production-0123456789"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS: on by default when debug is off (``manage.py check --deploy`` is clean), each switchable for a
# deployment that needs otherwise (and then says so in check --deploy).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# the probes are plain HTTP from the orchestrator on the internal network
SECURE_REDIRECT_EXEMPT = [
    r"^healthz$",
    r"^readyz$",
    r"^metrics$",
]  # probes and scrapes on the internal network
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER"):
    # behind a proxy that terminates TLS, e.g. "HTTP_X_FORWARDED_PROTO" (the proxy must set it itself)
    SECURE_PROXY_SSL_HEADER = (os.environ["DJANGO_SECURE_PROXY_SSL_HEADER"], "https")

# ``GET /metrics`` carries business figures: with a token set it answers only ``Bearer <token>``.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: /api/docs/ works offline
    "djmoney",
    "simple_history",
    "accounts",
    "billing",
    "invoicing",
    "reporting",
]

MIDDLEWARE = [
    # outermost: the request id (logs, response, queued tasks) and the per-route count and latency
    "config.request_context.RequestContextMiddleware",
    # next: it answers /api/ errors raised by the middlewares after it in the API's error shape
    "config.api.middleware.ApiEdgeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # the admin banner while Stripe calls are dead (templates/admin/base_site.html)
                "invoicing.context_processors.stripe_alerts",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)
    if DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "ratecard.sqlite3"}
}
IS_POSTGRES = str(DATABASES["default"]["ENGINE"]).endswith("postgresql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# the admin's default date and time formats: ISO, 24-hour, zone named (config/formats/en/formats.py)
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("RATECARD_MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"

LOGIN_URL = "/admin/login/"

# simple_history's revert form would write around the services: history is read-only here.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Celery and cache -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# how long the app waits on its own Redis (counters, stamps, rate limits) before treating it as away
RATECARD_REDIS_TIMEOUT_SECONDS = float(os.environ.get("RATECARD_REDIS_TIMEOUT_SECONDS", "2"))
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered; tasks are idempotent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("RATECARD_CELERY_QUEUE", "ratecard")
# An unacknowledged task (its worker died) is handed to another worker after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("RATECARD_CELERY_VISIBILITY_TIMEOUT", "3600")),
    # how often a worker looks for such tasks (kombu scans every interval x throttle seconds)
    "unacked_restore_interval": int(os.environ.get("RATECARD_CELERY_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("RATECARD_CELERY_RESTORE_THROTTLE", "10")),
    # an unreachable Redis is reported in seconds, not after minutes of retries (a request that
    # queues a task answers at once; the task's row is the outbox the sweep reads)
    "socket_connect_timeout": float(os.environ.get("RATECARD_BROKER_CONNECT_TIMEOUT", "3")),
    "max_retries": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("RATECARD_BROKER_CONNECT_TIMEOUT", "3"))
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = float(os.environ.get("RATECARD_BROKER_CONNECT_TIMEOUT", "3"))
# a worker keeps reconnecting when Redis restarts, without a limit
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# when the broker connection drops, tasks still running are cancelled rather than left to ack on a dead
# connection (kombu then fails inside the consumer's restart and the worker can stall): with late acks
# their messages are redelivered, or the sweeps re-queue their work, and every task is idempotent
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

CELERY_BEAT_SCHEDULE = {
    # queue again the billing work a killed worker or a lost broker left behind; close finished runs
    "billing-runs-sweep": {
        "task": "invoicing.tasks.billing_runs_sweep",
        "schedule": float(os.environ.get("RATECARD_BILLING_SWEEP_SECONDS", "60")),
    },
    "billing-run-hourly": {"task": "invoicing.tasks.scheduled_billing_run", "schedule": 3600.0},
    "dunning-hourly": {"task": "invoicing.tasks.scheduled_dunning", "schedule": 3600.0},
    "email-outbox-every-minute": {"task": "invoicing.tasks.email_outbox_sweep", "schedule": 60.0},
    "usage-partitions-daily": {"task": "billing.tasks.usage_partitions_ensure_task", "schedule": 86400.0},
    # the alert rules of every app's monitoring.py: incidents opened, mailed once, cleared
    "alerts-evaluate": {
        "task": "reporting.tasks.alerts_evaluate_task",
        "schedule": float(os.environ.get("RATECARD_ALERT_EVALUATE_SECONDS", "60")),
    },
    # Stripe (issue #10): deliver the outbox rows a lost message left behind, retry failed webhook events
    "stripe-outbox-every-minute": {
        "task": "invoicing.stripe_tasks.stripe_outbox_sweep",
        "schedule": float(os.environ.get("RATECARD_STRIPE_SWEEP_SECONDS", "60")),
    },
    "stripe-reconcile-daily": {
        "task": "invoicing.stripe_tasks.stripe_reconcile_daily",
        "schedule": float(os.environ.get("RATECARD_STRIPE_RECONCILE_SECONDS", "86400")),
    },
}
# tasks outside the apps' tasks.py modules that workers must know
CELERY_IMPORTS = ["invoicing.stripe_tasks"]

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.CursorlessPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.errors.api_exception_handler",
    # the API speaks JSON only (API.md); other media types are 415
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.StorableJSONParser"],
    "DEFAULT_METADATA_CLASS": "config.api.metadata.ApiMetadata",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Ratecard billing API",
    "DESCRIPTION": "The v1 internal billing API: catalog, customers, subscriptions, usage, invoices.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets from drf-spectacular-sidecar (static files), never from a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.document_errors",
    ],
}

# API.md: a request body is at most 5 MB (413 in the error shape, config.api.middleware).
RATECARD_MAX_REQUEST_BYTES = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = RATECARD_MAX_REQUEST_BYTES

# POST /api/v1/events: requests (batches of up to 1,000 events) a second per API token, and the burst
# a token may send at once; beyond it, 429 with Retry-After (billing/api/throttles.py). 0: no limit.
RATECARD_EVENTS_RATE_PER_SECOND = float(os.environ.get("RATECARD_EVENTS_RATE_PER_SECOND", "50"))
RATECARD_EVENTS_BURST = float(os.environ.get("RATECARD_EVENTS_BURST", "100"))

# Idempotency-Key records are kept this long (API.md: 24 hours).
IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

# --- Stripe -----------------------------------------------------------------------------------------
STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
# the Stripe outbox (invoicing.services.stripe_outbox): backoff base doubling up to the cap, then dead
RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS = int(os.environ.get("RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS", "8"))
RATECARD_STRIPE_OUTBOX_BACKOFF_SECONDS = float(os.environ.get("RATECARD_STRIPE_OUTBOX_BACKOFF_SECONDS", "30"))
RATECARD_STRIPE_OUTBOX_BACKOFF_CAP_SECONDS = float(
    os.environ.get("RATECARD_STRIPE_OUTBOX_BACKOFF_CAP_SECONDS", "3600")
)
# the daily reconciliation reads the PaymentIntents created this many days back (Stripe's created[gte])
RATECARD_STRIPE_RECONCILIATION_DAYS = int(os.environ.get("RATECARD_STRIPE_RECONCILIATION_DAYS", "35"))

# --- Billing rules ----------------------------------------------------------------------------------
RATECARD_LATE_EVENT_GRACE_DAYS = int(os.environ.get("RATECARD_LATE_EVENT_GRACE_DAYS", "3"))
RATECARD_LATE_EVENT_LIMIT_DAYS = int(os.environ.get("RATECARD_LATE_EVENT_LIMIT_DAYS", "35"))
RATECARD_BILLING_CHUNK_SIZE = int(os.environ.get("RATECARD_BILLING_CHUNK_SIZE", "500"))
# A worker holds a chunk this long; a chunk whose lease expired is queued again by the sweep, and given
# up (the run fails with the reason) after this many attempts.
RATECARD_BILLING_LEASE_SECONDS = float(os.environ.get("RATECARD_BILLING_LEASE_SECONDS", "300"))
RATECARD_BILLING_CHUNK_MAX_ATTEMPTS = int(os.environ.get("RATECARD_BILLING_CHUNK_MAX_ATTEMPTS", "8"))
# Subscriptions a concurrent change holds locked are retried this many times, this many seconds apart,
# within the run; then they are counted as deferred (the next run bills them).
RATECARD_BILLING_DEFERRED_RETRIES = int(os.environ.get("RATECARD_BILLING_DEFERRED_RETRIES", "3"))
RATECARD_BILLING_DEFERRED_RETRY_SECONDS = float(
    os.environ.get("RATECARD_BILLING_DEFERRED_RETRY_SECONDS", "10")
)
# Drafts are finalized this long after their billing date (the late-usage grace window, DESIGN.md).
RATECARD_INVOICE_REVIEW_HOURS = int(
    os.environ.get("RATECARD_INVOICE_REVIEW_HOURS", str(24 * RATECARD_LATE_EVENT_GRACE_DAYS))
)
RATECARD_AUTO_FINALIZE = env_bool("RATECARD_AUTO_FINALIZE", True)
# Lago's "finalize zero-amount invoices": on (as Stripe does), a 0.00 draft is issued with a number like any
# other; off (the demo), it is closed as void without a number and without a PDF (docs/money.md).
RATECARD_FINALIZE_ZERO_INVOICES = env_bool("RATECARD_FINALIZE_ZERO_INVOICES", True)
# Billing runs may not run more than 24 hours ahead of the wall clock unless this is on (tests, backtests).
RATECARD_ALLOW_FUTURE_BILLING = env_bool("RATECARD_ALLOW_FUTURE_BILLING", False)
# Dunning: reminders this many days after a failed payment; then "past_due" or "cancel" the subscriptions.
RATECARD_DUNNING_SCHEDULE_DAYS = [
    int(d) for d in env_list("RATECARD_DUNNING_SCHEDULE_DAYS", ["3", "7", "14"])
]
RATECARD_DUNNING_FINAL_ACTION = os.environ.get("RATECARD_DUNNING_FINAL_ACTION", "past_due")
# How amounts read on staff screens (babel locale: ``$1,534.50`` in en_US); a customer's invoice PDF and
# e-mails use its billing country's conventions instead (billing.display.customer_locale, docs/money.md).
RATECARD_LOCALE = os.environ.get("RATECARD_LOCALE", "en_US")
RATECARD_SELLER = {
    "name": os.environ.get("RATECARD_SELLER_NAME", "Meshwork Networks, Inc."),
    "address": os.environ.get("RATECARD_SELLER_ADDRESS", "100 Relay Street, San Francisco, CA 94105, USA"),
    "email": os.environ.get("RATECARD_SELLER_EMAIL", "billing@meshwork.example"),
}

# --- E-mail (config/mail.py: EMAIL_URL or EMAIL_HOST...; the console by default) --------------------
_MAIL = mail_settings(os.environ)
EMAIL_BACKEND = _MAIL.backend
EMAIL_HOST = _MAIL.host
EMAIL_PORT = _MAIL.port
EMAIL_HOST_USER = _MAIL.user
EMAIL_HOST_PASSWORD = _MAIL.password
EMAIL_USE_TLS = _MAIL.use_tls
EMAIL_USE_SSL = _MAIL.use_ssl
EMAIL_TIMEOUT = _MAIL.timeout
if _MAIL.file_path:
    EMAIL_FILE_PATH = _MAIL.file_path
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or RATECARD_SELLER["email"]
# an e-mail whose sending fails is retried with backoff (1, 2, 4... minutes) this many times in all
RATECARD_EMAIL_MAX_ATTEMPTS = int(os.environ.get("RATECARD_EMAIL_MAX_ATTEMPTS", "6"))

# --- Alerts (reporting/alerts.py; docs/runbook.md has a section per rule) -----------------------------
# who hears about an incident: these addresses, else the active finance users with an e-mail address
RATECARD_ALERT_EMAILS = env_list("RATECARD_ALERT_EMAILS", [])
RATECARD_ALERT_EVALUATE_SECONDS = float(os.environ.get("RATECARD_ALERT_EVALUATE_SECONDS", "60"))
# a billing run unfinished this long is late; no run started for this long means beat is not running
RATECARD_ALERT_RUN_MAX_MINUTES = int(os.environ.get("RATECARD_ALERT_RUN_MAX_MINUTES", "60"))
RATECARD_ALERT_NO_RUN_MINUTES = int(os.environ.get("RATECARD_ALERT_NO_RUN_MINUTES", "180"))
# a chunk whose lease expired this long ago (the sweep runs every minute), or taken this many times
RATECARD_ALERT_CHUNK_STUCK_MINUTES = int(os.environ.get("RATECARD_ALERT_CHUNK_STUCK_MINUTES", "10"))
RATECARD_ALERT_CHUNK_ATTEMPTS = int(os.environ.get("RATECARD_ALERT_CHUNK_ATTEMPTS", "4"))
# ingestion: at least this many events refused, and this share of all events, over the window
RATECARD_ALERT_INGEST_WINDOW_MINUTES = int(os.environ.get("RATECARD_ALERT_INGEST_WINDOW_MINUTES", "10"))
RATECARD_ALERT_INGEST_REJECTED_MIN = int(os.environ.get("RATECARD_ALERT_INGEST_REJECTED_MIN", "100"))
RATECARD_ALERT_INGEST_REJECTED_RATIO = float(os.environ.get("RATECARD_ALERT_INGEST_REJECTED_RATIO", "0.05"))
# Stripe: a pending outbox row older than this is late (Stripe away, or no worker delivering)
RATECARD_ALERT_STRIPE_OUTBOX_MINUTES = int(os.environ.get("RATECARD_ALERT_STRIPE_OUTBOX_MINUTES", "15"))
# Stripe webhooks refused for their signature: at least this many over the window
RATECARD_ALERT_STRIPE_SIGNATURE_FAILURES = int(
    os.environ.get("RATECARD_ALERT_STRIPE_SIGNATURE_FAILURES", "10")
)
RATECARD_ALERT_STRIPE_SIGNATURE_WINDOW_MINUTES = int(
    os.environ.get("RATECARD_ALERT_STRIPE_SIGNATURE_WINDOW_MINUTES", "10")
)

# --- Logging ----------------------------------------------------------------------------------------
LOG_FORMAT = os.environ.get("LOG_FORMAT", "console")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

LOGGING = build_logging(fmt=LOG_FORMAT, level=LOG_LEVEL)

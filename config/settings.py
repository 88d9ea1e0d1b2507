"""Ratecard settings, 12-factor: everything comes from the environment (shared/API.md lists the variables).

With nothing set: a SQLite file and eager Celery (the embedded demo default).
With DATABASE_URL and REDIS_URL: PostgreSQL, and Redis as Celery broker, result backend and cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext

from config.logging import build_logging

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


SECRET_KEY = (
    os.environ.get("DJANGO_SECRET_KEY") or "ratecard-demo-insecure-key-change-me-in-production-0123456789"
)
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

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
    "djmoney",
    "simple_history",
    "accounts",
    "billing",
    "invoicing",
    "reporting",
]

MIDDLEWARE = [
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

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("RATECARD_MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"

LOGIN_URL = "/admin/login/"

# simple_history's revert form would write around the services: history is read-only here.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Celery and cache -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
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
}

CELERY_BEAT_SCHEDULE = {
    "billing-run-hourly": {"task": "invoicing.tasks.scheduled_billing_run", "schedule": 3600.0},
    "dunning-hourly": {"task": "invoicing.tasks.scheduled_dunning", "schedule": 3600.0},
    "usage-partitions-daily": {"task": "billing.tasks.usage_partitions_ensure_task", "schedule": 86400.0},
}

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
}

# Idempotency-Key records are kept this long (API.md: 24 hours).
IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

# --- Stripe -----------------------------------------------------------------------------------------
STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")

# --- Billing rules ----------------------------------------------------------------------------------
RATECARD_LATE_EVENT_GRACE_DAYS = int(os.environ.get("RATECARD_LATE_EVENT_GRACE_DAYS", "3"))
RATECARD_LATE_EVENT_LIMIT_DAYS = int(os.environ.get("RATECARD_LATE_EVENT_LIMIT_DAYS", "35"))
RATECARD_BILLING_CHUNK_SIZE = int(os.environ.get("RATECARD_BILLING_CHUNK_SIZE", "500"))
# Drafts are finalized this long after their billing date (the late-usage grace window, DESIGN.md).
RATECARD_INVOICE_REVIEW_HOURS = int(
    os.environ.get("RATECARD_INVOICE_REVIEW_HOURS", str(24 * RATECARD_LATE_EVENT_GRACE_DAYS))
)
RATECARD_AUTO_FINALIZE = env_bool("RATECARD_AUTO_FINALIZE", True)
# Dunning: reminders this many days after a failed payment; then "past_due" or "cancel" the subscriptions.
RATECARD_DUNNING_SCHEDULE_DAYS = [
    int(d) for d in env_list("RATECARD_DUNNING_SCHEDULE_DAYS", ["3", "7", "14"])
]
RATECARD_DUNNING_FINAL_ACTION = os.environ.get("RATECARD_DUNNING_FINAL_ACTION", "past_due")
RATECARD_SELLER = {
    "name": os.environ.get("RATECARD_SELLER_NAME", "Meshwork Networks, Inc."),
    "address": os.environ.get("RATECARD_SELLER_ADDRESS", "100 Relay Street, San Francisco, CA 94105, USA"),
    "email": os.environ.get("RATECARD_SELLER_EMAIL", "billing@meshwork.example"),
}

# --- Logging ----------------------------------------------------------------------------------------
LOG_FORMAT = os.environ.get("LOG_FORMAT", "console")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

LOGGING = build_logging(fmt=LOG_FORMAT, level=LOG_LEVEL)

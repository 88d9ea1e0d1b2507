"""Liveness and readiness probes (API.md operations)."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from config.celery import app


def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Database, Redis and a Celery worker reachable; 503 naming what failed otherwise."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", and we say which
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
        try:
            replies = app.control.ping(timeout=1.0)
            checks["celery_worker"] = "ok" if replies else "error: no worker answered"
        except Exception as exc:
            checks["celery_worker"] = f"error: {exc.__class__.__name__}"
    else:
        checks["redis"] = "not configured (eager Celery)"
        checks["celery_worker"] = "eager (runs in process)"
    failing = [name for name, state in checks.items() if state.startswith("error")]
    return JsonResponse(
        {"status": "ok" if not failing else "unavailable", "checks": checks, "failing": failing},
        status=503 if failing else 200,
    )

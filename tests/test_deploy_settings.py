"""Production settings from the environment: no start without a secret key, ``check --deploy`` clean,
and ``/metrics`` behind its bearer token."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a fresh process with only the given Django settings from the environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "METRICS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings_from_the_environment() -> None:
    done = manage(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="billing.example.com",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


def test_check_deploy_says_what_is_wrong_when_https_is_switched_off() -> None:
    # the same check, proving it can fail: a deployment that turns a safe default off is told so
    done = manage(
        "check",
        "--deploy",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="billing.example.com",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
    )
    assert "security.W008" in done.stdout + done.stderr
    assert "security.W012" in done.stdout + done.stderr


def test_without_debug_the_app_refuses_to_start_without_a_secret_key() -> None:
    done = manage("check", DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="billing.example.com")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is false" in done.stderr


def test_the_demo_starts_without_a_secret_key() -> None:
    done = manage("check")
    assert done.returncode == 0, done.stderr


@pytest.mark.django_db
def test_metrics_with_a_token_answer_only_the_bearer_of_it(client: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-4f9c2e"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"ratecard_" not in refused.content
    for wrong in ("Bearer scrape-4f9c2", "Bearer scrape-4f9c2e0", "Basic scrape-4f9c2e", "scrape-4f9c2e"):
        assert client.get("/metrics", HTTP_AUTHORIZATION=wrong).status_code == 401, wrong
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-4f9c2e")
    assert allowed.status_code == 200
    assert b"ratecard_amount_due" in allowed.content


@pytest.mark.django_db
def test_metrics_without_a_token_are_open_as_documented(client: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200

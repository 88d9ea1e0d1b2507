"""Stripe tests run against localstripe (a stateful fake Stripe server), never against mocks.

``localstripe`` starts it as a subprocess on 127.0.0.1 on a free port with its state in a temp dir;
``stripe_on`` points Ratecard at it (STRIPE_API_KEY, STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET) and
registers this test's live server as its webhook endpoint (``POST /_config/webhooks/<id>``). Its
webhooks come about a second after the event, once: tests poll with a deadline (``wait_for``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_ratecard_tests"
API_KEY = "sk_test_ratecard"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStripe:
    """One localstripe process; ``stop()`` and ``start()`` again keep its state (the pickle file)."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.state = state_dir / "localstripe.pickle"
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.stripe.localstripe_app", str(self.port), str(self.state)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.get("/_test/requests")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("localstripe did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> Any:
        body = "&".join(f"{k}={v}" for k, v in (data or {}).items()).encode() if data is not None else None
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {API_KEY}")
        with urllib.request.urlopen(req, timeout=5) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def reset(self) -> None:
        self.request("DELETE", "/_config/data")
        self.request("POST", "/_test/reset", {})

    def payment_intents(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/payment_intents?limit=100")["data"])

    def idempotency_keys(self, path: str) -> list[str]:
        """The Idempotency-Key of each POST to ``path`` ("" when a request had none)."""
        requests = self.get("/_test/requests")
        return [r["idempotency_key"] or "" for r in requests if r["method"] == "POST" and r["path"] == path]

    def requests(self, method: str, path: str) -> list[tuple[str, int]]:
        """The query string and response status of each ``method`` request to ``path``, in order."""
        requests = self.get("/_test/requests")
        return [(r["query"], r["status"]) for r in requests if r["method"] == method and r["path"] == path]

    def register_webhook(self, url: str) -> None:
        self.request("POST", "/_config/webhooks/ratecard", {"url": url, "secret": WEBHOOK_SECRET})


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    server = LocalStripe(tmp_path_factory.mktemp("localstripe"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stripe_on(settings: Any, localstripe: LocalStripe, live_server: Any) -> LocalStripe:
    """Stripe on, against a clean localstripe whose webhooks reach this test's live server."""
    localstripe.reset()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    localstripe.register_webhook(f"{live_server.url}/stripe/webhook/")
    return localstripe


@pytest.fixture
def stripe_quiet(settings: Any, localstripe: LocalStripe) -> LocalStripe:
    """Stripe on, but localstripe's own webhooks go nowhere: the test posts the events it signs itself."""
    localstripe.reset()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    localstripe.register_webhook("http://127.0.0.1:9/nowhere")  # the discard port: refused at once
    return localstripe


def signed(event: dict[str, Any], *, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """An event's body and its ``Stripe-Signature`` header, signed as Stripe (and localstripe) sign."""
    payload = json.dumps(event).encode()
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={timestamp},v1={digest}"


def wait_for(check: Callable[[], Any], *, timeout: float = 8.0, what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy (localstripe's webhooks come ~1 s late)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)

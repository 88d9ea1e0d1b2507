"""A slow Stripe: an HTTP proxy on 127.0.0.1 that holds every request ``delay`` seconds before passing it on.

Put in front of localstripe (the worker's ``STRIPE_API_BASE`` points here), it makes every Stripe call
of the pipeline slow, as a Stripe having a bad day is. It runs its own asyncio loop in a thread of the
test process (nothing to kill). Requests are HTTP/1.1 with a ``Content-Length`` (what the stripe library
sends); each is forwarded on a fresh upstream connection and answered with ``Connection: close``.

When the upstream is gone (localstripe killed), a request is answered ``502`` in Stripe's error shape,
which the stripe library raises as an API error (the outbox's "Stripe unavailable").

``hold()`` / ``idle()`` / ``release()`` let a test kill the upstream at a moment when no request is inside
it: localstripe ignores Idempotency-Key, so a crash between its write and its answer would make our
retry (same key) charge twice there, where real Stripe answers the first PaymentIntent back. The test
checks the same key is sent on every attempt instead (docs/operations.md, Stripe).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any

_ERROR = b'{"error": {"type": "api_error", "message": "Stripe is unreachable (proxy)."}}'
BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_ERROR)}\r\nConnection: close\r\n\r\n".encode()
    + _ERROR
)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _closing(head: bytes) -> bytes:
    """The message head with ``Connection: close`` instead of whatever it said."""
    lines = [ln for ln in head.rstrip(b"\r\n").split(b"\r\n") if not ln.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


class SlowProxy:
    def __init__(self, upstream_port: int, *, delay: float) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.forwarded = 0
        self.unreachable = 0  # requests answered 502: the upstream was down
        self.in_flight = 0  # requests inside the upstream now
        self._loop = asyncio.new_event_loop()
        self._open = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._start())

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._open.set()
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)

    async def _set(self, open_: bool) -> None:
        (self._open.set if open_ else self._open.clear)()

    def hold(self) -> None:
        """Requests that arrive from now on wait in the proxy (they are still answered later)."""
        self._run(self._set(False))

    def release(self) -> None:
        self._run(self._set(True))

    def idle(self, seconds: float = 10.0) -> None:
        """Wait until no request is inside the upstream (after ``hold``, none enters)."""
        deadline = time.monotonic() + seconds
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.in_flight == 0, f"{self.in_flight} request(s) still inside the upstream"

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()

        self._run(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(_content_length(head))
            await asyncio.sleep(self.delay)
            while not self._open.is_set():  # re-checked after waking: a hold() meanwhile wins
                await self._open.wait()
            writer.write(await self._forward(_closing(head) + body))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _forward(self, request: bytes) -> bytes:
        self.in_flight += 1  # no await between the gate and here: hold() then idle() is exact
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            try:
                writer.write(request)
                await writer.drain()
                response = await reader.read()  # to EOF: we asked for Connection: close
            finally:
                writer.close()
            if not response.startswith(b"HTTP/"):
                raise ConnectionResetError("no answer")
            head, _, body = response.partition(b"\r\n\r\n")
            self.forwarded += 1
            return _closing(head) + body
        except OSError:
            self.unreachable += 1
            return BAD_GATEWAY
        finally:
            self.in_flight -= 1

"""A loopback load client: posts usage events at a fixed rate with plain asyncio (no dependency).

``load(...)`` sends ``rate`` batches a second of ``batch`` events each to ``POST /api/v1/events`` for
``seconds`` over ``connections`` keep-alive HTTP/1.1 connections, every event id unique. A 429 is
retried after its ``Retry-After`` (same batch, same ids: a resend counts once); any other answer is
recorded. It returns what a caller asserts on: requests by status, events sent and accepted, 5xx count,
the achieved rate and batch latencies.

``tests/integration/test_load_events.py`` runs it against gunicorn while a billing run executes on a
Celery worker. From the command line, against a running server::

    .venv/bin/python -m tests.integration.load_client --port 8000 --token rc_... --customers c0000,c0001 \\
        --metric api_calls --rate 10 --batch 1000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    events_sent: int = 0  # events in batches the server answered 202
    events_accepted: int = 0
    duplicates: int = 0
    retried_429: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        ordered = sorted(self.latencies) or [0.0]
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{self.events_accepted:,} events accepted in {self.elapsed:.1f} s "
            f"({self.events_accepted / max(self.elapsed, 1e-9):,.0f}/s); statuses {dict(self.statuses)}; "
            f"429 retried {self.retried_429}; batch p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, token: str, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    writer.write(
        f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    payload = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, payload


async def _load(
    *, port: int, token: str, customers: list[str], metric: str, rate: float, batch: int, seconds: float,
    connections: int, at: datetime,
) -> LoadResult:  # fmt: skip
    result = LoadResult()
    total = int(rate * seconds)
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    started = time.perf_counter()

    async def pace() -> None:
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(index)
        for _ in range(connections):
            queue.put_nowait(-1)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (index := await queue.get()) >= 0:
                events = [
                    {
                        "event_id": f"{run}-{index}-{i}",
                        "customer": customers[(index * batch + i) % len(customers)],
                        "metric": metric,
                        "timestamp": at.isoformat(),
                    }
                    for i in range(batch)
                ]
                body = json.dumps({"events": events}).encode()
                while True:
                    sent = time.perf_counter()
                    status, headers, payload = await _post(reader, writer, port, token, body)
                    result.latencies.append(time.perf_counter() - sent)
                    result.statuses[status] += 1
                    if status != 429:
                        break
                    result.retried_429 += 1
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
                if status == 202:
                    answer = json.loads(payload)
                    result.events_sent += batch
                    result.events_accepted += answer["accepted"]
                    result.duplicates += answer["duplicates"]
        finally:
            writer.close()

    await asyncio.gather(pace(), *(connection() for _ in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


def load(
    *, port: int, token: str, customers: list[str], metric: str, rate: float, batch: int, seconds: float,
    connections: int = 4, at: datetime | None = None,
) -> LoadResult:  # fmt: skip
    """Post ``rate`` batches/s of ``batch`` events for ``seconds`` (module docs); events stamped ``at``."""
    return asyncio.run(
        _load(
            port=port,
            token=token,
            customers=customers,
            metric=metric,
            rate=rate,
            batch=batch,
            seconds=seconds,
            connections=connections,
            at=at or datetime.now(UTC) - timedelta(minutes=1),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--customers", required=True, help="comma-separated external ids")
    parser.add_argument("--metric", required=True, help="a count metric's code")
    parser.add_argument("--rate", type=float, default=10.0, help="batches a second")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    result = load(
        port=args.port,
        token=args.token,
        customers=args.customers.split(","),
        metric=args.metric,
        rate=args.rate,
        batch=args.batch,
        seconds=min(args.seconds, 600.0),
        connections=args.connections,
    )
    print(result.summary())


if __name__ == "__main__":
    main()

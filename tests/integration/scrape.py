"""``GET /metrics`` of a running server, as Prometheus scrapes it, now and every half second meanwhile.

``Sampler`` keeps the largest value each sample reached while it ran: a gauge that rose and fell back
between two assertions (a queue filled and drained) shows there.
"""

from __future__ import annotations

import http.client
import threading
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int, token: str) -> Samples:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # a new connection: any worker
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200, text[:500]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Sampler:
    def __init__(self, port: int, token: str, every: float = 0.5) -> None:
        self.port, self.token, self.every = port, token, every
        self.maxima: Samples = {}
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                samples = scrape(self.port, self.token)
            except OSError:
                continue
            self.scrapes += 1
            for key, number in samples.items():
                self.maxima[key] = max(number, self.maxima.get(key, number))

    def most(self, name: str, **labels: str) -> float:
        return value(self.maxima, name, **labels)

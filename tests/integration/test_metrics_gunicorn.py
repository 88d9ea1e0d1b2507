"""Under gunicorn with several workers (config/gunicorn.py), ``/metrics`` sums every worker's counters
(prometheus multiprocess mode) and shows the database gauges, whichever worker answers the scrape."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.workers import REAL_SERVICES, ROOT, STARTED, free_port, stop, wait_for

pytestmark = REAL_SERVICES


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection: any worker
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_metrics_sum_the_counters_of_every_gunicorn_worker(tmp_path: Path) -> None:
    port, db = free_port(), connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "k" * 50,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    STARTED.append(server)
    try:
        wait_for(lambda: _answers(port), seconds=60)
        for _ in range(30):
            assert get(port, "/healthz")[0] == 200
        status, text = get(port, "/metrics")
        files = list((tmp_path / "metrics").glob("counter_*.db"))  # one per worker that served
    finally:
        stop(server)
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = ("ratecard_http_requests_total", (("method", "GET"), ("route", "healthz"), ("status", "200")))
    assert samples[key] >= 30  # every worker's count, whichever answered the scrape
    assert 1 <= len(files) <= 2
    assert ("ratecard_billing_runs_running", ()) in samples  # a database gauge


def _answers(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:
        return False

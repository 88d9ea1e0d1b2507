"""gunicorn settings for production: ``gunicorn -c config/gunicorn.py config.wsgi``.

Several worker processes answer ``/metrics`` in turn, so each must show every process's counters:
prometheus_client's multiprocess mode. Every process (gunicorn workers, and Celery workers on the same
host when they share the directory) writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR``;
``/metrics`` sums them (config/metrics.py). The directory is emptied when the server starts (counters
restart at zero, which Prometheus' ``rate()`` handles as a reset) and a dead worker's files are kept
(its counts stay in the sums) but marked dead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"  # keep-alive connections; a thread waits on the database while another runs
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))  # 0: never recycle (fewer metric files)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None  # our middleware logs and counts requests

# before anything imports prometheus_client: it reads the variable on import
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "ratecard-metrics"))


def on_starting(server: Any) -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

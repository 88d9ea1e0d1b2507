"""gunicorn settings for production: ``gunicorn -c config/gunicorn.py config.wsgi``.

Several worker processes answer ``/metrics`` in turn, so each must show every process's counters:
prometheus_client's multiprocess mode. Every process (gunicorn workers, and Celery workers on the same
host when they share the directory) writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR``;
``/metrics`` sums them (config/metrics.py). When the server starts, the files of processes that are
gone are removed (their counters restart at zero, which Prometheus' ``rate()`` handles as a reset); the
files of live processes are kept: a Celery worker sharing the directory keeps counting through a web
restart (subscriptions billed, invoices finalized, webhook lag are counted there). A worker that dies
while the server runs keeps its files (its counts stay in the sums) but is marked dead.
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
    metrics_files_of_dead_processes_remove(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def metrics_files_of_dead_processes_remove(directory: str) -> list[str]:
    """Remove the metric files (``counter_<pid>.db``, ``gauge_livesum_<pid>.db``...) of processes that
    no longer run; returns their names. Creates the directory when missing."""
    os.makedirs(directory, exist_ok=True)
    removed = []
    for name in sorted(os.listdir(directory)):
        pid = name.removesuffix(".db").rsplit("_", 1)[-1]
        if pid.isdigit() and _running(int(pid)):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
        removed.append(name)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

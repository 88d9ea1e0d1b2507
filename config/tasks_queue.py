"""Queue a Celery task by its name, from a service.

Tasks are faces over services (ids in, a service call), so a service that must start one after its
transaction commits names it instead of importing the task module: importing it would make the layers
circular (import-linter keeps services from importing faces). The task's module is imported on first
use when the process has not loaded it yet (a web process that never touched it).
"""

from __future__ import annotations

import importlib
from typing import Any

from celery import current_app


def task_enqueue(name: str, *args: Any, **kwargs: Any) -> None:
    """``name`` is the task's full name, e.g. ``"invoicing.tasks.send_email"``."""
    if name not in current_app.tasks:
        importlib.import_module(name.rsplit(".", 1)[0])
    current_app.tasks[name].delay(*args, **kwargs)

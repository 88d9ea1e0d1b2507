"""Integration fixtures: a queue of each test's own, and no process left behind."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.workers import STARTED, stop


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own, so no other worker on the machine takes its tasks."""
    yield f"ratecard-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Every worker or server a test starts is gone when it ends, pass or fail."""
    yield
    while STARTED:
        stop(STARTED.pop(), signal.SIGKILL)

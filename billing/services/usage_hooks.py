"""Who hears that a customer's usage changed (events accepted or voided), after the change commits.

Billing never imports invoicing (the layers), yet a late event inside the grace window must update the
draft invoice it belongs to at once (DESIGN.md's late-usage rule). So invoicing registers a listener
here when its app loads (``invoicing.apps``) and billing calls ``usage_changed`` from inside the
transaction that changed usage; listeners run after commit, once per transaction, with every
(customer, timestamp) the transaction touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import structlog
from django.db import transaction


class UsageTouch(Protocol):
    """Anything with a customer id and an event time (ingested rows are passed as they are: no copy)."""

    @property
    def customer_id(self) -> int: ...

    @property
    def timestamp(self) -> datetime: ...


log = structlog.get_logger(__name__)

Listener = Callable[[Sequence[UsageTouch]], None]
_listeners: list[Listener] = []


def usage_listener_register(listener: Listener) -> None:
    """Add a listener (idempotent: an app's ready() may run more than once)."""
    if listener not in _listeners:
        _listeners.append(listener)


def usage_changed(*, touches: Sequence[UsageTouch]) -> None:
    """Tell the listeners, after the current transaction commits, which usage changed."""
    if not _listeners or not touches:
        return
    items = touches

    def notify() -> None:
        for listener in list(_listeners):
            try:
                listener(items)
            except Exception as exc:  # the usage is committed: a listener's failure must not undo the
                # answer (drafts are re-rated again when they are finalized), only be seen
                log.error("usage.listener_failed", listener=getattr(listener, "__name__", ""), error=str(exc))

    transaction.on_commit(notify)

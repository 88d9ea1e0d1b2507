"""The entitlement check's one Redis round trip, packed once per cached profile.

A check reads the same keys every time for a given customer (its two entitlement stamps, a caller's own
key such as the access stamp's mirror, its usage counters), so the whole ``EVALSHA`` of
``usage_live.READ_SCRIPT`` is packed into bytes once, when the profile is cached, and a check only
sends those bytes and parses a reply of a few short strings.

It is sent on a connection of the calling thread's own rather than through the shared client: on this
path the client's per-command machinery (pool checkout and release, retries, instrumentation, the
pipeline) costs about five times the round trip itself (bench/entitlements.py; docs/operations.md).
The connection is made from the shared client's pool settings (same server, database, password, TLS,
timeouts), is used by one thread only, is made again in a forked child, and is dropped on any error so a
half-read reply can never be taken for the next one's. A Redis that restarted is retried once on a new
connection; one that lost the script (restart, ``SCRIPT FLUSH``) gets it loaded again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from billing.services.usage_live import READ_SCRIPT, READ_SHA, LivePlan


def _pack(*args: str | int) -> bytes:
    """A command in the Redis protocol: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@dataclass(frozen=True)
class PreparedRead:
    """``plain_keys`` and the counters of ``plan``, read by one ``EVALSHA`` packed in ``command``."""

    plan: LivePlan
    plain: int  # how many plain values lead the reply
    command: bytes


def prepared_read(plan: LivePlan, plain_keys: Sequence[str]) -> PreparedRead:
    return PreparedRead(plan, len(plain_keys), _pack("EVALSHA", READ_SHA, *plan.script_args(plain_keys)))


class _ThreadConnection(threading.local):
    connection: Any = None
    client: redis.Redis | None = None
    pid = 0


_own = _ThreadConnection()


def _connection(client: redis.Redis) -> Any:
    if _own.connection is None or _own.client is not client or _own.pid != os.getpid():
        pool = client.connection_pool
        _own.connection = pool.connection_class(**pool.connection_kwargs)
        _own.client, _own.pid = client, os.getpid()
    return _own.connection


def _drop() -> None:
    if _own.connection is not None:
        _own.connection.disconnect()
    _own.connection = None


def read_run(client: redis.Redis, read: PreparedRead) -> tuple[list[Any], list[Any]]:
    """Send ``read`` and return (the plain keys' values, the per-counter figures for
    ``usage_live_finish``)."""
    for attempt in range(3):
        connection = _connection(client)
        try:
            connection.send_packed_command([read.command], check_health=False)
            reply = connection.read_response()
        except redis.exceptions.NoScriptError:
            client.script_load(READ_SCRIPT)  # the error reply was read whole: the connection is in step
            continue
        except redis.exceptions.ConnectionError:
            _drop()
            if attempt == 2:
                raise
            continue  # a connection Redis closed (restart, idle timeout): again on a new one
        except BaseException:
            _drop()  # whatever was left unread must not be taken for the next reply
            raise
        return list(reply[: read.plain]), list(reply[read.plain :])
    raise redis.exceptions.ConnectionError("Redis refused the entitlement read script")

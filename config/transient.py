"""Errors that mean "try again later": a database or broker connection lost, a deadlock, a timeout.

Neither psycopg's, Django's, redis' nor kombu's connection errors inherit from Python's builtin
``ConnectionError``, so retrying on that alone retries nothing. Tasks retry these with backoff; any
other error is a real failure and is recorded where an operator sees it.
"""

from __future__ import annotations

import django.db
import kombu.exceptions
import psycopg
import redis.exceptions

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    django.db.OperationalError,  # connection lost or refused, deadlock, serialization failure
    django.db.InterfaceError,  # the connection was closed under us (e.g. pg_terminate_backend)
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,  # the broker connection, as kombu reports it
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)

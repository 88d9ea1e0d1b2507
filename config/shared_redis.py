"""The process's one Redis client (one connection pool), or None without ``REDIS_URL`` (the demo).

Every layer may use it (live usage counters, entitlement and access stamps, rate limits): the client is
plumbing, like the database connection.
"""

from __future__ import annotations

import redis
from django.conf import settings

_client: redis.Redis | None = None
_url = ""


def shared_redis() -> redis.Redis | None:
    global _client, _url
    if not settings.REDIS_URL:
        return None
    if _client is None or _url != settings.REDIS_URL:
        # a Redis that hangs must not hang every request that reads a counter or a stamp: callers treat
        # a timeout like Redis away (the entitlement check answers from the database, the rate limit lets
        # the batch through, a stamp falls back on its TTL)
        timeout = settings.RATECARD_REDIS_TIMEOUT_SECONDS
        _client = redis.Redis.from_url(
            settings.REDIS_URL, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        _url = settings.REDIS_URL
    return _client

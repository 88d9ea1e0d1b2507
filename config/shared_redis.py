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
        _client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _url = settings.REDIS_URL
    return _client

"""A per-token rate limit on ``POST /api/v1/events``: 429 with ``Retry-After``, in the API's error shape.

A token bucket per API token (session users: per user) in Redis, refilled at
``RATECARD_EVENTS_RATE_PER_SECOND`` requests a second up to ``RATECARD_EVENTS_BURST``; one Lua script
reads, refills and takes a token atomically, on Redis's own clock, so every web process and host shares
one bucket per token and the bucket survives a web restart (``0`` turns the limit off).

It runs in DRF's ``initial()``, before the view's handler, the idempotency record and the ingestion
transaction: a refused batch has written nothing, and a batch that got its token is ingested as any
other, so the limit never drops an accepted event. Without Redis (the demo, one process) there is no
limit. If Redis is away the batch is let through (ingestion itself does not need Redis): the limit
protects the database from a runaway sender, it must not stop billing data.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from billing.monitoring import USAGE_BATCHES_REFUSED
from config.shared_redis import shared_redis

log = structlog.get_logger(__name__)

BUCKET = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, tostring((1 - tokens) / rate)}
"""


class EventsRateThrottle(BaseThrottle):
    """The token bucket of the module docs."""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = float(settings.RATECARD_EVENTS_RATE_PER_SECOND)
        client = shared_redis()
        if rate <= 0 or client is None:
            return True
        burst = max(float(settings.RATECARD_EVENTS_BURST), 1.0)
        token = request.auth
        who = f"t{token.pk}" if getattr(token, "pk", None) else f"u{getattr(request.user, 'pk', 'anon')}"
        try:
            allowed, wait = client.eval(BUCKET, 1, f"rc:rl:events:{who}", str(rate), str(burst))
        except Exception as exc:  # Redis away: let the batch through (module docs)
            log.warning("events.rate_limit_unavailable", error=f"{exc.__class__.__name__}: {exc}")
            return True
        if int(allowed):
            return True
        self.retry_after = max(float(wait), 0.001)
        USAGE_BATCHES_REFUSED.labels(reason="rate_limited").inc()
        log.warning("events.rate_limited", who=who, retry_after=self.retry_after)
        return False

    def wait(self) -> float | None:
        # whole seconds in the header (Retry-After is an integer); never 0, which would invite a storm
        return math.ceil(self.retry_after) if self.retry_after is not None else None

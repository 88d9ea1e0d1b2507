"""The usage the demo customers send, through the real ingestion code (``usage_events_ingest``).

Each customer with a history is a ``Meter`` from the day it subscribes until its subscription ends:

- ``relay_gb`` (sum of ``gb``): six readings a day, shaped by the customer's local working day (quiet
  nights, an afternoon peak) and week (weekends at a third), growing slowly, with day-to-day noise;
- ``devices`` (max of ``devices``): one reading a day of the enrolled devices, growing a few % a month;
- ``active_users`` (unique count of ``user_id``): on a weekday 55-85% of the customer's users connect
  (at most ``MAX_USER_EVENTS_PER_DAY`` of them), on a weekend a few; the user pool follows the seats,
  so a month's unique count sits just under the seats billed.

``UsageFeed.generate(to)`` generates whole UTC days as business time passes (deterministically: one
``random.Random`` per customer and day, from the meters as they are that day); ``advance(to)`` ingests
every event before ``to`` with ``now=to``, in batches of at most 1,000 events as the API takes them. The
history calls it before every action that bills, so a period's usage is complete before the period is
billed, and often enough that no event is ever older than the late-event limit.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.demo.stories import ENTERPRISE, PERSONAL, PERSONAL_PLUS, PREMIUM, STARTER
from billing.services.usage_ingest import usage_events_ingest
from billing.services.usage_schema import MAX_EVENTS, EventIn

DAY = timedelta(days=1)
RELAY_HOURS = (1, 5, 9, 13, 17, 21)  # UTC hours of the relay readings
MAX_USER_EVENTS_PER_DAY = 12
# Monday .. Sunday
WEEKDAY_TRAFFIC = (1.0, 1.06, 1.05, 1.02, 0.92, 0.34, 0.26)
# relative traffic by local hour: quiet nights, a morning ramp, the afternoon peak, an evening tail
HOURLY_TRAFFIC = (
    0.20, 0.15, 0.12, 0.10, 0.10, 0.15, 0.35, 0.70, 1.10, 1.40, 1.50, 1.45,
    1.30, 1.45, 1.50, 1.40, 1.20, 0.95, 0.75, 0.60, 0.50, 0.45, 0.35, 0.25,
)  # fmt: skip


@dataclass
class Meter:
    """What one customer's product sends; sized from its plan and seats."""

    external_id: str
    zone: ZoneInfo
    users: int  # the pool of users who may connect
    devices: float  # enrolled devices when it joined
    device_growth: float  # relative growth per 30 days
    relay_gb_per_day: float  # on an average weekday
    active_from: datetime
    user_share: float = 1.0  # users / seats, kept when the seats change
    relay_per_seat: float = 0.0
    active_until: datetime | None = None

    @classmethod
    def for_plan(
        cls, *, external_id: str, zone: str, plan: str, seats: Decimal, active_from: datetime, seed: int
    ) -> Meter:
        rng = random.Random(f"{seed}:meter:{external_id}")
        n = int(seats)
        if plan == PERSONAL:
            users, devices, relay = rng.randint(1, 3), rng.uniform(3, 45), rng.uniform(0.05, 0.6)
        elif plan == PERSONAL_PLUS:
            users, devices, relay = rng.randint(2, 6), rng.uniform(15, 160), rng.uniform(0.3, 3.0)
        elif plan == ENTERPRISE:
            users, devices, relay = rng.randint(80, 260), rng.uniform(300, 1400), rng.uniform(20, 90)
        else:
            users = max(1, round(n * rng.uniform(0.8, 1.0)))
            per_seat = (1.5, 4.0) if plan == STARTER else (2.0, 5.0)
            devices = n * rng.uniform(*per_seat)
            relay = n * rng.uniform(0.1, 0.45 if plan == STARTER else 0.55)
        meter = cls(
            external_id=external_id,
            zone=ZoneInfo(zone),
            users=users,
            devices=devices,
            device_growth=rng.uniform(0.01, 0.06),
            relay_gb_per_day=relay,
            active_from=active_from,
        )
        if plan in (STARTER, PREMIUM) and n:
            meter.user_share, meter.relay_per_seat = users / n, relay / n
        return meter

    def resize(self, *, plan: str, seats: Decimal) -> None:
        """New seats (or an upgrade): more users connect and more traffic flows from now on."""
        n = int(seats)
        if plan not in (STARTER, PREMIUM) or not n:
            return
        old = max(self.users, 1)
        self.users = max(1, round(n * self.user_share))
        if self.relay_per_seat:
            self.relay_gb_per_day = n * self.relay_per_seat * (1.15 if plan == PREMIUM else 1.0)
        self.devices *= self.users / old

    def events(self, day: datetime, *, seed: int) -> list[EventIn]:
        """This meter's events on the UTC day starting at ``day`` (midnight UTC)."""
        rng = random.Random(f"{seed}:usage:{self.external_id}:{day.date().isoformat()}")
        weekday = (day + timedelta(hours=12)).astimezone(self.zone).weekday()
        months = max((day - self.active_from).days, 0) / 30
        stamp = f"{self.external_id}-{day:%Y%m%d}"
        out: list[EventIn] = []

        def local_weight(hour: int) -> float:
            return HOURLY_TRAFFIC[(day + timedelta(hours=hour)).astimezone(self.zone).hour]

        # relay traffic: the day's total, spread over six readings by the local hour
        total = (
            self.relay_gb_per_day
            * WEEKDAY_TRAFFIC[weekday]
            * (1 + 0.04 * months)
            * rng.lognormvariate(0, 0.2)
        )
        weights = [local_weight(h) for h in RELAY_HOURS]
        for index, (hour, weight) in enumerate(zip(RELAY_HOURS, weights, strict=True)):
            gb = Decimal(f"{total * weight / sum(weights):.3f}")
            if gb > 0:
                at = day + timedelta(hours=hour, seconds=rng.randint(0, 3599))
                out.append(_event(f"{stamp}-relay-{index}", self.external_id, "relay_gb", at, {"gb": gb}))
        # enrolled devices: one reading a day
        devices = max(1, round(self.devices * (1 + self.device_growth * months) * rng.uniform(0.97, 1.03)))
        at = day + timedelta(hours=rng.randint(6, 20), seconds=rng.randint(0, 3599))
        out.append(_event(f"{stamp}-devices", self.external_id, "devices", at, {"devices": devices}))
        # active users: who connected today
        share = rng.uniform(0.55, 0.85) if weekday < 5 else rng.uniform(0.05, 0.2)
        count = min(self.users, MAX_USER_EVENTS_PER_DAY, round(self.users * share) or int(weekday < 5))
        hours = rng.choices(range(24), weights=[local_weight(h) for h in range(24)], k=count)
        for user, hour in zip(rng.sample(range(1, self.users + 1), count), hours, strict=True):
            at = day + timedelta(hours=hour, seconds=rng.randint(0, 3599))
            out.append(
                _event(
                    f"{stamp}-user-{user}", self.external_id, "active_users", at, {"user_id": f"u{user:03d}"}
                )
            )
        return [e for e in out if e.timestamp >= self.active_from]


def _event(event_id: str, customer: str, metric: str, at: datetime, properties: dict[str, object]) -> EventIn:
    return EventIn(
        event_id=f"demo-{event_id}", customer=customer, metric=metric, timestamp=at, properties=properties
    )


class UsageFeed:
    """Generates the meters' events day by day and ingests them as business time advances."""

    def __init__(self, *, seed: int) -> None:
        self.seed = seed
        self.meters: dict[str, Meter] = {}
        self.next_day: datetime | None = None  # the first UTC day not generated yet
        self._pending: list[tuple[datetime, int, EventIn]] = []
        self._order = 0
        self.sent = 0

    def join(self, meter: Meter) -> None:
        """Start sending ``meter``'s usage from its ``active_from``."""
        self.meters[meter.external_id] = meter
        if self.next_day is not None and meter.active_from < self.next_day:
            self._push(meter.events(self.next_day - DAY, seed=self.seed))  # today was generated already

    def leave(self, external_id: str, at: datetime) -> None:
        """No usage from ``at`` on (the subscription ended)."""
        self.meters[external_id].active_until = at

    def meter(self, external_id: str) -> Meter:
        return self.meters[external_id]

    def behind(self, to: datetime) -> timedelta:
        """How long before ``to`` the oldest event not sent yet is (0 when nothing waits)."""
        oldest = self._pending[0][0] if self._pending else self.next_day
        return max(to - oldest, timedelta(0)) if oldest is not None else timedelta(0)

    def generate(self, to: datetime) -> None:
        """Generate every UTC day that starts before ``to`` (for the meters as they are now)."""
        if self.next_day is None:
            self.next_day = to.replace(hour=0, minute=0, second=0, microsecond=0)
        while self.next_day < to:
            day = self.next_day
            for meter in self.meters.values():
                if meter.active_until is None or meter.active_until > day:
                    self._push(meter.events(day, seed=self.seed))
            self.next_day = day + DAY

    def advance(self, to: datetime) -> int:
        """Ingest every event before ``to`` (as the product would have by then); return how many."""
        self.generate(to)
        batch: list[EventIn] = []
        while self._pending and self._pending[0][0] < to:
            event = heapq.heappop(self._pending)[2]
            sender = self.meters.get(event.customer)
            if sender is not None and (sender.active_until is None or event.timestamp < sender.active_until):
                batch.append(event)
        for index in range(0, len(batch), MAX_EVENTS):
            usage_events_ingest(events=batch[index : index + MAX_EVENTS], now=to)
        self.sent += len(batch)
        return len(batch)

    def _push(self, events: list[EventIn]) -> None:
        for event in events:
            self._order += 1
            heapq.heappush(self._pending, (event.timestamp, self._order, event))

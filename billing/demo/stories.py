"""Who the demo customers are as a business: their plan, seats, when they joined and what happened since.

Pure planning, no database: ``plan_stories`` turns the customers that get a history into ``Story``
objects, deterministically (``random.Random``). The mix, for ``n`` customers (``n >= 20``):

- about 40% on Personal (free), 10% on Personal Plus, 30% on Starter (3-40 seats), 15% on Premium
  (5-120 seats), a few on Enterprise; EUR customers on the ``-eur`` plans;
- Starter and Premium customers mostly start with the plan's 14-day trial; five trials started in the
  last three weeks are still running (the older two got a 30-day trial);
- a third of the customers joined six to seven months before ``today``, the others since;
- fixed stories, each on its own customer: two Starter -> Premium upgrades invoiced at once
  (``always_invoice``), three seat increases prorated on the next invoice (``create_prorations``), one
  seat decrease at the period's end, six cancellations (three at the period's end, two at once with the
  unused time credited, one trial that did not convert), ``launch20`` on three subscriptions, a welcome
  coupon, and an onboarding fee invoiced on its own.

What happens to invoices (payments, a failed card, a void, a credit note) is decided while the history
runs (``billing.demo.history``): it depends on the invoices the billing code produced.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

# six months of history before ``today``; a third of the customers joined six to seven months before it
HISTORY_DAYS = 182
EARLY_DAYS = 212
MIN_HISTORY_CUSTOMERS = 20

PERSONAL = "personal"
PERSONAL_PLUS = "personal-plus"
STARTER = "starter"
PREMIUM = "premium"
ENTERPRISE = "enterprise"

# what a step does (billing.demo.history carries it out through invoicing.services.subscription_invoicing)
UPGRADE = "upgrade"  # plan change now, prorations invoiced at once (always_invoice)
ADD_SEATS = "add_seats"  # more seats now, prorations on the next invoice (create_prorations)
SEATS_AT_PERIOD_END = "seats_at_period_end"  # fewer seats from the next period
CANCEL_NOW = "cancel_now"  # a final invoice: usage so far, the unused time credited
CANCEL_AT_PERIOD_END = "cancel_at_period_end"
ONBOARDING_FEE = "onboarding_fee"  # a one-off charge on its own invoice

ONBOARDING_FEE_AMOUNT = {"USD": Decimal("2500.00"), "EUR": Decimal("2300.00")}


def plan_code(plan: str, currency: str) -> str:
    """The catalog code of a plan in a currency: ``starter`` / ``starter-eur``."""
    return plan if currency == "USD" else f"{plan}-{currency.lower()}"


@dataclass(frozen=True)
class Member:
    """A customer who gets a history: what the stories need to know about it."""

    external_id: str
    currency: str


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str
    plan: str = ""  # UPGRADE: the new plan (base code)
    seats: Decimal | None = None  # ADD_SEATS, SEATS_AT_PERIOD_END: the new quantity
    amount: Decimal | None = None  # ONBOARDING_FEE


@dataclass(frozen=True)
class Story:
    external_id: str
    currency: str
    plan: str  # base code: personal, personal-plus, starter, premium, enterprise
    seats: Decimal
    start: datetime
    trial_days: int | None  # None: the plan's own trial (14 days on Starter and Premium)
    coupon: str = ""
    steps: tuple[Step, ...] = ()
    role: str = ""  # what the story shows, for people and tests: "upgrade", "trial", ...

    @property
    def plan_code(self) -> str:
        return plan_code(self.plan, self.currency)


def _mix(n: int) -> dict[str, int]:
    counts = {
        ENTERPRISE: max(1, round(n * 0.04)),
        PREMIUM: max(5, round(n * 0.15)),
        STARTER: max(10, round(n * 0.30)),
        PERSONAL_PLUS: max(2, round(n * 0.10)),
    }
    counts[PERSONAL] = n - sum(counts.values())
    return counts


def _seats(rng: random.Random, plan: str) -> Decimal:
    if plan == STARTER:
        return Decimal(3 + int(37 * rng.random() ** 2))
    if plan == PREMIUM:
        return Decimal(5 + int(115 * rng.random() ** 2.5))
    return Decimal(1)


def _day(today: datetime, days_before: float, rng: random.Random) -> datetime:
    """``days_before`` today, in office hours UTC, to the second."""
    moment = today - timedelta(days=int(days_before))
    return moment.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59), second=rng.randint(0, 59))


def plan_stories(members: Sequence[Member], *, today: datetime, seed: int = 42) -> tuple[Story, ...]:
    """One story per member (see the module docs); the same members and ``today`` give the same stories."""
    n = len(members)
    if n < MIN_HISTORY_CUSTOMERS:
        raise ValueError(f"A demo history needs at least {MIN_HISTORY_CUSTOMERS} customers, not {n}.")
    if today.tzinfo is None:
        raise ValueError("today must carry a UTC offset.")
    today = today.astimezone(UTC)
    rng = random.Random(f"{seed}:stories")
    counts = _mix(n)
    # the fixed stories first, then the plain customers of each plan
    # the fixed stories first (plan, role, days before today their step happens), then plain customers
    roles: list[tuple[str, str, int]] = [
        (STARTER, "seats-then-upgrade", 150),
        (STARTER, "coupon-then-upgrade", 96),
        (STARTER, "cancel-now", 111),
        (STARTER, "cancel-now", 47),
        (STARTER, "cancel-at-period-end", 83),
        (STARTER, "coupon-and-seats", 71),
        (STARTER, "trial-canceled", 80),
        (PREMIUM, "cancel-at-period-end", 41),
        (PREMIUM, "coupon-and-seats", 101),
        (PREMIUM, "seats-down", 52),
        (PERSONAL_PLUS, "cancel-at-period-end", 124),
        (PERSONAL_PLUS, "welcome-coupon", 0),
        (ENTERPRISE, "onboarding-fee", 0),
        *[(STARTER, "trial", age) for age in (3, 10, 19)],
        *[(PREMIUM, "trial", age) for age in (6, 15)],
    ]
    for plan, count in counts.items():
        roles += [(plan, "", 0)] * (count - sum(1 for p, _, _ in roles if p == plan))
    shuffled = list(members)
    rng.shuffle(shuffled)

    first_month = today - timedelta(days=EARLY_DAYS)
    history_days = HISTORY_DAYS
    stories: list[Story] = []
    for member, (plan, role, days) in zip(shuffled, roles, strict=True):
        early = (role not in ("", "trial", "trial-canceled")) or rng.random() < 0.35
        if role in ("trial", "trial-canceled"):
            start = _day(today, days, rng)
        elif early:
            start = first_month + timedelta(days=rng.uniform(0, 27), hours=rng.uniform(7, 17))
        else:
            # paid plans start with a 14-day trial: only the five trial stories are still trialing today
            latest = 3 if plan in (PERSONAL, PERSONAL_PLUS, ENTERPRISE) else 20
            start = _day(today, rng.uniform(latest, history_days), rng)
        start = start.replace(microsecond=0)
        story = Story(
            external_id=member.external_id,
            currency=member.currency,
            plan=plan,
            seats=_seats(rng, plan),
            start=start,
            trial_days=None,
            role=role or "plain",
        )
        stories.append(_with_role(story, role, days, today, rng))
    return tuple(sorted(stories, key=lambda s: s.external_id))


def _with_role(story: Story, role: str, days: int, today: datetime, rng: random.Random) -> Story:
    """The story's steps: ``days`` before ``today`` for the dated ones."""
    when = _day(today, days, rng)
    more = story.seats + max(2, int(story.seats * Decimal("0.4")))
    if role == "":
        # most Starter and Premium customers try the plan first; a quarter buy it outright
        if story.plan in (STARTER, PREMIUM) and rng.random() < 0.25:
            return replace(story, trial_days=0)
        return story
    if role == "seats-then-upgrade":
        upgrade = Step(_day(today, 62, rng), UPGRADE, plan=PREMIUM)
        return replace(story, steps=(Step(when, ADD_SEATS, seats=more), upgrade))
    if role == "coupon-then-upgrade":
        return replace(story, coupon="launch20", steps=(Step(when, UPGRADE, plan=PREMIUM),))
    if role == "cancel-now":
        return replace(story, steps=(Step(when, CANCEL_NOW),))
    if role == "cancel-at-period-end":
        return replace(story, steps=(Step(when, CANCEL_AT_PERIOD_END),))
    if role == "coupon-and-seats":
        return replace(story, coupon="launch20", steps=(Step(when, ADD_SEATS, seats=more),))
    if role == "seats-down":
        seats = max(story.seats, Decimal(12))
        fewer = (seats * Decimal("0.7")).to_integral_value()
        return replace(story, seats=seats, steps=(Step(when, SEATS_AT_PERIOD_END, seats=fewer),))
    if role == "trial-canceled":
        return replace(story, steps=(Step(story.start + timedelta(days=9, hours=3), CANCEL_NOW),))
    if role == "welcome-coupon":
        return replace(story, coupon="welcome10" if story.currency == "USD" else "welcome10-eur")
    if role == "onboarding-fee":
        fee = ONBOARDING_FEE_AMOUNT[story.currency]
        return replace(story, steps=(Step(story.start + timedelta(days=2), ONBOARDING_FEE, amount=fee),))
    if role == "trial":
        # still trialing today: 14 days when it started less than 13 days ago, else an extended trial
        return replace(story, trial_days=14 if days <= 12 else 30)
    raise ValueError(f"Unknown story role {role!r}.")

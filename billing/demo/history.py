"""Six months of the demo business, run through the real billing code in business time.

``seed_history`` plays the customers' stories (``billing.demo.stories``) on a simulated clock that ends
at ``today`` (default: the current day, 00:00 UTC). Every action happens at its business time, in order,
and only through the services: subscriptions and their changes (``subscription_invoicing``; Enterprise
deals are contracts finance approved, ``.contracts``); usage (``billing.demo.usage``), sent before every
action that bills; a billing run every day something is due, which also finalizes drafts past their
review window; card payments within hours of issue, transfers near the end of net terms (so the open
invoices today are those not due yet and those whose card failed); up to four failed card payments in the
last five weeks (``FAILED_PAYMENTS_DAYS_BEFORE``) with a daily ``dunning_run`` (the older two went
through the whole schedule); one invoice voided; one partial credit note on a paid invoice.

Each simulated day is one transaction (a seed stopped half-way keeps the days before it: reset the
database and seed again). Dunning e-mails go nowhere: the customers and their domains are made up.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Customer
from billing.demo.contracts import enterprise_contract_open
from billing.demo.stories import (
    ADD_SEATS,
    CANCEL_AT_PERIOD_END,
    CANCEL_NOW,
    ENTERPRISE,
    ONBOARDING_FEE,
    SEATS_AT_PERIOD_END,
    UPGRADE,
    Member,
    Step,
    Story,
    plan_code,
    plan_stories,
)
from billing.demo.usage import DAY, Meter, UsageFeed
from billing.models import ProrationBehavior, Subscription
from invoicing.models import Invoice, InvoiceStatus
from invoicing.services import subscription_invoicing
from invoicing.services.billing_runs import (
    billing_run_create,
    billing_run_execute,
    due_subscriptions,
    review_window,
)
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.dunning import dunning_run
from invoicing.services.finalization import invoice_void
from invoicing.services.payment_outcomes import payment_failed_record
from invoicing.services.payments import invoice_record_payment

SEED = 42
USAGE_MAX_DELAY = timedelta(days=20)  # the late-event limit is 35 days
FAILED_PAYMENTS_DAYS_BEFORE = (33, 24, 14, 8)
FAILED_PAYMENT_MAX = Decimal(500)  # declined cards are small customers' cards
VOID_DAYS_BEFORE = 55
CREDIT_NOTE_DAYS_BEFORE = 38
CREDIT_NOTE_SHARE = Decimal("0.20")

Say = Callable[[str], None]


class DemoHistoryError(RuntimeError):
    """The billing code refused part of the demo history: a bug to fix, never to paper over."""


def demo_today(now: datetime | None = None) -> datetime:
    """The demo's "today": the current day, 00:00 UTC. The history ends there, so the demo opens on
    current periods and open invoices not yet due; the same day gives the same data."""
    moment = (now or timezone.now()).astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def history_exists(external_ids: Sequence[str]) -> bool:
    """True when any of these customers has a subscription: the history was seeded (or they are real)."""
    return Subscription.objects.filter(customer__external_id__in=list(external_ids)).exists()


@dataclass
class HistoryReport:
    """What ``seed_history`` did."""

    today: datetime
    subscriptions: int = 0
    changes: int = 0
    cancellations: int = 0
    one_off_charges: int = 0
    billing_runs: int = 0
    payments: int = 0
    failed_payments: int = 0
    dunning_steps: int = 0
    voided: int = 0
    credit_notes: int = 0
    usage_events: int = 0
    seconds: float = 0.0
    stories: tuple[Story, ...] = field(default_factory=tuple, repr=False)


def seed_history(
    *, external_ids: Sequence[str], today: datetime, seed: int = SEED, say: Say | None = None
) -> HistoryReport:
    """Play the history of these customers up to ``today`` (module docs); the caller checks it is not there."""
    started = time.monotonic()
    customers = {c.external_id: c for c in Customer.objects.filter(external_id__in=list(external_ids))}
    missing = sorted(set(external_ids) - set(customers))
    if missing:
        raise DemoHistoryError(f"No customer {missing[0]!r}: seed the customers first.")
    members = [Member(external_id=i, currency=customers[i].currency) for i in external_ids]
    stories = plan_stories(members, today=today, seed=seed)
    simulation = _Simulation(customers=customers, stories=stories, today=today, seed=seed, say=say)
    # a demo never e-mails its customers: their names and domains are made up, but they look real
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
        simulation.run()
    report = simulation.report
    report.usage_events = simulation.feed.sent
    report.seconds = round(time.monotonic() - started, 1)
    report.stories = stories
    return report


class _Simulation:
    def __init__(
        self,
        *,
        customers: dict[str, Customer],
        stories: Sequence[Story],
        today: datetime,
        seed: int,
        say: Say | None,
    ) -> None:
        self.customers = customers
        self.customer_ids = [c.pk for c in customers.values()]
        self.net_terms = {c.pk: c.net_terms_days for c in customers.values()}  # how each customer pays
        self.stories = stories
        self.today = today
        self.seed = seed
        self.say = say or (lambda message: None)
        self.report = HistoryReport(today=today)
        self.feed = UsageFeed(seed=seed)
        self.subscriptions: dict[str, int] = {}  # external id -> subscription id
        self.delinquent: set[int] = set()  # customers whose card failed: they pay nothing more
        self.unpaid: set[int] = set()  # invoices that are never paid (failed, voided)
        # the first card invoice issued after each of these fails; the first invoice after void_from is voided
        self.fail_from = sorted(today - timedelta(days=d) for d in FAILED_PAYMENTS_DAYS_BEFORE)
        self.void_from: datetime | None = today - timedelta(days=VOID_DAYS_BEFORE)
        self._queue: list[tuple[datetime, int, bool, Callable[[datetime], None]]] = []
        self._order = 0

    # --- the clock ----------------------------------------------------------------------------------

    def at(self, when: datetime, action: Callable[[datetime], None], *, bills: bool = False) -> None:
        """Do ``action`` at business time ``when`` (nothing after today happens); an action that ``bills``
        (a billing run, a change, a cancellation) first gets the usage sent until then."""
        if when <= self.today:
            self._order += 1
            heapq.heappush(self._queue, (when, self._order, bills, action))

    def run(self) -> None:
        for story in self.stories:
            self.at(story.start, partial(self.subscribe, story))
        first = min(s.start for s in self.stories).replace(hour=0, minute=0, second=0, microsecond=0)
        day = first + DAY
        while day <= self.today:
            self.at(day, self.bill)  # it sends the usage itself, when it runs
            self.at(day + timedelta(hours=12), self.dun)
            day += DAY
        self.at(self.today - timedelta(days=CREDIT_NOTE_DAYS_BEFORE, hours=-15), self.credit_one)
        month = ""
        while self._queue:
            day = self._queue[0][0].replace(hour=0, minute=0, second=0, microsecond=0)
            if f"{day:%Y-%m}" != month:
                month = f"{day:%Y-%m}"
                self.say(f"history: {month} ({self.report.subscriptions} subscriptions so far)")
            with transaction.atomic():  # one business day
                while self._queue and self._queue[0][0] < day + DAY:
                    when, _, bills, action = heapq.heappop(self._queue)
                    self.feed.generate(when)
                    if bills:
                        self.feed.advance(when)
                    action(when)
        with transaction.atomic():  # the usage of the last days, as the product has sent it by today
            self.feed.advance(self.today)

    # --- subscriptions ------------------------------------------------------------------------------

    def subscribe(self, story: Story, when: datetime) -> None:
        customer = self.customers[story.external_id]
        if story.plan == ENTERPRISE:  # contracts hook: an Enterprise deal is a contract finance approved
            sub_id, self.net_terms[customer.pk] = enterprise_contract_open(story, customer, when)
        else:
            sub, _ = subscription_invoicing.subscription_create(
                customer=customer,
                plan_code=story.plan_code,
                start=story.start,
                quantity=story.seats,
                coupon_code=story.coupon or None,
                trial_days=story.trial_days,
            )
            sub_id = sub.pk
        self.subscriptions[story.external_id] = sub_id
        self.report.subscriptions += 1
        self.feed.join(
            Meter.for_plan(
                external_id=story.external_id,
                zone=customer.timezone,
                plan=story.plan,
                seats=story.seats,
                active_from=story.start,
                seed=self.seed,
            )
        )
        for step in story.steps:
            self.at(step.at, partial(self.take_step, story, step), bills=True)

    def take_step(self, story: Story, step: Step, when: datetime) -> None:
        sub_id = self.subscriptions[story.external_id]
        meter = self.feed.meter(story.external_id)
        if step.kind == UPGRADE:
            sub, _ = subscription_invoicing.subscription_change(
                subscription_id=sub_id,
                at=when,
                proration=ProrationBehavior.ALWAYS_INVOICE,
                plan_code=plan_code(step.plan, story.currency),
            )
            meter.resize(plan=step.plan, seats=sub.quantity)
            self.report.changes += 1
        elif step.kind == ADD_SEATS:
            assert step.seats is not None
            subscription_invoicing.subscription_change(
                subscription_id=sub_id,
                at=when,
                proration=ProrationBehavior.CREATE_PRORATIONS,
                quantity=step.seats,
            )
            meter.resize(plan=story.plan, seats=step.seats)
            self.report.changes += 1
        elif step.kind == SEATS_AT_PERIOD_END:
            assert step.seats is not None
            seats = step.seats
            sub, _ = subscription_invoicing.subscription_change(
                subscription_id=sub_id, at="period_end", proration=ProrationBehavior.NONE, quantity=seats
            )
            self.at(sub.current_period_end, lambda _when: meter.resize(plan=story.plan, seats=seats))
            self.report.changes += 1
        elif step.kind == CANCEL_NOW:
            subscription_invoicing.subscription_cancel(subscription_id=sub_id, at=when)
            self.feed.leave(story.external_id, when)
            self.report.cancellations += 1
        elif step.kind == CANCEL_AT_PERIOD_END:
            sub, _ = subscription_invoicing.subscription_cancel(subscription_id=sub_id, at="period_end")
            self.feed.leave(story.external_id, sub.cancel_at or sub.current_period_end)
            self.report.cancellations += 1
        elif step.kind == ONBOARDING_FEE:
            assert step.amount is not None
            subscription_invoicing.one_off_charge_create(
                customer=self.customers[story.external_id],
                description="Onboarding: SSO setup and a rollout workshop",
                unit_amount=step.amount,
                invoice_now=True,
                at=when,
            )
            self.report.one_off_charges += 1
        else:
            raise DemoHistoryError(f"Unknown step {step.kind!r}.")

    # --- billing runs and dunning -------------------------------------------------------------------

    def _drafts_due(self, when: datetime) -> bool:
        cutoff = when - review_window()
        return Invoice.objects.filter(status=InvoiceStatus.DRAFT, billing_date__lte=cutoff).exists()

    def bill(self, when: datetime) -> None:
        """The day's billing run, when anything is due: bill ended periods, finalize reviewed drafts."""
        if not (due_subscriptions(when).exists() or self._drafts_due(when)):
            if self.feed.behind(when) > USAGE_MAX_DELAY:
                self.feed.advance(when)  # never near the late-event limit, even when nothing is billed
            return
        self.feed.advance(when)
        run = billing_run_execute(run_id=billing_run_create(as_of=when).pk)
        self.report.billing_runs += 1
        if run.failures_count:
            errors = "; ".join(f"subscription {f.subscription_id}: {f.error}" for f in run.failures.all()[:5])
            raise DemoHistoryError(f"Billing run as of {when.isoformat()} failed: {errors}")
        if self._drafts_due(when):
            raise DemoHistoryError(
                f"Billing run as of {when.isoformat()} left drafts unfinalized (see the log)."
            )
        issued = Invoice.objects.filter(
            customer_id__in=self.customer_ids, status=InvoiceStatus.OPEN, issued_at=when
        ).order_by("id")
        for invoice in issued:
            self.plan_payment(invoice)

    def dun(self, when: datetime) -> None:
        if self.delinquent:
            self.report.dunning_steps += dunning_run(as_of=when)

    # --- collecting ---------------------------------------------------------------------------------

    def plan_payment(self, invoice: Invoice) -> None:
        """What becomes of a newly issued open invoice: paid (by card at once, near the due date on terms;
        still open today when that is after today), voided, or a declined card."""
        if invoice.customer_id in self.delinquent:
            return
        issued = invoice.issued_at
        assert issued is not None
        rng = random.Random(f"{self.seed}:pay:{invoice.number}")
        if self.void_from is not None and issued >= self.void_from:
            self.void_from = None
            self.unpaid.add(invoice.pk)
            self.at(issued + timedelta(days=2, hours=rng.randint(8, 16)), partial(self.void, invoice.pk))
            return
        terms = self.net_terms[invoice.customer_id]
        small_card_payer = terms == 0 and 0 < invoice.amount_due <= FAILED_PAYMENT_MAX
        if self.fail_from and issued >= self.fail_from[0] and small_card_payer:
            self.fail_from.pop(0)
            self.delinquent.add(invoice.customer_id)
            self.unpaid.add(invoice.pk)
            self.at(issued + timedelta(days=1, hours=rng.randint(1, 6)), partial(self.fail, invoice.pk))
            return
        if terms:
            # by bank transfer near the end of the terms: an invoice not due yet is still open today
            days = terms - rng.randint(1, 3)  # a few days before the due date: never overdue
            pay_at = issued + timedelta(days=days, hours=rng.randint(1, 9), minutes=rng.randint(0, 59))
        else:
            # the card is charged when the invoice is issued (a card invoice is due at once): within
            # hours, and by the end of the history at the latest, so no card invoice is left past due
            pay_at = min(issued + timedelta(hours=rng.randint(0, 9), minutes=rng.randint(1, 59)), self.today)
        self.at(pay_at, partial(self.pay, invoice.pk))

    def pay(self, invoice_id: int, when: datetime) -> None:
        invoice = Invoice.objects.get(pk=invoice_id)
        if invoice.status != InvoiceStatus.OPEN or invoice.payment_failed_at is not None:
            return
        card = self.net_terms[invoice.customer_id] == 0
        invoice_record_payment(
            invoice_id=invoice.pk,
            amount=Decimal(invoice.amount_due),
            at=when,
            method="stripe" if card else "bank_transfer",
            reference=f"demo-{'ch' if card else 'wire'}-{invoice.number}",
        )
        self.report.payments += 1

    def fail(self, invoice_id: int, when: datetime) -> None:
        """The card is declined: the invoice is past due and dunning starts."""
        # a failed payment row (the payments list and the invoice show it) and dunning, as Stripe's report would
        invoice = Invoice.objects.get(pk=invoice_id)
        payment_failed_record(
            invoice_id=invoice_id,
            amount=Decimal(invoice.amount_due),
            at=when,
            method="stripe",
            reference=f"demo-pi-{invoice.number}",
            failure_message="Your card has insufficient funds. (card_declined: insufficient_funds)",
        )
        self.report.failed_payments += 1

    def void(self, invoice_id: int, when: datetime) -> None:
        """Finance voids an invoice issued in error (it keeps its number)."""
        invoice_void(invoice_id=invoice_id, at=when)
        self.report.voided += 1

    def credit_one(self, when: datetime) -> None:
        """A service credit (an SLA breach) on the largest invoice paid this month: a partial credit note."""
        invoice = (
            Invoice.objects.filter(
                customer_id__in=self.customer_ids,
                status=InvoiceStatus.PAID,
                total__gt=0,
                issued_at__gte=when - timedelta(days=35),
            )
            .order_by("-total", "id")
            .first()
        )
        if invoice is None:
            self.say(f"history: no paid invoice to credit on {when:%Y-%m-%d}")
            return
        amount = (Decimal(invoice.total) * CREDIT_NOTE_SHARE).quantize(Decimal("0.01"), ROUND_HALF_UP)
        outage = (when - timedelta(days=6)).strftime("%b %-d")
        credit_note_create(
            invoice_id=invoice.pk,
            amount=amount,
            reason=f"SLA service credit: relay outage in eu-west on {outage} (20% of the invoice).",
            at=when,
        )
        self.report.credit_notes += 1

"""``seed_demo``: the demo's Enterprise customers are on real contracts, billed through six months."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billing.demo.seed import seed_demo
from billing.models import Contract
from invoicing.models import BalanceTransaction, InvoiceLine

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr("invoicing.services.invoice_documents.invoice_pdf", lambda **kwargs: b"%PDF-1.7 test")


def test_enterprise_customers_are_billed_by_their_approved_contracts() -> None:
    seed_demo(customers=30, history_customers=24)
    contracts = list(Contract.objects.select_related("subscription__plan_version__plan"))
    assert contracts and all(c.status == "active" for c in contracts)
    for contract in contracts:
        steps = [
            (s.action, s.user and s.user.username) for s in contract.approval_steps.select_related("user")
        ]
        assert steps == [("submitted", "sales"), ("approved", "finance")]
        assert contract.phases.count() == 2
        assert contract.subscription is not None
        assert contract.subscription.plan_version.plan.code.startswith(f"{contract.plan.code}-contract-")
        lines = InvoiceLine.objects.filter(subscription=contract.subscription)
        platform = lines.filter(description__startswith="Platform fee").values_list("amount", flat=True)
        assert platform and all(
            amount > 0 for amount in platform
        )  # the contract's fee, not the 0.00 placeholder
        assert lines.filter(kind="commitment").exists()  # a month below the minimum spend was trued up
        drawn = BalanceTransaction.objects.filter(
            customer=contract.customer, grant__isnull=False, amount__gt=0
        )
        assert sum((row.amount for row in drawn), Decimal(0)) > 0  # the prepaid credit paid invoices

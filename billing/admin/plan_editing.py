"""Finance edits a plan in one form and saves the result as a new plan version.

The form starts from the plan's newest version: its name and trial, each price's amounts (tiers as one
line each), whether to keep the price, and the entitlements. "Preview" shows the new version against the
current one, field by field, with the changes marked; "Save as version N+1" calls ``plan_create`` (the
same service as ``POST /api/v1/plans``), so the old version and its subscribers stay untouched until
finance moves them (the subscription action "Move to the newest version at next period").
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from billing.display import format_money
from billing.services.catalog import PlanDraft, PriceDraft, TierDraft

# the amount fields of a price that the form offers, in the order people read them
AMOUNT_FIELDS = ("amount", "unit_amount", "package_amount", "percent", "minimum_amount", "maximum_amount")
AMOUNT_LABELS = {
    "amount": "amount",
    "unit_amount": "unit price",
    "package_amount": "package price",
    "percent": "percent",
    "minimum_amount": "minimum",
    "maximum_amount": "maximum",
}


def plain(value: Decimal) -> str:
    """``0.1`` for ``0.100000000000``, ``0`` for ``0E-12``: a stored amount as a person types it."""
    return format(value.normalize(), "f") if value else "0"


def tiers_text(tiers: tuple[TierDraft, ...]) -> str:
    """Tiers as the form shows them: ``up_to unit_price flat_fee`` per line, ``inf`` for no limit."""
    return "\n".join(
        f"{'inf' if t.up_to is None else plain(t.up_to)} {plain(t.unit_amount)} {plain(t.flat_amount)}"
        for t in tiers
    )


def parse_tiers(text: str) -> tuple[TierDraft, ...]:
    tiers = []
    for number, raw in enumerate(text.strip().splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise forms.ValidationError(f"Tier line {number}: write 'up_to unit_price [flat_fee]'.")
        try:
            up_to = None if parts[0].lower() in ("inf", "-", "none") else Decimal(parts[0])
            unit = Decimal(parts[1])
            flat = Decimal(parts[2]) if len(parts) == 3 else Decimal(0)
        except InvalidOperation as exc:
            raise forms.ValidationError(f"Tier line {number}: {raw!r} is not made of numbers.") from exc
        tiers.append(TierDraft(up_to, unit, flat))
    return tuple(tiers)


def features_text(features: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in sorted(features.items()))


def parse_features(text: str) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for number, raw in enumerate(text.strip().splitlines(), start=1):
        if not raw.strip():
            continue
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"Feature line {number}: write 'key = value'.")
        try:
            features[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Feature line {number}: {value.strip()!r} is not a value (true, false, a number, null)."
            ) from exc
    return features


class PlanEditForm(forms.Form):
    """The whole next version in one form; fields per price are named ``<code>__<field>``."""

    name = forms.CharField(max_length=200)
    trial_days = forms.IntegerField(min_value=0, max_value=730, label="trial (days)")
    features = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 50}),
        required=False,
        help_text="One entitlement a line: key = true, a number, or null for unlimited. "
        "A feature left out is not in the new version.",
    )

    def __init__(self, data: Any = None, *, current: PlanDraft) -> None:
        self.current = current
        initial = {
            "name": current.name,
            "trial_days": current.trial_days,
            "features": features_text(current.features),
        }
        for price in current.prices:
            initial[f"{price.code}__keep"] = True
            for name in AMOUNT_FIELDS:
                if getattr(price, name) is not None:
                    initial[f"{price.code}__{name}"] = plain(getattr(price, name))
            if price.tiers:
                initial[f"{price.code}__tiers"] = tiers_text(price.tiers)
        super().__init__(data, initial=initial)
        for price in current.prices:
            self.fields[f"{price.code}__keep"] = forms.BooleanField(
                required=False, label="keep in the new version"
            )
            for name in AMOUNT_FIELDS:
                if getattr(price, name) is not None:
                    self.fields[f"{price.code}__{name}"] = forms.DecimalField(
                        label=AMOUNT_LABELS[name], max_digits=24, decimal_places=12
                    )
            if price.tiers:
                self.fields[f"{price.code}__tiers"] = forms.CharField(
                    widget=forms.Textarea(attrs={"rows": max(2, len(price.tiers)), "cols": 40}),
                    label="tiers",
                    help_text="up_to unit_price flat_fee, one tier a line; inf for the last",
                )

    def price_rows(self) -> list[tuple[PriceDraft, list[forms.BoundField]]]:
        """Each current price with its bound fields, for the template's table."""
        rows = []
        for price in self.current.prices:
            names = [f"{price.code}__keep"] + [
                f"{price.code}__{n}" for n in (*AMOUNT_FIELDS, "tiers") if f"{price.code}__{n}" in self.fields
            ]
            rows.append((price, [self[n] for n in names]))
        return rows

    def clean_features(self) -> dict[str, Any]:
        return parse_features(self.cleaned_data.get("features") or "")

    def draft(self) -> PlanDraft:
        """The new version as ``plan_create`` takes it (call after ``is_valid``)."""
        data = self.cleaned_data
        prices = []
        for price in self.current.prices:
            if not data.get(f"{price.code}__keep"):
                continue
            changes: dict[str, Any] = {
                name: data[f"{price.code}__{name}"]
                for name in AMOUNT_FIELDS
                if f"{price.code}__{name}" in self.fields
            }
            if f"{price.code}__tiers" in self.fields:
                try:
                    changes["tiers"] = parse_tiers(data[f"{price.code}__tiers"])
                except forms.ValidationError as exc:
                    self.add_error(f"{price.code}__tiers", exc)
                    continue
            prices.append(replace(price, **changes))
        return replace(
            self.current,
            name=data["name"],
            trial_days=data["trial_days"],
            features=data["features"],
            prices=tuple(prices),
        )


# --- the difference between two versions -----------------------------------------------------------


def _amount(value: Decimal | None, currency: str, name: str) -> str:
    if value is None:
        return "—"
    if name == "percent":
        return f"{plain(value)} %"
    return format_money(value, currency)


def _price_terms(price: PriceDraft, currency: str) -> list[tuple[str, str]]:
    terms = [
        (AMOUNT_LABELS[name], _amount(getattr(price, name), currency, name))
        for name in AMOUNT_FIELDS
        if getattr(price, name) is not None
    ]
    for t in price.tiers:
        bound = "no limit" if t.up_to is None else f"up to {plain(t.up_to)}"
        terms.append(
            (
                f"tier {bound}",
                f"{format_money(t.unit_amount, currency)} a unit + {format_money(t.flat_amount, currency)}",
            )
        )
    return terms


def plan_diff(current: PlanDraft, new: PlanDraft) -> list[tuple[str, str, str, bool]]:
    """Every term of the new version beside the current one: ``(what, current, new, changed)``.

    A price or feature only in one of them shows "—" on the other side.
    """
    rows: list[tuple[str, str, str, bool]] = []

    def add(what: str, old: str, new_value: str) -> None:
        rows.append((what, old, new_value, old != new_value))

    add("name", current.name, new.name)
    add("trial", f"{current.trial_days} days", f"{new.trial_days} days")
    old_prices = {p.code: p for p in current.prices}
    new_prices = {p.code: p for p in new.prices}
    for code in [*old_prices, *[c for c in new_prices if c not in old_prices]]:
        old_terms = dict(_price_terms(old_prices[code], current.currency)) if code in old_prices else {}
        new_terms = dict(_price_terms(new_prices[code], new.currency)) if code in new_prices else {}
        if code not in new_prices:
            add(f"price {code}", "kept", "removed")
            continue
        for term in [*old_terms, *[t for t in new_terms if t not in old_terms]]:
            add(f"price {code}: {term}", old_terms.get(term, "—"), new_terms.get(term, "—"))
    for key in sorted(set(current.features) | set(new.features)):
        old = json.dumps(current.features[key]) if key in current.features else "—"
        value = json.dumps(new.features[key]) if key in new.features else "—"
        add(f"feature {key}", old, value)
    return rows

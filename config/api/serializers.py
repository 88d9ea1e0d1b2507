"""Input serializers that refuse what they do not know.

DRF drops unknown keys silently, so a misspelt optional field (``minimum_amout``, ``trial_dayz``, a
metric's ``filter`` for ``filters``) used to be accepted and ignored: the plan was created without its
minimum, the count metric counted everything. With this mixin an unknown key is a 400 naming it, at any
depth (``prices[0].tiers[1].flat_amout``), reported together with the other errors of the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail


class RejectUnknownFieldsMixin:
    """For a ``Serializer``: keys that are not among its fields are errors (read-only ones are known)."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[ErrorDetail]] = {}
        if isinstance(data, Mapping):
            unknown = {
                str(name): [ErrorDetail(f"Unknown field {name!r}.", code="invalid")]
                for name in sorted(set(data) - set(self.fields))
            }
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value

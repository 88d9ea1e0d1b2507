"""What every admin page needs to know about payments: dead Stripe calls (the banner in base_site)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest


class StripeAlerts:
    """Counted only when a template reads it (admin pages), once per request."""

    @cached_property
    def dead(self) -> int:
        from invoicing.models import StripeOutbox

        return StripeOutbox.objects.filter(status=StripeOutbox.Status.DEAD).count()


def stripe_alerts(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if (
        user is None
        or not getattr(user, "is_staff", False)
        or not user.has_perm("invoicing.view_stripeoutbox")
    ):
        return {}
    return {"stripe_alerts": StripeAlerts()}

"""``POST /stripe/webhook/``: Stripe's events (API.md "Stripe"). Not under the API's auth: the Stripe
signature is the auth. A bad signature is 400 and nothing is stored; a good event is stored once by
its id and applied by a task after commit, so the answer is fast (Stripe waits a few seconds at most).
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from invoicing.services.stripe_webhooks import stripe_event_store
from invoicing.stripe.client import event_verify
from invoicing.stripe.errors import StripeSignatureInvalid
from invoicing.stripe_monitoring import signature_failure_count


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = event_verify(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except StripeSignatureInvalid as exc:
        signature_failure_count(now=timezone.now())  # a spike alerts (stripe_webhook_signatures)
        return JsonResponse({"errors": [{"field": "Stripe-Signature", "message": str(exc)}]}, status=400)
    if not isinstance(event, dict) or not event.get("id"):
        return JsonResponse({"errors": [{"field": None, "message": "Not a Stripe event."}]}, status=400)
    with transaction.atomic():
        row, created = stripe_event_store(event=event)
    return JsonResponse({"received": True, "duplicate": not created, "id": row.stripe_id})

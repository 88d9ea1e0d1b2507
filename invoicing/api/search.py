"""``GET /api/v1/search?q=`` (API.md "Search"): one box for customers and invoices.

Staff roles (finance, sales, support) search; the product's integration role does not (it addresses
customers by external id). The admin header's search box calls this endpoint with the session.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import FieldError, ValidationFailed
from invoicing.admin_customer import customer_page_path
from invoicing.selectors.search import MAX_QUERY_LENGTH, search

DEFAULT_LIMIT = 10
MAX_LIMIT = 50


def search_params(request: Request) -> tuple[str, int]:
    errors: list[FieldError] = []
    q = request.query_params.get("q", "").strip()
    if not q:
        errors.append(FieldError("q", "Type what to look for: a name, e-mail, domain, id or invoice number."))
    elif len(q) > MAX_QUERY_LENGTH:
        errors.append(FieldError("q", f"At most {MAX_QUERY_LENGTH} characters."))
    raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    limit = DEFAULT_LIMIT
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        errors.append(FieldError("limit", f"A whole number from 1 to {MAX_LIMIT}."))
    else:
        limit = int(raw_limit)
    if errors:
        raise ValidationFailed(errors[0].message, errors=errors)
    return q, limit


class Search(APIView):
    required_permissions = {"GET": ["accounts.search_customers"]}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description="Name, e-mail, domain, external id, "
                "Stripe id or invoice number (or the start or a part of one).",
            ),
            OpenApiParameter(
                "limit", int, description=f"At most this many of each kind (default {DEFAULT_LIMIT})."
            ),
        ],
        responses=inline_serializer(
            "SearchResults",
            {
                "results": inline_serializer(
                    "SearchResult",
                    {
                        "type": serializers.ChoiceField(choices=["customer", "invoice"]),
                        "customer": serializers.CharField(help_text="The customer's external id."),
                        "label": serializers.CharField(),
                        "detail": serializers.CharField(),
                        "url": serializers.URLField(help_text="The customer's page in the admin."),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request: Request) -> Response:
        q, limit = search_params(request)
        results = [
            {
                "type": hit.kind,
                "customer": hit.customer,
                "label": hit.label,
                "detail": hit.detail,
                "url": request.build_absolute_uri(customer_page_path(hit.customer_id, hit.invoice_id)),
            }
            for hit in search(q=q, limit=limit)
        ]
        return Response({"results": results})

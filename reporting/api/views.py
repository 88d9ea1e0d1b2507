"""The finance reports (API.md, Reports): MRR and movements, revenue recognition, AR aging; JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from billing.api.usage_views import aware_param
from config.api.fields import format_amount
from config.errors import FieldError, ValidationFailed
from reporting.aging import BUCKETS, ar_aging_report
from reporting.currencies import report_currency
from reporting.months import Month, month_range, months_ending, parse_month
from reporting.mrr import MOVEMENTS, mrr_report
from reporting.revenue import revenue_report
from reporting.usage_revenue import usage_revenue_by_month

PERMISSION = {"GET": ["reporting.see_finance_reports"]}


class _NoFormatOverride:
    """DRF's settings, except that ``?format=`` is ours (csv), not a renderer override."""

    def __getattr__(self, name: str) -> Any:
        return None if name == "URL_FORMAT_OVERRIDE" else getattr(api_settings, name)


class ReportNegotiation(DefaultContentNegotiation):
    settings = _NoFormatOverride()  # type: ignore[assignment]


class ReportView(APIView):
    """A finance report: ``?format=csv`` answers a CSV file, anything else JSON."""

    required_permissions = PERMISSION
    content_negotiation_class = ReportNegotiation


CURRENCY = OpenApiParameter("currency", str, description="ISO 4217; default: the one with most customers.")
FORMAT = OpenApiParameter("format", str, enum=["json", "csv"], description="csv for a spreadsheet.")
MONTHS = [
    OpenApiParameter("from", str, description="First month, YYYY-MM (default: 11 months before `to`)."),
    OpenApiParameter("to", str, description="Last month, YYYY-MM (default: this month)."),
]


def months_param(request: Request) -> list[Month]:
    last = (
        parse_month(request.query_params["to"], field="to")
        if request.query_params.get("to")
        else Month.of(datetime.now(UTC))
    )
    if request.query_params.get("from"):
        return month_range(parse_month(request.query_params["from"], field="from"), last)
    return months_ending(last)


def wants_csv(request: Request) -> bool:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed("format must be json or csv.", field="format")
    return fmt == "csv"


def csv_response(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def money(value: Decimal, currency: str) -> str:
    return str(format_amount(value, currency))


def month_rows_schema(name: str, fields: tuple[str, ...]) -> Any:
    return inline_serializer(
        name,
        {
            "currency": serializers.CharField(),
            "months": serializers.ListField(
                child=inline_serializer(
                    f"{name}Month",
                    {"month": serializers.CharField(), **{f: serializers.CharField() for f in fields}},
                )
            ),
        },
    )


class MrrReport(ReportView):
    @extend_schema(
        parameters=[*MONTHS, CURRENCY, FORMAT], responses=month_rows_schema("MrrReport", ("mrr", *MOVEMENTS))
    )
    def get(self, request: Request) -> Any:
        currency = report_currency(request.query_params.get("currency"))
        csv_wanted = wants_csv(request)
        rows = mrr_report(currency=currency, months=months_param(request))
        fields = ("mrr", *MOVEMENTS)
        if csv_wanted:
            return csv_response(
                f"mrr-{currency}",
                ["month", "currency", *fields],
                [[str(r.month), currency, *[money(getattr(r, f), currency) for f in fields]] for r in rows],
            )
        usage = usage_revenue_by_month(currency=currency, months=[r.month for r in rows])
        months = [
            {
                "month": str(r.month),
                **{f: money(getattr(r, f), currency) for f in fields},
                # metered usage is revenue, not MRR: shown beside it, per metric
                "usage_revenue": {code: money(v, currency) for code, v in usage.get(r.month, {}).items()},
            }
            for r in rows
        ]
        return Response({"currency": currency, "months": months})


class RevenueReport(ReportView):
    @extend_schema(
        parameters=[*MONTHS, CURRENCY, FORMAT],
        responses=month_rows_schema("RevenueReport", ("invoiced", "recognized", "deferred")),
    )
    def get(self, request: Request) -> Any:
        currency = report_currency(request.query_params.get("currency"))
        csv_wanted = wants_csv(request)
        rows = revenue_report(currency=currency, months=months_param(request))
        fields = ("invoiced", "recognized", "deferred")
        if csv_wanted:
            return csv_response(
                f"revenue-{currency}",
                ["month", "currency", *fields],
                [[str(r.month), currency, *[money(getattr(r, f), currency) for f in fields]] for r in rows],
            )
        months = [
            {"month": str(r.month), **{f: money(getattr(r, f), currency) for f in fields}} for r in rows
        ]
        return Response({"currency": currency, "months": months})


class ArAgingReport(ReportView):
    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 with an offset (default: now)."),
            CURRENCY,
            FORMAT,
        ],
        responses=inline_serializer(
            "ArAgingReport",
            {
                "currency": serializers.CharField(),
                "as_of": serializers.CharField(),
                "buckets": serializers.DictField(child=serializers.CharField()),
                "customers": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request) -> Any:
        currency = report_currency(request.query_params.get("currency"))
        csv_wanted = wants_csv(request)
        as_of = datetime.now(UTC)
        if request.query_params.get("as_of"):
            errors: list[FieldError] = []
            parsed = aware_param(request, "as_of", errors)
            if errors or parsed is None:
                raise ValidationFailed(errors[0].message, field="as_of", errors=errors)
            as_of = parsed
        report = ar_aging_report(currency=currency, as_of=as_of)
        if csv_wanted:
            rows = [
                [
                    c.external_id,
                    c.name,
                    *[money(c.buckets[b], currency) for b in BUCKETS],
                    money(c.total, currency),
                ]
                for c in report.customers
            ]
            rows.append(
                [
                    "TOTAL",
                    "",
                    *[money(report.buckets[b], currency) for b in BUCKETS],
                    money(report.total, currency),
                ]
            )
            return csv_response(f"ar-aging-{currency}", ["customer", "name", *BUCKETS, "total"], rows)
        return Response(
            {
                "currency": currency,
                "as_of": as_of.isoformat(),
                "buckets": {b: money(report.buckets[b], currency) for b in BUCKETS},
                "total": money(report.total, currency),
                "customers": [
                    {
                        "customer": c.external_id,
                        "name": c.name,
                        **{b: money(c.buckets[b], currency) for b in BUCKETS},
                        "total": money(c.total, currency),
                    }
                    for c in report.customers
                ],
            }
        )

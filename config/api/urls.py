"""The v1 API routes (API.md). Paths work with and without a trailing slash."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from accounts.api import views as accounts_views
from billing.api import views as billing_views


def route(path: str, view: object, name: str) -> URLPattern:
    """``path`` without slashes at either end; matches with or without a trailing slash."""
    return re_path(rf"^{path}/?$", view.as_view(), name=name)  # type: ignore[attr-defined]


urlpatterns = [
    route("plans", billing_views.PlanListCreate, "plan-list"),
    route(r"plans/(?P<code>[-\w]+)", billing_views.PlanDetail, "plan-detail"),
    route("metrics", billing_views.MetricListCreate, "metric-list"),
    route(r"metrics/(?P<code>[-\w]+)", billing_views.MetricDetail, "metric-detail"),
    route("coupons", billing_views.CouponListCreate, "coupon-list"),
    route(r"coupons/(?P<code>[-\w]+)", billing_views.CouponDetail, "coupon-detail"),
    route("customers", accounts_views.CustomerListCreate, "customer-list"),
    route(r"customers/(?P<external_id>[^/]+)", accounts_views.CustomerDetail, "customer-detail"),
]

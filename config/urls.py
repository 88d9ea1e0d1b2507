"""Top-level routes: admin, API v1, schema and docs, health."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health, metrics

urlpatterns = [
    # finance's dashboard (the admin index for finance) and reports, before the admin's own routes
    path("admin/", include("reporting.admin_urls")),
    # the customer page and the search results (support's lookup; everyone's)
    path("admin/", include("invoicing.admin_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[]), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]

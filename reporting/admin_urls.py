"""Finance's admin pages under ``/admin/``: the dashboard (the index) and ``/admin/reports/...``.

Included before ``admin.site.urls`` so ``/admin/`` resolves here first; everyone else's index is still
Django's (``admin_home`` hands over to it).
"""

from django.contrib import admin
from django.urls import path

from reporting import admin_views as views

app_name = "reports"

urlpatterns = [
    path("", admin.site.admin_view(views.admin_home), name="home"),
    path("reports/mrr/", views.mrr_page, name="mrr"),
    path("reports/mrr/movers/", views.movers_page, name="movers"),
    path("reports/revenue/", views.revenue_page, name="revenue"),
    path("reports/ar-aging/", views.aging_page, name="aging"),
]

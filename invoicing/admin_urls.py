"""Staff pages under ``/admin/`` that are not one model's: the customer page and search results.

Included before ``admin.site.urls`` (config/urls.py); ``admin_view`` sends anyone not signed in as
staff to the admin's login page.
"""

from django.contrib import admin
from django.urls import path

from invoicing import admin_customer as views

app_name = "lookup"

urlpatterns = [
    path("customers/<int:customer_id>/", admin.site.admin_view(views.customer_page), name="customer"),
    path("search/", admin.site.admin_view(views.search_page), name="search"),
]

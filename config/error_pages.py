"""The 403 and 404 pages people meet in the admin, in the admin's own frame (header, breadcrumbs, theme)
instead of Django's bare ones. ``config.urls`` names them as ``handler403`` / ``handler404`` (the 404 one
serves when DEBUG is off; with DEBUG on Django shows its debug page)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def _page(request: HttpRequest, template: str, status: int, **context: object) -> HttpResponse:
    response = TemplateResponse(
        request, template, {**admin.site.each_context(request), **context}, status=status
    )
    response.render()
    return response


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "admin/ratecard_403.html", 403, title="You cannot do this")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "admin/ratecard_404.html", 404, title="Page not found")

"""What billing's admins share: the read-only mixin and links to other admin pages.

Every billing admin whose model keeps a ``history`` extends ``accounts.admin.HistoryAdmin`` (the
"History" page of django-simple-history, read-only); it is re-exported here so billing's modules import
their bases from one place.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from accounts.admin import HistoryAdmin, adopt_saved

__all__ = ["HistoryAdmin", "ImmutableMixin", "admin_change_url", "adopt_saved", "linked"]


class ImmutableMixin:
    """Nobody adds, changes or deletes these rows in the admin; viewing follows the model permissions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def admin_change_url(app_label: str, model_name: str, pk: Any) -> str | None:
    """The admin change page of a row, or None when no admin shows that model."""
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=(pk,))
    except NoReverseMatch:
        return None


def linked(text: str, url: str | None) -> str:
    """``text`` as a link to ``url`` (escaped), or plain escaped text without one."""
    if url is None:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a>', url, text)

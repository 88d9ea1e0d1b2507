"""What every app's admin shares, written once: the read-only mixin, the per-row action runner, the
confirmation page of a money action and links between admin pages.

Admin actions call services, report each row's outcome and ask before a bulk money action (docs/architecture.md, "The admin"):
``confirmation_page`` asks, ``run_per_row`` runs and reports. The history base (``HistoryAdmin``) is in
``accounts.admin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.errors import RatecardError

log = structlog.get_logger(__name__)

CONFIRM_TEMPLATE = "admin/confirm_action.html"


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows in the admin; viewing follows the model permissions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def run_per_row(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    rows: Iterable[Any],
    call: Callable[[Any], Any],
    *,
    done: str | Callable[[int], str],
    label: Callable[[Any], str] = str,
    refused: str = "",
    expected: tuple[type[Exception], ...] = (),
) -> int:
    """Call ``call(row)`` for each row in its own transaction; one success message (``done`` formatted
    with the count, or called with it) and one error message per failed row. Returns the count of
    successes.

    A service's refusal (``RatecardError`` or one of ``expected``) reads ``"<label>: <refused><why>"``; any
    other exception is logged and reported too: a bulk money action reports every row, it does not stop
    halfway.
    """
    refusals: tuple[type[Exception], ...] = (RatecardError, *expected)
    ok = 0
    for row in rows:
        try:
            with transaction.atomic():
                call(row)
            ok += 1
        except refusals as exc:
            why = getattr(exc, "message", exc)
            modeladmin.message_user(request, f"{label(row)}: {refused}{why}", messages.ERROR)
        except Exception as exc:
            log.exception("admin.action_failed", row=str(row), model=row.__class__.__name__)
            modeladmin.message_user(
                request, f"{label(row)}: failed ({exc.__class__.__name__}: {exc})", messages.ERROR
            )
    if ok:
        text = done(ok) if callable(done) else done.format(count=ok)
        modeladmin.message_user(request, text, messages.SUCCESS)
    return ok


def confirmation_page(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    *,
    title: str,
    question: str,
    rows: Sequence[Sequence[str]],
    confirm_label: str,
    columns: Sequence[str] = (),
    action: str | None = None,
    selected: Iterable[int] = (),
    warning: str = "",
) -> TemplateResponse:
    """An intermediate page like Django's delete confirmation: what will happen to which rows.

    ``rows`` are ``(label, detail)`` pairs shown as a list, or, with ``columns``, a table's rows. For a
    changelist action, ``action`` and ``selected`` are posted back with ``post=yes``; for an object's own
    page the form posts to the same URL.
    """
    opts = modeladmin.model._meta
    return admin_page(
        request,
        modeladmin,
        CONFIRM_TEMPLATE,
        title=title,
        question=question,
        rows=rows,
        columns=columns,
        confirm_label=confirm_label,
        action=action,
        selected=list(selected),
        warning=warning,
        action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
        back_url=request.META.get("HTTP_REFERER")
        or reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    )


def admin_page(
    request: HttpRequest, modeladmin: admin.ModelAdmin, template: str, *, title: str, **context: Any
) -> TemplateResponse:
    """An admin page of ``modeladmin``'s own (a form, a confirmation) in the admin's frame: its site
    context, breadcrumbs (``opts``) and ``title``, plus ``context``."""
    opts = modeladmin.model._meta
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(
        request,
        template,
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": opts,
            "app_label": opts.app_label,
            **context,
        },
    )


def admin_url(obj: Any, view: str = "change") -> str:
    """The admin page ``view`` (change, pdf, finalize, ...) of a row."""
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=(obj.pk,))


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


PROBLEM_COLOR = "#c53030"  # red: something a person should act on (a past-due invoice)


def badge(text: str, color: str) -> SafeString:
    """``text`` as a small colored badge (white on ``color``), e.g. a status or "Past due"."""
    return format_html(
        '<span class="ratecard-badge" style="background:{};color:#fff;padding:1px 6px;'
        'border-radius:8px;white-space:nowrap">{}</span>',
        color,
        text,
    )

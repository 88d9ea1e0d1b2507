"""Admin screens for customers (support finds them, sales edits them) and API tokens.

Also the admin site's titles and ``HistoryAdmin``, the base of every admin whose model keeps a
``history`` (django-simple-history): who changed what, when, on each object's "History" page.

Who may do what comes from the role groups' model permissions (``accounts/roles.py``); the admins here
only ever take permissions away (immutable fields, no revert), never grant more.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import ApiToken, Contact, Customer
from accounts.services.customers import (
    ADDRESS_FIELDS,
    EDITABLE_FIELDS,
    TERMS_FIELDS,
    customer_is_referenced,
    customer_remove,
)
from accounts.services.tokens import api_token_revoke
from config.errors import RatecardError, ValidationFailed
from invoicing.services.customer_writes import customer_create_synced, customer_update_synced

admin.site.site_header = "Ratecard billing"
admin.site.site_title = "Ratecard billing"
admin.site.index_title = "Customers, catalog and billing"


def adopt_saved(obj: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved ``obj`` the row a service saved (its pk and every column), so that the
    admin's inlines, log entry and redirect after a service call use the saved row."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


class HistoryAdmin(SimpleHistoryAdmin):
    """An admin with the "History" page of django-simple-history, made safe for billing data.

    - History is read-only. simple_history's per-version page saves the old version on POST after
      checking only the *view* permission (and would bypass the services), so that POST is refused and
      the "Revert" button hidden. The project-wide equivalent is ``SIMPLE_HISTORY_REVERT_DISABLED``.
    - A service's ``ValidationFailed`` raised while saving (after the form's own checks passed, e.g. a
      race) becomes an error message; the admin's transaction is rolled back, so nothing is written.
    """

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied("History is read-only.")
        response: HttpResponse = super().history_form_view(request, object_id, version_id, extra_context)
        return response

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            response: HttpResponse = super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationFailed as exc:
            detail = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in exc.errors)
            self.message_user(request, f"Nothing was saved. {detail}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return response


# --- customers --------------------------------------------------------------------------------------


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "email", "role", "receives_invoices")


class CustomerForm(forms.ModelForm):
    """The service's range checks, shown next to the field (``customer_create``/``customer_update``
    check them again when saving)."""

    class Meta:
        model = Customer
        fields = ("external_id", "currency", *EDITABLE_FIELDS)

    def clean_net_terms_days(self) -> int:
        value: int = self.cleaned_data["net_terms_days"]
        if not 0 <= value <= 365:
            raise forms.ValidationError("Must be between 0 and 365.")
        return value

    def clean_tax_rate_percent(self) -> Any:
        value = self.cleaned_data["tax_rate_percent"]
        if not 0 <= value <= 100:
            raise forms.ValidationError("Must be between 0 and 100.")
        return value


class CustomerChangeList(ChangeList):
    """A customer in the list opens its customer page (invoicing/admin_customer.py), which has
    everything about it; editing is one click further ("Edit customer"), for who may edit."""

    def url_for_result(self, result: models.Model) -> str:
        return reverse("lookup:customer", args=(result.pk,))


@admin.register(Customer)
class CustomerAdmin(HistoryAdmin):
    """Support finds a customer by name, e-mail (its own or a contact's), domain or external id."""

    form = CustomerForm
    inlines = (ContactInline,)
    list_display = (
        "name",
        "external_id",
        "email",
        "domain",
        "currency",
        "billing_anchor",
        "country",
        "contact_count",
        "created_at",
        "archived_at",
    )
    list_filter = (
        ("archived_at", admin.EmptyFieldListFilter),
        "currency",
        "billing_anchor",
        "invoice_grouping",
        "country",
    )
    actions = ("remove_selected",)
    search_fields = ("name", "email", "domain", "external_id", "contacts__email")
    search_help_text = "Name, e-mail (the customer's or a contact's), domain or external id."
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("name", "external_id", "email", "domain")}),
        (
            "Billing",
            {
                "fields": ("currency", *TERMS_FIELDS),
                "description": "A new time zone or billing anchor applies from the customer's next period. "
                "The currency never changes.",
            },
        ),
        ("Billing address and tax", {"fields": ADDRESS_FIELDS}),
        ("Integration", {"fields": ("stripe_customer_id", "created_at", "updated_at", "archived_at")}),
    )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CustomerChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return super().get_queryset(request).annotate(contact_count=Count("contacts", distinct=True))  # type: ignore[no-any-return]

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> tuple[str, ...]:
        always = ("stripe_customer_id", "created_at", "updated_at", "archived_at")
        # external_id and currency are fixed once the customer exists (customer_update refuses them)
        return (*always, "external_id", "currency") if obj is not None else always

    # --- delete means archive for a customer with usage, subscriptions or invoices -------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by remove_selected, which archives instead
        return actions  # type: ignore[no-any-return]

    @admin.action(
        description="Delete selected customers (archived instead when they have usage, "
        "subscriptions or invoices)",
        permissions=["delete"],
    )
    def remove_selected(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        outcomes: dict[str, int] = {"deleted": 0, "archived": 0}
        for customer in queryset.order_by("pk"):
            try:
                outcomes[customer_remove(customer=customer)] += 1
            except RatecardError as exc:
                self.message_user(request, f"{customer}: {exc.message}", messages.ERROR)
        self.message_user(
            request,
            f"{outcomes['deleted']} deleted, {outcomes['archived']} archived (they have usage, "
            "subscriptions or invoices, which are kept).",
            messages.SUCCESS,
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A customer nothing refers to is deleted as usual; any other one is archived, after asking."""
        customer = self.get_object(request, object_id)
        if customer is None or not customer_is_referenced(customer=customer):
            return super().delete_view(request, object_id, extra_context)
        if not self.has_delete_permission(request, customer):
            raise PermissionDenied
        change_url = reverse("admin:accounts_customer_change", args=(customer.pk,))
        if request.method == "POST":
            try:
                customer_remove(customer=customer)
            except RatecardError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.message_user(
                request,
                f"{customer} was archived, not deleted: it has usage, subscriptions or invoices, which are "
                "kept. Its external id stays taken.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:accounts_customer_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Archive instead of delete",
            "question": f"{customer} cannot be deleted: it has usage, subscriptions or invoices, which "
            "must be kept. Archive it instead?",
            "rows": [
                (
                    str(customer),
                    "archived: its usage, subscriptions and invoices stay; its external id stays taken",
                )
            ],
            "confirm_label": "Yes, archive it",
            "back_url": change_url,
        }
        return TemplateResponse(request, "admin/confirm_action.html", context)

    @admin.display(description="contacts", ordering="contact_count")
    def contact_count(self, obj: Customer) -> int:
        return getattr(obj, "contact_count", 0)

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        """Save through the customer services, which queue the Stripe sync as the API's writes do;
        contacts (plain rows, not sent to Stripe) are saved by the inline."""
        if change:
            values = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
            if not values:
                return
            saved = customer_update_synced(customer=obj, **values)
        else:
            values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.cleaned_data}
            values.pop("name", None)
            saved = customer_create_synced(
                external_id=form.cleaned_data["external_id"],
                name=form.cleaned_data["name"],
                currency=form.cleaned_data["currency"],
                **values,
            )
        adopt_saved(obj, saved)


# --- API tokens -------------------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by ``manage.py create_api_token`` (the raw token is shown once) and revoked
    here; they are never edited nor deleted, so what a revoked token did stays attributable."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at", "is_active")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    fields = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(boolean=True, description="active")
    def is_active(self, obj: ApiToken) -> bool:
        return obj.revoked_at is None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            api_token_revoke(token=token)
            revoked += 1
        skipped = queryset.count() - revoked
        note = f" ({skipped} already revoked)" if skipped else ""
        self.message_user(request, f"Revoked {revoked} token(s){note}.", messages.SUCCESS)

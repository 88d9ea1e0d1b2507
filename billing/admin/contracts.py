"""Contracts in the admin: sales configures a deal on one screen, finance approves from a queue.

- "New deal" (``deal/``): customer and plan first, then one form for the whole deal — phases with
  their overrides and fees, commitment, credits, one-off fees, entitlements, notes — with a live
  preview of each phase's first invoice (``deal/preview/``, the same engine as real invoices), and
  "Save draft" / "Save and submit to finance".
- "Approval queue" (``approvals/``): every contract waiting for finance, with its diff against the
  version before and its preview, and approve / reject-with-comment.
- A contract's page is read-only (terms, diff, preview, approval steps, versions); a draft links to
  the deal screen. Approve and reject are POSTs that need ``billing.approve_contract`` (403 otherwise,
  and the service checks it again, so the bulk action cannot get round it either).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from accounts.admin import HistoryAdmin
from accounts.models import Customer
from billing.admin import contract_form
from billing.admin.contract_display import contract_diff, contract_previews, present
from billing.contract_selectors import contract_versions, contracts_queryset
from billing.display import EMPTY, format_money, price_charge
from billing.models import Contract, ContractStatus, PlanVersion
from billing.services import contracts as service
from billing.services.contract_preview import contract_preview
from config.admin_kit import admin_page, badge, run_per_row
from config.errors import RatecardError
from invoicing.services.contract_activation import contract_activate

# the status badge of a contract's card (config.admin_kit.badge): blue waits for finance, green is billed
STATUS_COLORS = {
    ContractStatus.DRAFT: "#4a5568",
    ContractStatus.PENDING_APPROVAL: "#2b6cb0",
    ContractStatus.ACTIVE: "#2f855a",
    ContractStatus.AMENDED: "#718096",
    ContractStatus.ENDED: "#718096",
}


def _newest_versions() -> list[PlanVersion]:
    versions = (
        PlanVersion.objects.select_related("plan")
        .filter(plan__is_active=True)
        .order_by("plan__code", "-version")
    )
    seen: dict[int, PlanVersion] = {}
    for v in versions:
        seen.setdefault(v.plan_id, v)
    return list(seen.values())


@admin.register(Contract)
class ContractAdmin(HistoryAdmin):
    list_display = ("__str__", "customer", "plan", "version", "status", "start", "commitment")
    list_filter = ("status",)
    search_fields = ("customer__name", "customer__external_id", "plan__code")
    actions = ["approve_selected"]
    change_list_template = "admin/billing/contract/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contract]:
        return contracts_queryset()

    @admin.display(description="Commitment", ordering="commitment_amount")
    def commitment(self, obj: Contract) -> str:
        """The minimum spend per period as the one formatter writes it (``$1,000.00``)."""
        return EMPTY if obj.commitment_amount is None else format_money(obj.commitment_amount, obj.currency)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not service.may_approve(request.user):
            actions.pop("approve_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a contract's history is kept; a draft is simply never submitted

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path("deal/", wrap(self.deal_view), name="billing_contract_deal"),
            path("deal/preview/", wrap(self.preview_view), name="billing_contract_preview"),
            path("approvals/", wrap(self.queue_view), name="billing_contract_queue"),
            path("<int:object_id>/deal/", wrap(self.deal_view), name="billing_contract_edit"),
            path("<int:object_id>/submit/", wrap(self.submit_view), name="billing_contract_submit"),
            path("<int:object_id>/approve/", wrap(self.approve_view), name="billing_contract_approve"),
            path("<int:object_id>/reject/", wrap(self.reject_view), name="billing_contract_reject"),
        ]
        return own + super().get_urls()

    # --- pages --------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        # refused here as everywhere else (not a redirect to a page that refuses) for who may not add one
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:billing_contract_deal"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        contract = get_object_or_404(contracts_queryset(), pk=object_id)
        return admin_page(
            request,
            self,
            "admin/billing/contract/detail.html",
            title=str(contract),
            **self._roles(request),
            card=self._card(request, contract),
            versions=contract_versions(contract),
        )

    def queue_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        waiting = contracts_queryset().filter(status=ContractStatus.PENDING_APPROVAL).order_by("id")
        return admin_page(
            request,
            self,
            "admin/billing/contract/queue.html",
            title="Contracts waiting for approval",
            **self._roles(request),
            cards=[self._card(request, c) for c in waiting],
        )

    def deal_view(self, request: HttpRequest, object_id: int | None = None) -> HttpResponse:
        contract = get_object_or_404(contracts_queryset(), pk=object_id) if object_id else None
        if contract is None and not self.has_add_permission(request):
            raise PermissionDenied
        if contract is not None and (
            not self.has_change_permission(request, contract) or contract.status != ContractStatus.DRAFT
        ):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        customer = (
            contract.customer
            if contract
            else Customer.objects.filter(external_id=source.get("customer", "")).first()
        )
        version = (
            contract.plan_version
            if contract
            else next((v for v in _newest_versions() if v.plan.code == source.get("plan")), None)
        )
        context = {
            **self._roles(request),
            "contract": contract,
            "customers": Customer.objects.order_by("name"),
            "plans": _newest_versions(),
            "customer": customer,
            "version": version,
        }
        title = f"Edit {contract}" if contract else "New deal"
        if customer is None or version is None:
            return admin_page(request, self, "admin/billing/contract/deal_start.html", title=title, **context)
        values: dict[str, str] = {}
        errors: list[Any] = []
        if request.method == "POST":
            values = {k: request.POST.get(k, "") for k in request.POST}
            parsed = contract_form.parse(request.POST, customer, version)
            errors = parsed.errors
            if parsed.draft is not None:
                try:
                    saved = (
                        service.contract_update(
                            contract_id=contract.pk, draft=parsed.draft, user=request.user
                        )
                        if contract
                        else service.contract_create(draft=parsed.draft, user=request.user)
                    )
                    if request.POST.get("submit"):
                        service.contract_submit(contract_id=saved.pk, user=request.user, at=timezone.now())
                        messages.success(request, f"{saved} was submitted to finance for approval.")
                    else:
                        messages.success(request, f"{saved} was saved as a draft.")
                    return HttpResponseRedirect(reverse("admin:billing_contract_change", args=(saved.pk,)))
                except RatecardError as exc:
                    errors = exc.errors
        elif contract is not None:
            values = contract_form.initial(service.contract_as_draft(contract), ZoneInfo(customer.timezone))
        else:
            values = {"start": timezone.now().date().replace(day=1).isoformat(), "quantity": "1"}
        context.update(self._form_context(customer, version, values, errors))
        return admin_page(request, self, "admin/billing/contract/deal.html", title=title, **context)

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        if (
            not (self.has_add_permission(request) or self.has_change_permission(request))
            or request.method != "POST"
        ):
            raise PermissionDenied
        customer = get_object_or_404(Customer, external_id=request.POST.get("customer", ""))
        version = get_object_or_404(PlanVersion, pk=request.POST.get("version", ""))
        parsed = contract_form.parse(request.POST, customer, version)
        previews = []
        if parsed.draft is not None:
            try:
                rated = contract_preview(draft=parsed.draft, customer=customer, version=version)
                previews = present(rated, customer.currency)
            except (RatecardError, ArithmeticError, ValueError) as exc:
                parsed.errors.append(contract_form.FieldError(None, str(exc)))
        return TemplateResponse(
            request,
            "admin/billing/contract/_preview.html",
            {"previews": previews, "currency": customer.currency, "errors": self._errors(parsed.errors)},
        )

    # --- workflow -----------------------------------------------------------------------------------

    def _back(self, request: HttpRequest, contract_id: int) -> HttpResponseRedirect:
        target = request.POST.get("next") or reverse("admin:billing_contract_change", args=(contract_id,))
        return HttpResponseRedirect(target if target.startswith("/admin/") else "/admin/")

    def submit_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        try:
            service.contract_submit(contract_id=object_id, user=request.user, at=timezone.now())
            messages.success(request, "Submitted to finance for approval.")
        except RatecardError as exc:
            messages.error(request, exc.message)
        return self._back(request, object_id)

    def approve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST" or not service.may_approve(request.user):
            raise PermissionDenied  # 403: nothing changes
        try:
            contract, invoice = contract_activate(
                contract_id=object_id,
                user=request.user,
                at=timezone.now(),
                comment=request.POST.get("comment", ""),
            )
            note = ""
            if invoice is not None:
                total = format_money(invoice.total, invoice.currency)
                note = f" Its first invoice (draft #{invoice.pk}, {total}) is ready to finalize."
            messages.success(request, f"{contract} is approved and active.{note}")
        except RatecardError as exc:
            messages.error(request, f"Not approved: {exc.message}")
        return self._back(request, object_id)

    def reject_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST" or not service.may_approve(request.user):
            raise PermissionDenied
        comment = request.POST.get("comment", "").strip()
        if not comment:
            messages.error(request, "Say why the contract goes back to sales.")
            return self._back(request, object_id)
        try:
            service.contract_reject(
                contract_id=object_id, user=request.user, at=timezone.now(), comment=comment
            )
            messages.success(request, "Sent back to sales with your comment.")
        except RatecardError as exc:
            messages.error(request, exc.message)
        return self._back(request, object_id)

    @admin.action(description="Approve selected contracts", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Contract]) -> None:
        # each row in its own transaction; a refusal (sales, wrong state, overlap) is reported per row
        run_per_row(
            request,
            self,
            queryset.order_by("pk"),
            lambda contract: contract_activate(contract_id=contract.pk, user=request.user, at=timezone.now()),
            done=lambda n: f"{n} contract{'s' if n != 1 else ''} approved.",
            refused="not approved: ",
        )

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return service.may_approve(request.user)

    # --- helpers ------------------------------------------------------------------------------------

    def _roles(self, request: HttpRequest) -> dict[str, Any]:
        """What the pages' buttons depend on (the views and the service check again)."""
        return {
            "may_approve": service.may_approve(request.user),
            "may_edit": self.has_change_permission(request),
        }

    def _card(self, request: HttpRequest, contract: Contract) -> dict[str, Any]:
        basis, rows = contract_diff(contract)
        status = ContractStatus(contract.status)
        return {
            "contract": contract,
            "status": badge(status.label, STATUS_COLORS.get(status, "#4a5568")),
            "basis": basis,
            "diff": rows,
            "previews": contract_previews(contract),
            "steps": list(contract.approval_steps.all()),
        }

    @staticmethod
    def _errors(errors: list[Any]) -> list[tuple[str, str]]:
        return [(contract_form.field_label(e.field), e.message) for e in errors]

    def _form_context(
        self, customer: Customer, version: PlanVersion, values: dict[str, str], errors: list[Any]
    ) -> dict[str, Any]:
        prices = [
            (p, price_charge(p)) for p in version.prices.prefetch_related("tiers").order_by("position", "id")
        ]
        phases = []
        for i in range(contract_form.PHASES):
            phases.append(
                {
                    "index": i,
                    "number": i + 1,
                    "start": values.get(f"phase-{i}-start", ""),
                    "prices": [
                        {
                            "price": p,
                            "list": text,
                            "mode": values.get(f"phase-{i}-price-{p.code}-mode", ""),
                            "value": values.get(f"phase-{i}-price-{p.code}-value", ""),
                        }
                        for p, text in prices
                    ],
                    "fees": [
                        {
                            "k": k,
                            "description": values.get(f"phase-{i}-fee-{k}-description", ""),
                            "amount": values.get(f"phase-{i}-fee-{k}-amount", ""),
                        }
                        for k in range(contract_form.FEES)
                    ],
                }
            )
        return {
            "values": values,
            "phases": phases,
            "credits": [
                {k2: values.get(f"credit-{k}-{k2}", "") for k2 in ("amount", "expires", "priority")}
                | {"k": k}
                for k in range(contract_form.CREDITS)
            ],
            "one_offs": [
                {
                    "k": k,
                    "description": values.get(f"oneoff-{k}-description", ""),
                    "amount": values.get(f"oneoff-{k}-amount", ""),
                }
                for k in range(contract_form.ONE_OFFS)
            ],
            "features": [
                {"feature": f, "plan_value": v, "value": values.get(f"ent-{f.key}", "")}
                for f, v in contract_form.features_of(version)
            ],
            "errors": self._errors(errors),
        }

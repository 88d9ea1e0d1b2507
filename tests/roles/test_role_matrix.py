"""The role matrix: every route of the API, the admin and operations, by every kind of user, in ONE table.

Columns: anonymous, the four roles of API.md (finance, sales, support, integration), a superuser, and a
staff user without a group. A cell is the status the user gets (API: the exact code), or:

- ``login``: redirected to the admin's login page (anonymous, or a user the admin does not let in);
- ``noact``: an admin action the user is not offered (Django answers "No action selected.");
- ``-`` (API rows, integration column only): the integration role's status is the one of TABLE in
  tests/api/test_api_integration_role.py, which also holds the request's path and body.

Rows run in order, per user, inside one savepoint rolled back after that user (the world is built
once), so a write of one user never shows to the next. A route without a row, or a row whose route is
gone, fails the test with the rows to paste.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from tests.roles.world import (
    USERS,
    Probe,
    admin_probes,
    api_methods_without_request,
    api_probes,
    build_everything,
    clients_for,
    make_users,
    ops_probes,
    webhook_request,
)

pytestmark = pytest.mark.django_db

# fmt: off
MATRIX: dict[str, str] = {
    # request                                                               anon  fin   sales supp  integ super none
    "GET /api/v1/plans":                                                    "401   200   200   200   -     200   403",
    "POST /api/v1/plans":                                                   "401   201   403   403   -     201   403",
    "GET /api/v1/plans/pro":                                                "401   200   200   200   -     200   403",
    "GET /api/v1/metrics":                                                  "401   200   200   200   -     200   403",
    "POST /api/v1/metrics":                                                 "401   201   403   403   -     201   403",
    "GET /api/v1/metrics/api_calls":                                        "401   200   200   200   -     200   403",
    "GET /api/v1/coupons":                                                  "401   200   200   200   -     200   403",
    "POST /api/v1/coupons":                                                 "401   201   403   403   -     201   403",
    "GET /api/v1/coupons/ten":                                              "401   200   200   200   -     200   403",
    "GET /api/v1/customers":                                                "401   200   200   200   -     200   403",
    "POST /api/v1/customers":                                               "401   201   201   403   -     201   403",
    "GET /api/v1/customers/acme":                                           "401   200   200   200   -     200   403",
    "PATCH /api/v1/customers/acme":                                         "401   200   200   403   -     200   403",
    "POST /api/v1/customers/acme/charges":                                  "401   201   403   403   -     201   403",
    "GET /api/v1/customers/acme/upcoming-invoice":                          "401   200   200   200   -     200   403",
    "GET /api/v1/customers/acme/entitlements":                              "401   200   200   200   -     200   403",
    "GET /api/v1/customers/acme/usage?from={from}&to={to}":                 "401   200   200   200   -     200   403",
    "POST /api/v1/events":                                                  "401   202   403   403   -     202   403",
    "POST /api/v1/events?backfill=true":                                    "401   202   403   403   -     202   403",
    "POST /api/v1/events/void":                                             "401   200   403   403   -     200   403",
    "GET /api/v1/reports/mrr":                                              "401   200   403   403   -     200   403",
    "GET /api/v1/reports/revenue":                                          "401   200   403   403   -     200   403",
    "GET /api/v1/reports/ar-aging":                                         "401   200   403   403   -     200   403",
    "GET /api/v1/subscriptions?customer=acme":                              "401   200   200   200   -     200   403",
    "POST /api/v1/subscriptions":                                           "401   201   403   403   -     201   403",
    "GET /api/v1/subscriptions/{sub}":                                      "401   200   200   200   -     200   403",
    "POST /api/v1/subscriptions/{sub}/change":                              "401   200   403   403   -     200   403",
    "POST /api/v1/subscriptions/{sub}/cancel":                              "401   200   403   403   -     200   403",
    "POST /api/v1/billing-runs":                                            "401   202   403   403   -     202   403",
    "GET /api/v1/billing-runs/{run}":                                       "401   200   200   200   -     200   403",
    "GET /api/v1/invoices?customer=acme":                                   "401   200   200   200   -     200   403",
    "GET /api/v1/invoices/{invoice}":                                       "401   200   200   200   -     200   403",
    "GET /api/v1/invoices/{invoice}/pdf":                                   "401   200   200   200   -     200   403",
    "POST /api/v1/invoices/{draft}/finalize":                               "401   200   403   403   -     200   403",
    "POST /api/v1/invoices/{invoice}/void":                                 "401   409   403   403   -     409   403",
    "POST /api/v1/invoices/{invoice}/resend":                               "401   202   403   202   -     202   403",
    "GET /api/v1/credit-notes":                                             "401   200   200   200   -     200   403",
    "POST /api/v1/credit-notes":                                            "401   201   403   403   -     201   403",
    "GET /api/v1/credit-notes/{note}":                                      "401   200   200   200   -     200   403",
    "POST /api/v1/customers/acme/payment-method":                           "401   409   403   403   -     409   403",
    "POST /api/v1/invoices/{invoice}/payments":                             "401   201   403   403   -     201   403",
    "POST /api/v1/payments/{payment}/refund":                               "401   201   403   403   -     201   403",
    "GET /api/v1/search?q=acme":                                            "401   200   200   200   -     200   403",
    "GET /api/v1/contracts?customer=acme":                                  "401   200   200   200   -     200   403",
    "POST /api/v1/contracts":                                               "401   201   201   403   -     201   403",
    "GET /api/v1/contracts/{contract}":                                     "401   200   200   200   -     200   403",
    "POST /api/v1/contracts/{contract}/submit":                             "401   200   200   403   -     200   403",
    "POST /api/v1/contracts/{contract}/approve":                            "401   200   403   403   -     200   403",
    "POST /api/v1/contracts/{contract}/reject":                             "401   409   403   403   -     409   403",
    "POST /api/v1/contracts/{contract}/amend":                              "401   201   409   403   -     201   403",
    "GET /api/v1/customers/acme/credits":                                   "401   200   200   200   -     200   403",
    "GET /api/schema/":                                                     "200   200   200   200   200   200   200",
    "GET /api/docs/":                                                       "200   200   200   200   200   200   200",
    "GET /healthz":                                                         "200   200   200   200   200   200   200",
    "GET /readyz":                                                          "200   200   200   200   200   200   200",
    "GET /metrics":                                                         "200   200   200   200   200   200   200",
    "GET /metrics METRICS_TOKEN=set":                                       "401   401   401   401   401   401   401",
    "GET /stripe/webhook/":                                                 "405   405   405   405   405   405   405",
    "POST /stripe/webhook/ signature=none":                                 "400   400   400   400   400   400   400",
    "POST /stripe/webhook/ signature=forged":                               "400   400   400   400   400   400   400",
    "POST /stripe/webhook/ signature=valid":                                "200   200   200   200   200   200   200",
    "POST /stripe/webhook/ signature=valid STRIPE_WEBHOOK_SECRET=unset":    "400   400   400   400   400   400   400",
    "GET admin:auth_group_changelist":                                      "login 403   403   403   403   200   403",
    "POST admin:auth_group_changelist action=delete_selected":              "login 403   403   403   403   200   403",
    "GET admin:auth_group_add":                                             "login 403   403   403   403   200   403",
    "GET admin:auth_group_history":                                         "login 403   403   403   403   200   403",
    "GET admin:auth_group_delete":                                          "login 403   403   403   403   200   403",
    "GET admin:auth_group_change":                                          "login 403   403   403   403   200   403",
    "POST admin:auth_group_change":                                         "login 403   403   403   403   200   403",
    "GET admin:auth_user_password_change":                                  "login 403   403   403   403   200   403",
    "POST admin:auth_user_password_change":                                 "login 403   403   403   403   200   403",
    "GET admin:auth_user_changelist":                                       "login 403   403   403   403   200   403",
    "POST admin:auth_user_changelist action=delete_selected":               "login 403   403   403   403   200   403",
    "GET admin:auth_user_add":                                              "login 403   403   403   403   200   403",
    "GET admin:auth_user_history":                                          "login 403   403   403   403   200   403",
    "GET admin:auth_user_delete":                                           "login 403   403   403   403   200   403",
    "GET admin:auth_user_change":                                           "login 403   403   403   403   200   403",
    "POST admin:auth_user_change":                                          "login 403   403   403   403   200   403",
    "GET admin:accounts_customer_simple_history":                           "login 200   200   200   200   200   403",
    "POST admin:accounts_customer_simple_history":                          "login 403   403   403   403   403   403",
    "GET admin:accounts_customer_changelist":                               "login 200   200   200   200   200   403",
    "POST admin:accounts_customer_changelist action=delete_selected":       "login noact noact noact noact noact 403",
    "POST admin:accounts_customer_changelist action=remove_selected":       "login 302   noact noact noact 302   403",
    "GET admin:accounts_customer_add":                                      "login 200   200   403   200   200   403",
    "GET admin:accounts_customer_history":                                  "login 200   200   200   200   200   403",
    "GET admin:accounts_customer_delete":                                   "login 200   403   403   403   200   403",
    "GET admin:accounts_customer_change":                                   "login 200   200   200   200   200   403",
    "POST admin:accounts_customer_change":                                  "login 200   200   403   200   200   403",
    "GET admin:accounts_apitoken_changelist":                               "login 403   403   403   403   200   403",
    "POST admin:accounts_apitoken_changelist action=delete_selected":       "login 403   403   403   403   noact 403",
    "POST admin:accounts_apitoken_changelist action=revoke":                "login 403   403   403   403   302   403",
    "GET admin:accounts_apitoken_add":                                      "login 403   403   403   403   403   403",
    "GET admin:accounts_apitoken_history":                                  "login 403   403   403   403   200   403",
    "GET admin:accounts_apitoken_delete":                                   "login 403   403   403   403   403   403",
    "GET admin:accounts_apitoken_change":                                   "login 403   403   403   403   200   403",
    "POST admin:accounts_apitoken_change":                                  "login 403   403   403   403   302   403",
    "GET admin:billing_product_simple_history":                             "login 200   200   200   200   200   403",
    "POST admin:billing_product_simple_history":                            "login 403   403   403   403   403   403",
    "GET admin:billing_product_changelist":                                 "login 200   200   200   200   200   403",
    "POST admin:billing_product_changelist action=delete_selected":         "login 200   noact noact noact 200   403",
    "GET admin:billing_product_add":                                        "login 200   403   403   403   200   403",
    "GET admin:billing_product_history":                                    "login 200   200   200   200   200   403",
    "GET admin:billing_product_delete":                                     "login 200   403   403   403   200   403",
    "GET admin:billing_product_change":                                     "login 200   200   200   200   200   403",
    "POST admin:billing_product_change":                                    "login 200   403   403   403   200   403",
    "GET admin:billing_billablemetric_simple_history":                      "login 200   200   200   200   200   403",
    "POST admin:billing_billablemetric_simple_history":                     "login 403   403   403   403   403   403",
    "GET admin:billing_billablemetric_changelist":                          "login 200   200   200   200   200   403",
    "POST admin:billing_billablemetric_changelist action=delete_selected":  "login 200   noact noact noact 200   403",
    "GET admin:billing_billablemetric_add":                                 "login 200   403   403   403   200   403",
    "GET admin:billing_billablemetric_history":                             "login 200   200   200   200   200   403",
    "GET admin:billing_billablemetric_delete":                              "login 200   403   403   403   200   403",
    "GET admin:billing_billablemetric_change":                              "login 200   200   200   200   200   403",
    "POST admin:billing_billablemetric_change":                             "login 200   403   403   403   200   403",
    "GET admin:billing_feature_simple_history":                             "login 200   200   200   200   200   403",
    "POST admin:billing_feature_simple_history":                            "login 403   403   403   403   403   403",
    "GET admin:billing_feature_changelist":                                 "login 200   200   200   200   200   403",
    "POST admin:billing_feature_changelist action=delete_selected":         "login 200   noact noact noact 200   403",
    "GET admin:billing_feature_add":                                        "login 200   403   403   403   200   403",
    "GET admin:billing_feature_history":                                    "login 200   200   200   200   200   403",
    "GET admin:billing_feature_delete":                                     "login 200   403   403   403   200   403",
    "GET admin:billing_feature_change":                                     "login 200   200   200   200   200   403",
    "POST admin:billing_feature_change":                                    "login 200   403   403   403   200   403",
    "GET admin:billing_coupon_simple_history":                              "login 200   200   200   200   200   403",
    "POST admin:billing_coupon_simple_history":                             "login 403   403   403   403   403   403",
    "GET admin:billing_coupon_changelist":                                  "login 200   200   200   200   200   403",
    "POST admin:billing_coupon_changelist action=delete_selected":          "login 200   noact noact noact 200   403",
    "GET admin:billing_coupon_add":                                         "login 200   403   403   403   200   403",
    "GET admin:billing_coupon_history":                                     "login 200   200   200   200   200   403",
    "GET admin:billing_coupon_delete":                                      "login 200   403   403   403   200   403",
    "GET admin:billing_coupon_change":                                      "login 200   200   200   200   200   403",
    "POST admin:billing_coupon_change":                                     "login 302   403   403   403   302   403",
    "GET admin:billing_plan_simple_history":                                "login 200   200   200   200   200   403",
    "POST admin:billing_plan_simple_history":                               "login 403   403   403   403   403   403",
    "GET admin:billing_plan_changelist":                                    "login 200   200   200   200   200   403",
    "POST admin:billing_plan_changelist action=delete_selected":            "login noact noact noact noact noact 403",
    "POST admin:billing_plan_changelist action=create_new_version":         "login 302   noact noact noact 302   403",
    "GET admin:billing_plan_add":                                           "login 403   403   403   403   403   403",
    "GET admin:billing_plan_history":                                       "login 200   200   200   200   200   403",
    "GET admin:billing_plan_delete":                                        "login 403   403   403   403   403   403",
    "GET admin:billing_plan_change":                                        "login 200   200   200   200   200   403",
    "POST admin:billing_plan_change":                                       "login 302   403   403   403   302   403",
    "GET admin:billing_plan_edit_version":                                  "login 200   403   403   403   200   403",
    "POST admin:billing_plan_edit_version":                                 "login 200   403   403   403   200   403",
    "GET admin:billing_planversion_simple_history":                         "login 200   200   200   200   200   403",
    "POST admin:billing_planversion_simple_history":                        "login 403   403   403   403   403   403",
    "GET admin:billing_planversion_changelist":                             "login 200   200   200   200   200   403",
    "POST admin:billing_planversion_changelist action=delete_selected":     "login noact noact noact noact noact 403",
    "GET admin:billing_planversion_add":                                    "login 403   403   403   403   403   403",
    "GET admin:billing_planversion_history":                                "login 200   200   200   200   200   403",
    "GET admin:billing_planversion_delete":                                 "login 403   403   403   403   403   403",
    "GET admin:billing_planversion_change":                                 "login 200   200   200   200   200   403",
    "POST admin:billing_planversion_change":                                "login 403   403   403   403   403   403",
    "GET admin:billing_price_simple_history":                               "login 200   200   200   200   200   403",
    "POST admin:billing_price_simple_history":                              "login 403   403   403   403   403   403",
    "GET admin:billing_price_changelist":                                   "login 200   200   200   200   200   403",
    "POST admin:billing_price_changelist action=delete_selected":           "login noact noact noact noact noact 403",
    "GET admin:billing_price_add":                                          "login 403   403   403   403   403   403",
    "GET admin:billing_price_history":                                      "login 200   200   200   200   200   403",
    "GET admin:billing_price_delete":                                       "login 403   403   403   403   403   403",
    "GET admin:billing_price_change":                                       "login 200   200   200   200   200   403",
    "POST admin:billing_price_change":                                      "login 403   403   403   403   403   403",
    "GET admin:billing_pricetier_simple_history":                           "login 404   404   404   404   404   404",
    "POST admin:billing_pricetier_simple_history":                          "login 403   403   403   403   403   403",
    "GET admin:billing_pricetier_changelist":                               "login 200   200   200   200   200   403",
    "POST admin:billing_pricetier_changelist action=delete_selected":       "login noact noact noact noact noact 403",
    "GET admin:billing_pricetier_add":                                      "login 403   403   403   403   403   403",
    "GET admin:billing_pricetier_history":                                  "login 200   200   200   200   200   403",
    "GET admin:billing_pricetier_delete":                                   "login 403   403   403   403   403   403",
    "GET admin:billing_pricetier_change":                                   "login 200   200   200   200   200   403",
    "POST admin:billing_pricetier_change":                                  "login 403   403   403   403   403   403",
    "GET admin:billing_entitlement_simple_history":                         "login 200   200   200   200   200   403",
    "POST admin:billing_entitlement_simple_history":                        "login 403   403   403   403   403   403",
    "GET admin:billing_entitlement_changelist":                             "login 200   200   200   200   200   403",
    "POST admin:billing_entitlement_changelist action=delete_selected":     "login noact noact noact noact noact 403",
    "GET admin:billing_entitlement_add":                                    "login 403   403   403   403   403   403",
    "GET admin:billing_entitlement_history":                                "login 200   200   200   200   200   403",
    "GET admin:billing_entitlement_delete":                                 "login 403   403   403   403   403   403",
    "GET admin:billing_entitlement_change":                                 "login 200   200   200   200   200   403",
    "POST admin:billing_entitlement_change":                                "login 403   403   403   403   403   403",
    "GET admin:billing_subscription_simple_history":                        "login 200   200   200   200   200   403",
    "POST admin:billing_subscription_simple_history":                       "login 403   403   403   403   403   403",
    "GET admin:billing_subscription_changelist":                            "login 200   200   200   200   200   403",
    "POST admin:billing_subscription_changelist action=delete_selected":    "login noact noact noact noact noact 403",
    "POST admin:billing_subscription_changelist action=cancel_at_period_end":"login 200   noact noact 200   200   403",
    "POST admin:billing_subscription_changelist action=move_to_newest_version":"login 200   noact noact 200   200   403",
    "GET admin:billing_subscription_add":                                   "login 403   403   403   403   403   403",
    "GET admin:billing_subscription_history":                               "login 200   200   200   200   200   403",
    "GET admin:billing_subscription_delete":                                "login 403   403   403   403   403   403",
    "GET admin:billing_subscription_change":                                "login 200   200   200   200   200   403",
    "POST admin:billing_subscription_change":                               "login 403   403   403   403   403   403",
    "GET admin:billing_subscription_new":                                   "login 200   403   403   200   200   403",
    "POST admin:billing_subscription_new":                                  "login 200   403   403   200   200   403",
    "GET admin:billing_subscription_change_plan":                           "login 200   403   403   200   200   403",
    "POST admin:billing_subscription_change_plan":                          "login 200   403   403   200   200   403",
    "GET admin:billing_subscription_cancel":                                "login 200   403   403   200   200   403",
    "POST admin:billing_subscription_cancel":                               "login 200   403   403   200   200   403",
    "GET admin:billing_pendingline_simple_history":                         "login 200   200   200   403   200   403",
    "POST admin:billing_pendingline_simple_history":                        "login 403   403   403   403   403   403",
    "GET admin:billing_pendingline_changelist":                             "login 200   200   200   403   200   403",
    "POST admin:billing_pendingline_changelist action=delete_selected":     "login noact noact noact 403   noact 403",
    "GET admin:billing_pendingline_add":                                    "login 403   403   403   403   403   403",
    "GET admin:billing_pendingline_history":                                "login 200   200   200   403   200   403",
    "GET admin:billing_pendingline_delete":                                 "login 403   403   403   403   403   403",
    "GET admin:billing_pendingline_change":                                 "login 200   200   200   403   200   403",
    "POST admin:billing_pendingline_change":                                "login 403   403   403   403   403   403",
    "GET admin:billing_contract_deal":                                      "login 200   200   403   403   200   403",
    "POST admin:billing_contract_deal":                                     "login 200   200   403   403   200   403",
    "GET admin:billing_contract_preview":                                   "login 403   403   403   403   403   403",
    "POST admin:billing_contract_preview":                                  "login 404   404   403   403   404   403",
    "GET admin:billing_contract_queue":                                     "login 200   200   200   403   200   403",
    "POST admin:billing_contract_queue":                                    "login 200   200   200   403   200   403",
    "GET admin:billing_contract_edit":                                      "login 200   200   403   403   200   403",
    "POST admin:billing_contract_edit":                                     "login 200   200   403   403   200   403",
    "GET admin:billing_contract_submit":                                    "login 403   403   403   403   403   403",
    "POST admin:billing_contract_submit":                                   "login 302   302   403   403   302   403",
    "GET admin:billing_contract_approve":                                   "login 403   403   403   403   403   403",
    "POST admin:billing_contract_approve":                                  "login 302   403   403   403   302   403",
    "GET admin:billing_contract_reject":                                    "login 403   403   403   403   403   403",
    "POST admin:billing_contract_reject":                                   "login 302   403   403   403   302   403",
    "GET admin:billing_contract_simple_history":                            "login 200   200   200   403   200   403",
    "POST admin:billing_contract_simple_history":                           "login 403   403   403   403   403   403",
    "GET admin:billing_contract_changelist":                                "login 200   200   200   403   200   403",
    "POST admin:billing_contract_changelist action=delete_selected":        "login noact noact noact 403   noact 403",
    "POST admin:billing_contract_changelist action=approve_selected":       "login 302   noact noact 403   302   403",
    "GET admin:billing_contract_add":                                       "login 302   302   403   403   302   403",
    "GET admin:billing_contract_history":                                   "login 200   200   200   403   200   403",
    "GET admin:billing_contract_delete":                                    "login 403   403   403   403   403   403",
    "GET admin:billing_contract_change":                                    "login 200   200   200   403   200   403",
    "POST admin:billing_contract_change":                                   "login 200   200   200   403   200   403",
    "GET admin:billing_usagealert_customer_usage":                          "login 200   200   200   200   200   403",
    "POST admin:billing_usagealert_customer_usage":                         "login 200   200   200   200   200   403",
    "GET admin:billing_usagealert_changelist":                              "login 200   200   200   403   200   403",
    "POST admin:billing_usagealert_changelist action=delete_selected":      "login 200   noact noact 403   200   403",
    "GET admin:billing_usagealert_add":                                     "login 200   403   403   403   200   403",
    "GET admin:billing_usagealert_history":                                 "login 200   200   200   403   200   403",
    "GET admin:billing_usagealert_delete":                                  "login 200   403   403   403   200   403",
    "GET admin:billing_usagealert_change":                                  "login 200   200   200   403   200   403",
    "POST admin:billing_usagealert_change":                                 "login 200   403   403   403   200   403",
    "GET admin:billing_usagealertfiring_changelist":                        "login 200   200   200   403   200   403",
    "POST admin:billing_usagealertfiring_changelist action=delete_selected":"login 403   403   403   403   403   403",
    "GET admin:billing_usagealertfiring_add":                               "login 403   403   403   403   403   403",
    "GET admin:billing_usagealertfiring_history":                           "login 200   200   200   403   200   403",
    "GET admin:billing_usagealertfiring_delete":                            "login 403   403   403   403   403   403",
    "GET admin:billing_usagealertfiring_change":                            "login 200   200   200   403   200   403",
    "POST admin:billing_usagealertfiring_change":                           "login 403   403   403   403   403   403",
    "GET admin:billing_voidedusageevent_changelist":                        "login 200   200   200   403   200   403",
    "POST admin:billing_voidedusageevent_changelist action=delete_selected":"login noact noact noact 403   noact 403",
    "GET admin:billing_voidedusageevent_add":                               "login 403   403   403   403   403   403",
    "GET admin:billing_voidedusageevent_history":                           "login 200   200   200   403   200   403",
    "GET admin:billing_voidedusageevent_delete":                            "login 403   403   403   403   403   403",
    "GET admin:billing_voidedusageevent_change":                            "login 200   200   200   403   200   403",
    "POST admin:billing_voidedusageevent_change":                           "login 403   403   403   403   403   403",
    "GET admin:invoicing_creditnote_simple_history":                        "login 200   200   200   403   200   403",
    "POST admin:invoicing_creditnote_simple_history":                       "login 403   403   403   403   403   403",
    "GET admin:invoicing_creditnote_changelist":                            "login 200   200   200   403   200   403",
    "POST admin:invoicing_creditnote_changelist action=delete_selected":    "login noact noact noact 403   noact 403",
    "GET admin:invoicing_creditnote_add":                                   "login 403   403   403   403   403   403",
    "GET admin:invoicing_creditnote_history":                               "login 200   200   200   403   200   403",
    "GET admin:invoicing_creditnote_delete":                                "login 403   403   403   403   403   403",
    "GET admin:invoicing_creditnote_change":                                "login 200   200   200   403   200   403",
    "POST admin:invoicing_creditnote_change":                               "login 403   403   403   403   403   403",
    "GET admin:invoicing_creditnote_pdf":                                   "login 200   200   200   403   200   403",
    "POST admin:invoicing_creditnote_pdf":                                  "login 200   200   200   403   200   403",
    "GET admin:invoicing_payment_changelist":                               "login 200   200   200   403   200   403",
    "POST admin:invoicing_payment_changelist action=delete_selected":       "login noact noact noact 403   noact 403",
    "GET admin:invoicing_payment_add":                                      "login 302   403   403   403   302   403",
    "GET admin:invoicing_payment_history":                                  "login 200   200   200   403   200   403",
    "GET admin:invoicing_payment_delete":                                   "login 403   403   403   403   403   403",
    "GET admin:invoicing_payment_change":                                   "login 200   200   200   403   200   403",
    "POST admin:invoicing_payment_change":                                  "login 403   403   403   403   403   403",
    "GET admin:invoicing_payment_simple_history":                           "login 200   200   200   403   200   403",
    "POST admin:invoicing_payment_simple_history":                          "login 403   403   403   403   403   403",
    "GET admin:invoicing_invoice_pdf":                                      "login 200   200   200   200   200   403",
    "POST admin:invoicing_invoice_pdf":                                     "login 200   200   200   200   200   403",
    "GET admin:invoicing_invoice_finalize":                                 "login 200   403   403   403   200   403",
    "POST admin:invoicing_invoice_finalize":                                "login 302   403   403   403   302   403",
    "GET admin:invoicing_invoice_void":                                     "login 200   403   403   403   200   403",
    "POST admin:invoicing_invoice_void":                                    "login 200   403   403   403   200   403",
    "GET admin:invoicing_invoice_credit":                                   "login 200   403   403   403   200   403",
    "POST admin:invoicing_invoice_credit":                                  "login 200   403   403   403   200   403",
    "GET admin:invoicing_invoice_resend":                                   "login 200   403   200   403   200   403",
    "POST admin:invoicing_invoice_resend":                                  "login 302   403   302   403   302   403",
    "GET admin:invoicing_invoice_payment":                                  "login 200   403   403   403   200   403",
    "POST admin:invoicing_invoice_payment":                                 "login 200   403   403   403   200   403",
    "GET admin:invoicing_invoice_lines":                                    "login 200   403   403   403   200   403",
    "POST admin:invoicing_invoice_lines":                                   "login 200   403   403   403   200   403",
    "GET admin:invoicing_invoice_simple_history":                           "login 200   200   200   200   200   403",
    "POST admin:invoicing_invoice_simple_history":                          "login 403   403   403   403   403   403",
    "GET admin:invoicing_invoice_changelist":                               "login 200   200   200   200   200   403",
    "POST admin:invoicing_invoice_changelist action=delete_selected":       "login noact noact noact noact noact 403",
    "POST admin:invoicing_invoice_changelist action=finalize_selected":     "login 200   noact noact noact 200   403",
    "POST admin:invoicing_invoice_changelist action=void_selected":         "login 200   noact noact noact 200   403",
    "POST admin:invoicing_invoice_changelist action=mark_uncollectible_selected":"login 200   noact noact noact 200   403",
    "POST admin:invoicing_invoice_changelist action=create_credit_note":    "login 302   noact noact noact 302   403",
    "POST admin:invoicing_invoice_changelist action=resend_selected":       "login 200   noact 200   noact 200   403",
    "GET admin:invoicing_invoice_add":                                      "login 403   403   403   403   403   403",
    "GET admin:invoicing_invoice_history":                                  "login 200   200   200   200   200   403",
    "GET admin:invoicing_invoice_delete":                                   "login 403   403   403   403   403   403",
    "GET admin:invoicing_invoice_change":                                   "login 200   200   200   200   200   403",
    "POST admin:invoicing_invoice_change":                                  "login 403   403   403   403   403   403",
    "GET admin:invoicing_emailoutbox_changelist":                           "login 200   200   200   403   200   403",
    "POST admin:invoicing_emailoutbox_changelist action=delete_selected":   "login noact noact noact 403   noact 403",
    "POST admin:invoicing_emailoutbox_changelist action=retry_failed":      "login 302   noact 302   403   302   403",
    "GET admin:invoicing_emailoutbox_add":                                  "login 403   403   403   403   403   403",
    "GET admin:invoicing_emailoutbox_history":                              "login 200   200   200   403   200   403",
    "GET admin:invoicing_emailoutbox_delete":                               "login 403   403   403   403   403   403",
    "GET admin:invoicing_emailoutbox_change":                               "login 200   200   200   403   200   403",
    "POST admin:invoicing_emailoutbox_change":                              "login 403   403   403   403   403   403",
    "GET admin:invoicing_billingrun_finalize_drafts":                       "login 200   403   403   403   200   403",
    "POST admin:invoicing_billingrun_finalize_drafts":                      "login 302   403   403   403   302   403",
    "GET admin:invoicing_billingrun_start":                                 "login 200   403   403   403   200   403",
    "POST admin:invoicing_billingrun_start":                                "login 200   403   403   403   200   403",
    "GET admin:invoicing_billingrun_retry":                                 "login 200   403   403   403   200   403",
    "POST admin:invoicing_billingrun_retry":                                "login 302   403   403   403   302   403",
    "GET admin:invoicing_billingrun_changelist":                            "login 200   200   200   403   200   403",
    "POST admin:invoicing_billingrun_changelist action=delete_selected":    "login noact noact noact 403   noact 403",
    "POST admin:invoicing_billingrun_changelist action=finalize_run_drafts":"login 200   noact noact 403   200   403",
    "GET admin:invoicing_billingrun_add":                                   "login 403   403   403   403   403   403",
    "GET admin:invoicing_billingrun_history":                               "login 200   200   200   403   200   403",
    "GET admin:invoicing_billingrun_delete":                                "login 403   403   403   403   403   403",
    "GET admin:invoicing_billingrun_change":                                "login 200   200   200   403   200   403",
    "POST admin:invoicing_billingrun_change":                               "login 403   403   403   403   403   403",
    "GET admin:invoicing_stripeoutbox_changelist":                          "login 200   200   200   403   200   403",
    "POST admin:invoicing_stripeoutbox_changelist action=delete_selected":  "login noact noact noact 403   noact 403",
    "POST admin:invoicing_stripeoutbox_changelist action=retry_dead":       "login 302   noact noact 403   302   403",
    "POST admin:invoicing_stripeoutbox_changelist action=charge_again":     "login 302   noact noact 403   302   403",
    "GET admin:invoicing_stripeoutbox_add":                                 "login 403   403   403   403   403   403",
    "GET admin:invoicing_stripeoutbox_history":                             "login 200   200   200   403   200   403",
    "GET admin:invoicing_stripeoutbox_delete":                              "login 403   403   403   403   403   403",
    "GET admin:invoicing_stripeoutbox_change":                              "login 200   200   200   403   200   403",
    "POST admin:invoicing_stripeoutbox_change":                             "login 403   403   403   403   403   403",
    "GET admin:invoicing_stripeevent_changelist":                           "login 200   200   200   403   200   403",
    "POST admin:invoicing_stripeevent_changelist action=delete_selected":   "login noact noact noact 403   noact 403",
    "GET admin:invoicing_stripeevent_add":                                  "login 403   403   403   403   403   403",
    "GET admin:invoicing_stripeevent_history":                              "login 200   200   200   403   200   403",
    "GET admin:invoicing_stripeevent_delete":                               "login 403   403   403   403   403   403",
    "GET admin:invoicing_stripeevent_change":                               "login 200   200   200   403   200   403",
    "POST admin:invoicing_stripeevent_change":                              "login 403   403   403   403   403   403",
    "GET admin:invoicing_refund_changelist":                                "login 200   200   200   403   200   403",
    "POST admin:invoicing_refund_changelist action=delete_selected":        "login noact noact noact 403   noact 403",
    "GET admin:invoicing_refund_add":                                       "login 403   403   403   403   403   403",
    "GET admin:invoicing_refund_history":                                   "login 200   200   200   403   200   403",
    "GET admin:invoicing_refund_delete":                                    "login 403   403   403   403   403   403",
    "GET admin:invoicing_refund_change":                                    "login 200   200   200   403   200   403",
    "POST admin:invoicing_refund_change":                                   "login 403   403   403   403   403   403",
    "GET admin:invoicing_paymentdispute_changelist":                        "login 200   200   200   403   200   403",
    "POST admin:invoicing_paymentdispute_changelist action=delete_selected":"login noact noact noact 403   noact 403",
    "GET admin:invoicing_paymentdispute_add":                               "login 403   403   403   403   403   403",
    "GET admin:invoicing_paymentdispute_history":                           "login 200   200   200   403   200   403",
    "GET admin:invoicing_paymentdispute_delete":                            "login 403   403   403   403   403   403",
    "GET admin:invoicing_paymentdispute_change":                            "login 200   200   200   403   200   403",
    "POST admin:invoicing_paymentdispute_change":                           "login 403   403   403   403   403   403",
    "GET admin:invoicing_reconciliationmismatch_changelist":                "login 200   200   200   403   200   403",
    "POST admin:invoicing_reconciliationmismatch_changelist action=delete_selected":"login noact noact noact 403   noact 403",
    "POST admin:invoicing_reconciliationmismatch_changelist action=mark_resolved":"login 302   noact noact 403   302   403",
    "GET admin:invoicing_reconciliationmismatch_add":                       "login 403   403   403   403   403   403",
    "GET admin:invoicing_reconciliationmismatch_history":                   "login 200   200   200   403   200   403",
    "GET admin:invoicing_reconciliationmismatch_delete":                    "login 403   403   403   403   403   403",
    "GET admin:invoicing_reconciliationmismatch_change":                    "login 200   200   200   403   200   403",
    "POST admin:invoicing_reconciliationmismatch_change":                   "login 403   403   403   403   403   403",
    "GET admin:reporting_alertincident_changelist":                         "login 200   200   200   403   200   403",
    "POST admin:reporting_alertincident_changelist action=delete_selected": "login noact noact noact 403   noact 403",
    "GET admin:reporting_alertincident_add":                                "login 403   403   403   403   403   403",
    "GET admin:reporting_alertincident_history":                            "login 200   200   200   403   200   403",
    "GET admin:reporting_alertincident_delete":                             "login 403   403   403   403   403   403",
    "GET admin:reporting_alertincident_change":                             "login 200   200   200   403   200   403",
    "POST admin:reporting_alertincident_change":                            "login 403   403   403   403   403   403",
    "GET admin:app_list app_label=accounts":                                "login 200   200   200   200   200   404",
    "GET admin:app_list app_label=auth":                                    "login 404   404   404   404   200   404",
    "GET admin:app_list app_label=billing":                                 "login 200   200   200   200   200   404",
    "GET admin:app_list app_label=invoicing":                               "login 200   200   200   200   200   404",
    "GET admin:app_list app_label=reporting":                               "login 200   200   200   404   200   404",
    "GET reports:home":                                                     "login 200   200   200   200   200   200",
    "GET reports:mrr":                                                      "login 200   403   403   403   200   403",
    "GET reports:movers":                                                   "login 200   403   403   403   200   403",
    "GET reports:revenue":                                                  "login 200   403   403   403   200   403",
    "GET reports:aging":                                                    "login 200   403   403   403   200   403",
    "GET lookup:customer":                                                  "login 200   200   200   403   200   403",
    "GET lookup:search":                                                    "login 200   200   200   403   200   403",
}
# fmt: on


def outcome(probe: Probe, response: Any) -> str:
    location = response.get("Location", "") if response.status_code == 302 else ""
    if location.startswith("/admin/login/"):
        return "login"
    if probe.action and not action_ran(response):
        return "noact"
    return str(response.status_code)


def action_ran(response: Any) -> bool:
    """Whether the admin ran the posted action (or asked to confirm it). Django answers an action it does
    not offer this user with "No action selected." and a redirect, or, when it offers the user no action
    at all, by showing the changelist again."""
    listed = any((t.name or "").endswith("change_list.html") for t in getattr(response, "templates", []))
    # only this request's messages: earlier ones wait in the session until a page shows them
    queued = getattr(getattr(response.wsgi_request, "_messages", None), "_queued_messages", [])
    return not listed and not any("No action selected" in str(m) for m in queued)


def call(clients: tuple[Any, Any], probe: Probe) -> Any:
    api, site = clients
    client = api if probe.face == "api" else site
    send = getattr(client, probe.method.lower())
    with override_settings(**probe.settings):
        if probe.face == "api":
            return send(probe.path, probe.body, format="json")
        if probe.face == "webhook":
            payload, headers = webhook_request(probe)
            return send(probe.path, payload, content_type="application/json", headers=headers)
        return send(probe.path, probe.body or {})


def forget_process_caches() -> None:
    """What a rolled-back savepoint cannot take back: this process's lookup caches (conftest's
    ``fresh_caches`` clears the same ones between tests)."""
    from accounts.authentication import forget_tokens
    from billing.services import entitlements, usage_ingest, usage_live

    forget_tokens()
    usage_ingest.lookups.clear()
    usage_live.metric_ids_cache.clear()
    entitlements.entitlements_invalidate()


def row(cells: dict[str, str]) -> str:
    return " ".join(f"{cells[user]:<5}" for user in USERS).rstrip()


def test_every_route_by_every_user_gets_what_the_table_says() -> None:
    users = make_users()
    clients = clients_for(users)
    ids = build_everything(clients["finance"][0])
    probes = [*api_probes(ids), *ops_probes(), *admin_probes()]
    keys = [p.key for p in probes]
    assert len(keys) == len(set(keys)), "two requests share a row key"

    got: dict[str, dict[str, str]] = {key: {} for key in keys}
    # a thousand refusals would each log a warning (and the capture keeps them): the table is the record
    quiet = {name: logging.getLogger(name) for name in ("django.request", "django.security")}
    levels = {name: logger.level for name, logger in quiet.items()}
    for logger in quiet.values():
        logger.setLevel(logging.ERROR)
    try:
        for user in USERS:
            forget_process_caches()
            with transaction.atomic():
                for probe in probes:
                    got[probe.key][user] = outcome(probe, call(clients[user], probe))
                transaction.set_rollback(True)
    finally:
        forget_process_caches()
        for name, logger in quiet.items():
            logger.setLevel(levels[name])

    expected: dict[str, dict[str, str]] = {}
    for probe in probes:
        if probe.key in MATRIX:
            cells = dict(zip(USERS, MATRIX[probe.key].split(), strict=True))
            if cells["integration"] == "-":
                cells["integration"] = str(probe.expected_integration)
            expected[probe.key] = cells
    missing = [p for p in probes if p.key not in MATRIX]
    stale = sorted(set(MATRIX) - set(keys))
    wrong = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}

    report = []
    uncalled = api_methods_without_request()
    if uncalled:
        report.append(
            "API methods no request calls (add a row with its path and body to TABLE in "
            "tests/api/test_api_integration_role.py): " + ", ".join(uncalled)
        )
    if missing:
        report.append("Routes the table does not cover. Check each cell against API.md's roles, then paste:")
        for probe in missing:
            cells = dict(got[probe.key])
            if probe.expected_integration is not None:
                cells["integration"] = "-"
            report.append(f'    "{probe.key}":'.ljust(76) + f'"{row(cells)}",')
    if stale:
        report.append("Rows whose route no longer exists (delete them): " + ", ".join(stale))
    for key, (want, have) in wrong.items():
        diff = ", ".join(f"{u}: expected {want[u]}, got {have[u]}" for u in USERS if want[u] != have[u])
        report.append(f"{key}: {diff}")
    assert not report, "\n".join(report)

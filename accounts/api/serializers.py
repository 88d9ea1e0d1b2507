"""Customer API shapes."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from accounts.models import BillingAnchor, Customer, InvoiceGrouping
from accounts.services.customers import ADDRESS_FIELDS, CONTACT_FIELDS, TERMS_FIELDS

WRITABLE = ["external_id", *CONTACT_FIELDS, "currency", *TERMS_FIELDS, *ADDRESS_FIELDS]


class CustomerInSerializer(serializers.Serializer):
    """Shape checks only; customers.customer_create/_update check currency, time zone and uniqueness."""

    external_id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255)
    email = serializers.EmailField(required=False, allow_blank=True)
    domain = serializers.CharField(max_length=255, required=False, allow_blank=True)
    currency = serializers.CharField(max_length=3, min_length=3)
    timezone = serializers.CharField(max_length=64, required=False)
    billing_anchor = serializers.ChoiceField(choices=BillingAnchor.choices, required=False)
    net_terms_days = serializers.IntegerField(min_value=0, max_value=365, required=False)
    invoice_grouping = serializers.ChoiceField(choices=InvoiceGrouping.choices, required=False)
    tax_rate_percent = serializers.DecimalField(
        max_digits=7, decimal_places=4, min_value=Decimal(0), max_value=Decimal(100), required=False
    )
    address_line1 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    address_line2 = serializers.CharField(max_length=255, required=False, allow_blank=True)
    city = serializers.CharField(max_length=128, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=32, required=False, allow_blank=True)
    state = serializers.CharField(max_length=128, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    tax_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class CustomerOutSerializer(serializers.ModelSerializer):
    tax_rate_percent = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [*WRITABLE, "stripe_customer_id", "created_at", "updated_at", "archived_at"]

    def get_tax_rate_percent(self, customer: Customer) -> str:
        return f"{Decimal(customer.tax_rate_percent).normalize():f}"

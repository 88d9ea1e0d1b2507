from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing: catalog, subscriptions, usage"

    def ready(self) -> None:
        from billing.services.entitlement_stamps import connect_billing_sources

        # a change to subscriptions, plans, features, entitlements or customers makes every process's
        # cached entitlement profile of the customers it touches stale at once (after commit)
        connect_billing_sources()

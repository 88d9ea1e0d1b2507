from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = "Invoicing: invoices, credit notes, payments"

    def ready(self) -> None:
        # billing never imports invoicing: it tells whoever listens that usage changed (late events,
        # voids), and invoicing re-rates the drafts they belong to
        from billing.services.usage_hooks import usage_listener_register
        from invoicing.services.late_usage import usage_changed_listener

        usage_listener_register(usage_changed_listener)

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts: customers and staff"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import accounts.schema  # noqa: F401 - registers the OpenAPI auth scheme
        from accounts.access import connect_signals
        from accounts.roles import ensure_roles

        # Every fresh database (test databases included) gets the role groups and their permissions.
        post_migrate.connect(ensure_roles, dispatch_uid="accounts.ensure_roles")
        # Role, membership and user changes move the access stamp: effective on the next API request.
        connect_signals()

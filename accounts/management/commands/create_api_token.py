"""``python manage.py create_api_token <username>``: print a new Bearer token for that user.

``--create --role integration`` first makes an API-only user (no admin login) in that role, e.g. for the
product's own service, which must not need a finance token to send usage.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.roles import ROLES
from accounts.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label, e.g. the service that uses it.")
        parser.add_argument("--create", action="store_true", help="Create the user if it does not exist.")
        parser.add_argument("--role", choices=ROLES, help="With --create: the new user's role group.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        user = users.filter(username=options["username"]).first()
        if user is None and options["create"]:
            if not options["role"]:
                raise CommandError("--create needs --role (one of: " + ", ".join(ROLES) + ").")
            user = users.create_user(username=options["username"])  # no password: API only
            user.groups.add(Group.objects.get(name=options["role"]))
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        _, raw = api_token_create(user=user, name=options["name"])
        self.stdout.write(raw)

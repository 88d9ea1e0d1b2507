"""The demo's staff logins: one user per role (finance, sales, support) and a superuser."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.roles import FINANCE, ROLES, SALES, SUPPORT, ensure_roles

DEMO_PORT = 8000  # `make demo` serves here unless given PORT=...


def admin_url(port: int = DEMO_PORT) -> str:
    """Where the demo's admin answers when it is served on ``port``."""
    return f"http://127.0.0.1:{port}/admin/"


ADMIN_URL = admin_url()


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str  # a role group name, or "superuser"


SUPERUSER = "superuser"
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "admin-demo", SUPERUSER),
    DemoLogin("finance", "finance-demo", FINANCE),
    DemoLogin("sales", "sales-demo", SALES),
    DemoLogin("support", "support-demo", SUPPORT),
)


def seed_staff() -> int:
    """One staff user per role and a superuser; an existing one is put back in its demo state."""
    if Group.objects.filter(name__in=ROLES).count() < len(ROLES):
        ensure_roles()
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLES)}
    user_model = get_user_model()
    created = 0
    for login in DEMO_LOGINS:
        superuser = login.role == SUPERUSER
        user, was_created = user_model.objects.get_or_create(
            username=login.username,
            defaults={
                "email": f"{login.username}@meshwork.example",
                "is_staff": True,
                "is_superuser": superuser,
            },
        )
        created += int(was_created)
        changed = was_created
        if not (user.is_staff and user.is_active and user.is_superuser == superuser):
            user.is_staff, user.is_active, user.is_superuser = True, True, superuser
            changed = True
        # Only rehash when needed: a fresh salt on every run would be a change, and hashing is slow.
        if was_created or not user.check_password(login.password):
            user.set_password(login.password)
            changed = True
        if changed:
            user.save()
        if not superuser:
            user.groups.add(groups[login.role])  # a no-op when it is there already
    return created

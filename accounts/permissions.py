"""API permissions by role: every view states which model permissions a method needs.

The role groups (accounts.roles) hold Django model permissions, so the API and the admin enforce the
same rules: support reads, sales edits customers and deals, finance edits everything.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class RolePermission(permissions.BasePermission):
    """Authenticated, and holds the permissions ``view.required_permissions[method]`` lists.

    A view without an entry for a write method refuses it (deny by default); reads need the listed
    view permissions (or none when the view lists none).
    """

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required: dict[str, list[str]] = getattr(view, "required_permissions", {})
        method = request.method or "GET"
        if method in permissions.SAFE_METHODS:
            needed = required.get("GET", [])
        elif method in required:
            needed = required[method]
        else:
            return bool(user.is_superuser)
        return bool(user.has_perms(needed))

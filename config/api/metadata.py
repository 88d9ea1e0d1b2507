"""``OPTIONS`` on any API endpoint: what it is and which media types it speaks, never a 500.

DRF's ``SimpleMetadata`` also describes the POST body by instantiating ``view.get_serializer()``, which
fails (AssertionError, a 500) on views without a ``serializer_class`` (resend, events) and describes the
output serializer where the input differs. The OpenAPI schema at ``/api/schema/`` is the description of
every body; ``OPTIONS`` answers with the rest, and the ``Allow`` header lists the methods.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class ApiMetadata(SimpleMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {**super().determine_metadata(request, view), "schema": "/api/schema/"}

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}

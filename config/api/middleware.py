"""The edge of ``/api/``: what must be refused before a view runs, and errors Django answers itself.

- A request body above ``RATECARD_MAX_REQUEST_BYTES`` (API.md: 5 MB) is 413, before it is read.
- A NUL character in the path or the query string is 400 naming the parameter (PostgreSQL refuses NUL
  in text, so it would otherwise be a 500 from the first query that uses it).
- Django's own error pages (unknown path 404, bad ``Host`` 400, an uncaught exception's 500) are HTML;
  under ``/api/`` they are rewritten into the API's error shape with the same status, so a client
  always gets ``{"errors": [{"field", "message", "code"}]}``. DRF's responses are left alone (they are
  in that shape already, or HTML on purpose for the browsable API).

It must be the first middleware: the ones after it (``CommonMiddleware`` checks the Host) raise errors
this one turns into the error shape.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response

from config.text import text_problem

API_PREFIX = "/api/"
CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    500: "server_error",
}


def error_json(
    status: int, message: str, *, field: str | None = None, code: str | None = None
) -> JsonResponse:
    body = {"errors": [{"field": field, "message": message, "code": code or CODES.get(status, "error")}]}
    return JsonResponse(body, status=status)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    limit: int = settings.RATECARD_MAX_REQUEST_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return error_json(413, f"The request body is larger than {limit // (1024 * 1024)} MB.")
    problem = text_problem(request.path_info)
    if problem:
        return error_json(400, f"The path is not allowed: {problem}", field="path")
    if not request.META.get("QUERY_STRING"):
        return None  # most calls (the entitlement check) have none: no QueryDict to build
    try:
        query = list(request.GET.lists())
    except SuspiciousOperation as exc:  # e.g. more parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS
        return error_json(400, f"Bad query string: {exc}")
    for name, values in query:
        problem = text_problem(name)
        if problem:
            return error_json(400, f"A query parameter name is not allowed: {problem}")
        for value in values:
            problem = text_problem(value)
            if problem:
                return error_json(400, problem, field=name)
    return None


def _message(response: HttpResponse) -> str:
    if response.status_code == 404:
        return "Not found: no API endpoint or object at this path."
    if response.status_code == 400:
        return "Bad request (e.g. a Host header this server does not serve)."
    try:
        return HTTPStatus(response.status_code).phrase + "."
    except ValueError:
        return "Error."


class ApiEdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        refused = _refusal(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not isinstance(response, Response)
            and not str(response.get("Content-Type", "")).startswith("application/json")
        ):
            rewritten = error_json(response.status_code, _message(response))
            if response.has_header("Allow"):
                rewritten["Allow"] = response["Allow"]
            return rewritten
        return response

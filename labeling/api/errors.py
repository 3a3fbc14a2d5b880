"""One error shape for the whole API: {"error": code, "detail": message[, "details": ...]}.

The domain's LabelingError family, DRF's own exceptions (validation,
authentication, permission, parsing, throttling, method), Django's error
views for /api/ paths (404 for an unknown URL, 413 for a body over the
limit, 500) and a database outage (503) all answer in it, as JSON.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.errors import LabelingError

log = logging.getLogger(__name__)

UNAVAILABLE = "the database is not reachable right now; nothing was changed. Try again in a moment."
BUSY = "the database was busy with a conflicting change; nothing was changed. Try again."
# psycopg errors that mean "another transaction was in the way", not "the database is down".
CONTENTION = {"DeadlockDetected", "SerializationFailure", "LockNotAvailable"}


CODES = {400: "validation_failed", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "too_large",
         415: "unsupported_media_type", 429: "throttled", 500: "server_error", 503: "unavailable"}


def _outage_detail(exc) -> str:
    return BUSY if type(exc.__cause__).__name__ in CONTENTION else UNAVAILABLE


def _flatten(detail, prefix: str = "") -> list[str]:
    """DRF's nested error detail as 'field: message' lines, in order."""
    if isinstance(detail, dict):
        out = []
        for k, v in detail.items():
            name = "" if k == "non_field_errors" else str(k)
            out += _flatten(v, f"{prefix}{name}." if name else prefix)
        return out
    if isinstance(detail, list):
        out = []
        for i, v in enumerate(detail):
            out += _flatten(v, f"{prefix}{i}." if isinstance(v, dict | list) else prefix)
        return out
    return [f"{prefix.rstrip('.')}: {detail}" if prefix else str(detail)]


def body(code: str, detail: str, details=None) -> dict:
    out = {"error": code, "detail": detail}
    if details is not None:
        out["details"] = details
    return out


def exception_handler(exc, context):
    if isinstance(exc, LabelingError):
        return Response(body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, OperationalError | InterfaceError):
        log.warning("database unavailable: %s", exc)
        return Response(body("unavailable", _outage_detail(exc)), status=503)
    if isinstance(exc, DataError):
        # A value the database refused (a NUL, out of range): the input's fault, never a 500.
        return Response(body("validation_failed", f"a value was refused by the database: {str(exc).splitlines()[0]}"),
                        status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's handler500 answers in the same shape
    if isinstance(exc, drf.ValidationError):
        lines = _flatten(exc.detail)
        # The same code as the domain's ValidationFailed: one name for "your input is wrong".
        response.data = body("validation_failed", "; ".join(lines) or "invalid input", exc.detail)
    else:
        detail = exc.detail if isinstance(exc, drf.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, drf.APIException) else None
        code = code if isinstance(code, str) else CODES.get(response.status_code, "error")
        code = {"not_authenticated": "not_authenticated", "authentication_failed": "not_authenticated",
                "permission_denied": "forbidden"}.get(code, code)
        response.data = body(code, str(detail))
    return response


def _api(request) -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, detail: str, code: str | None = None) -> JsonResponse:
    return JsonResponse(body(code or CODES.get(status, "error"), detail), status=status)


def _too_big(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit is not None and length > limit


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


class ApiErrorShapeMiddleware:
    """Whatever answers an /api/ request with a non-JSON error (Django's CSRF page, a 405 from a
    plain view, a proxy-style HTML page) is turned into the API's JSON shape with the same status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (_api(request) and request.method not in ("GET", "HEAD") and not request.path_info.endswith("/")
                and _resolves(request.path_info + "/")):
            # Django would answer with a redirect (a POST turns into a GET on the way) or, in
            # DEBUG, a 500 for a body it cannot carry over: say what is wrong instead. A GET
            # keeps Django's redirect, which loses nothing.
            return json_error(404, f"no such endpoint: {request.method} {request.path}; "
                                   f"the API's paths end with a slash: {request.path}/")
        response = self.get_response(request)
        if (_api(request) and response.status_code >= 400
                and not response.get("Content-Type", "").startswith("application/json")):
            if response.status_code == 400 and _too_big(request):
                # DEBUG answers RequestDataTooBig with its own 400 page, not handler400.
                return json_error(413, "the request body is larger than the server accepts")
            reason = getattr(response, "reason_phrase", "") or "error"
            return json_error(response.status_code, reason.lower() if reason else "error")
        return response


# Django's error views (annotate/urls.py names them): JSON under /api/, the usual pages elsewhere.

def handler400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        if _api(request):
            return json_error(413, "the request body is larger than the server accepts")
        return bad_request(request, exception)
    if _api(request):
        return json_error(400, str(exception) or "bad request")
    return bad_request(request, exception)


def handler403(request, exception=None):
    if _api(request):
        return json_error(403, str(exception) or "forbidden")
    return permission_denied(request, exception)


def handler404(request, exception=None):
    if _api(request):
        return json_error(404, f"no such endpoint: {request.method} {request.path}")
    return page_not_found(request, exception)


def handler500(request):
    exc = sys.exc_info()[1]
    outage = isinstance(exc, OperationalError | InterfaceError)
    if _api(request):
        if outage:
            return json_error(503, _outage_detail(exc))
        rid = getattr(request, "request_id", None)
        ref = f" under request id {rid}" if rid else ""
        return json_error(500, f"the server failed on this request; it has been logged{ref}")
    if outage:
        # No request context: the session and the user need the database that is down.
        return HttpResponse(render_to_string("503.html"), status=503)
    return server_error(request)

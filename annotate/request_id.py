"""A request id on every request, its response and every log line written while it runs.

The id is the caller's X-Request-ID when it looks like one (a proxy or load
balancer that already assigned it), else a new random one; the response
carries it back, so a user reporting an error can quote it and an operator
can find every line that request logged.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
HEADER = "X-Request-ID"


def current() -> str:
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(HEADER, "")
        rid = given if _ACCEPTABLE.match(given) else uuid.uuid4().hex
        request.request_id = rid
        token = _current.set(rid)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response.headers[HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record ("-" outside a request: workers, beat, commands)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True

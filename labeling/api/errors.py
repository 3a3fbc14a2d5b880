"""Turn the domain's LabelingError family into clear 4xx responses."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.errors import LabelingError


def exception_handler(exc, context):
    if isinstance(exc, LabelingError):
        body = {"error": exc.code, "detail": exc.message}
        if exc.details is not None:
            body["details"] = exc.details
        return Response(body, status=exc.status_code)
    return drf_exception_handler(exc, context)

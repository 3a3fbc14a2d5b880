"""OpenAPI additions: the error shape and the error statuses on every operation.

Every /api/ error answers {"error": code, "detail": message[, "details": ...]}
(labeling.api.errors); this puts that shape in the schema once and names,
on each operation, the statuses any operation can answer, so a generated
client knows them and schemathesis can hold us to them.
"""

from __future__ import annotations

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx and 5xx under /api/.",
    "properties": {
        "error": {"type": "string", "description": "a stable code: validation_failed, not_found, forbidden, "
                  "conflict, already_submitted, already_skipped, task_taken, lease_expired, import_failed, "
                  "throttled, too_large, unavailable, ..."},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "details": {"description": "structured detail when there is some: field errors, the invalid lines"},
    },
    "required": ["error", "detail"],
}

ALWAYS = {
    "400": "Invalid input (error validation_failed, with the fields in details) or a malformed request.",
    "403": "Not signed in, or not allowed in this campaign (error forbidden or not_authenticated).",
    "404": "No such campaign, assignment or object, or it is someone else's (error not_found).",
    "409": "The object's state does not allow it now (conflict, already_submitted, task_taken, ...).",
    "429": "Too many requests (error throttled); retry after the Retry-After header.",
    "503": "The database is unreachable or busy; nothing was changed (error unavailable). Retry.",
}
WITH_BODY = {
    "413": "The request body is larger than the server accepts (error too_large).",
    "415": "The body is not JSON or a form (error unsupported_media_type).",
}


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for ops in result.get("paths", {}).values():
        for method, op in ops.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = op.setdefault("responses", {})
            codes = {**ALWAYS, **(WITH_BODY if method in {"post", "put", "patch", "delete"} else {})}
            for code, description in codes.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": ERROR_REF}}})
    return result

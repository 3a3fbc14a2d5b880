"""Liveness and readiness. /healthz: the process answers. /readyz: it can do its work.

Readiness checks PostgreSQL (a query), Redis (a ping, short timeouts) and that
every migration is applied; any failure answers 503 and names what is down.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse


def check_database() -> str | None:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported
        return f"PostgreSQL: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        return f"Redis: {type(exc).__name__}: {exc}"
    return None


def check_migrations() -> str | None:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001
        return f"migrations: cannot read their state ({type(exc).__name__})"
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return f"migrations: {len(plan)} not applied ({names}{', ...' if len(plan) > 5 else ''})"
    return None


def readiness() -> dict:
    database = check_database()
    checks = {
        "database": database,
        "redis": check_redis(),
        # Without the database the migration state cannot be read: say so once.
        "migrations": check_migrations() if database is None else "migrations: unknown (no database)",
    }
    return {"ready": all(v is None for v in checks.values()),
            "checks": {k: ("ok" if v is None else v) for k, v in checks.items()}}


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    state = readiness()
    return JsonResponse(state, status=200 if state["ready"] else 503)

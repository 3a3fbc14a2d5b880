"""Lease housekeeping for assignments."""

from __future__ import annotations

from django.db import connection, transaction

from labeling.models import Assignment, Task


@transaction.atomic
def assignments_expire_stale() -> int:
    """Expire leased assignments whose lease has run out and return their slots.

    Invariants: one statement, so a task's `taken` counter drops by exactly
    the number of its assignments that moved from leased to expired; drafts
    (step labels saved so far) stay attached to the expired assignment.
    Returns the number of expired assignments.
    """
    a, t = Assignment._meta.db_table, Task._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH expired AS (
                UPDATE {a} SET status = 'expired', updated_at = now()
                WHERE status = 'leased' AND lease_expires_at < now()
                RETURNING task_id
            ), per_task AS (
                SELECT task_id, count(*) AS n FROM expired GROUP BY task_id
            ), upd AS (
                -- Data-modifying CTEs always run to completion, read or not.
                UPDATE {t} SET taken = {t}.taken - per_task.n, is_open = true
                FROM per_task WHERE {t}.id = per_task.task_id
            )
            SELECT coalesce(sum(n), 0) FROM per_task
            """  # noqa: S608 - table names from model metadata
        )
        return int(cur.fetchone()[0])

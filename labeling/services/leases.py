"""Lease housekeeping for assignments."""

from __future__ import annotations

from django.db import connection, transaction

from labeling.models import Assignment, Campaign, Task


@transaction.atomic
def assignments_expire_stale() -> int:
    """Expire leased assignments whose lease has run out and return their slots.

    Invariants: one statement, so a task's `taken` counter drops by exactly
    the number of its assignments that moved from leased to expired; drafts
    (step labels saved so far) stay attached to the expired assignment.
    Returns the number of expired assignments.
    """
    a, t, c = Assignment._meta.db_table, Task._meta.db_table, Campaign._meta.db_table
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
                -- Data-modifying CTEs always run to completion, read or not. A task opens
                -- again only if that leaves room under the campaign's (maybe lowered) overlap.
                UPDATE {t} SET taken = {t}.taken - per_task.n,
                    is_open = {t}.is_gold OR {t}.taken - per_task.n < {c}.overlap
                FROM per_task, {c} WHERE {t}.id = per_task.task_id AND {c}.id = {t}.campaign_id
            )
            SELECT coalesce(sum(n), 0) FROM per_task
            """  # noqa: S608 - table names from model metadata
        )
        return int(cur.fetchone()[0])

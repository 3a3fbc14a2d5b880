"""Per-assignment label summaries (counts by rating, first error), kept with the labels."""

from __future__ import annotations

from django.db import connection

from labeling.models import Assignment, Step, StepLabel

# One statement for any number of assignments: imports summarise thousands at
# once, a submit summarises one. Unrated (null) imported steps count nowhere.
SUMMARY_SQL = """
UPDATE {assignment} a SET
  rated_steps = c.rated, positive_steps = c.pos, neutral_steps = c.neu, negative_steps = c.neg,
  first_error_index = c.first_error
FROM (
  SELECT a2.id AS assignment_id,
         count(l.rating) AS rated,
         count(*) FILTER (WHERE l.rating = 1) AS pos,
         count(*) FILTER (WHERE l.rating = 0) AS neu,
         count(*) FILTER (WHERE l.rating = -1) AS neg,
         min(s.index) FILTER (WHERE l.rating = -1) AS first_error
  FROM {assignment} a2
  LEFT JOIN {steplabel} l ON l.assignment_id = a2.id
  LEFT JOIN {step} s ON s.id = l.step_id
  WHERE a2.id = ANY(%s)
  GROUP BY a2.id
) c
WHERE a.id = c.assignment_id
"""


def assignments_summarize(*, assignment_ids: list[int]) -> int:
    """Recompute the label summary columns of these assignments from their step labels.

    Invariant: afterwards each assignment's rated/positive/neutral/negative
    counts and first_error_index equal what its StepLabel rows say. Runs in
    the caller's transaction.
    """
    if not assignment_ids:
        return 0
    sql = SUMMARY_SQL.format(
        assignment=Assignment._meta.db_table, steplabel=StepLabel._meta.db_table, step=Step._meta.db_table
    )
    with connection.cursor() as cur:
        cur.execute(sql, [list(assignment_ids)])
        return cur.rowcount

"""Tasks queued by an import carry generation 0 (or the file's) and the file's score; native labels copy them.

PRM800K readers take a null `generation` for phase 1, so labels made in the app on imported
tasks must not export null where the value is known.
"""

from django.db import migrations

FORWARD = [
    """
    UPDATE labeling_task t
    SET queue_generation = coalesce(s.generation, 0),
        queue_score = coalesce(t.queue_score, s.pre_generated_verifier_score)
    FROM labeling_solution s
    WHERE t.solution_id = s.id AND t.queue_strategy = 'import' AND t.queue_generation IS NULL
    """,
    """
    UPDATE labeling_assignment a
    SET queue_generation = t.queue_generation, queue_score = coalesce(a.queue_score, t.queue_score)
    FROM labeling_task t
    WHERE a.task_id = t.id AND a.source = 'native' AND a.queue_generation IS NULL
    """,
]


class Migration(migrations.Migration):
    dependencies = [("labeling", "0004_labeling_page_v2")]

    operations = [migrations.RunSQL(sql, reverse_sql=migrations.RunSQL.noop) for sql in FORWARD]

"""The adjudication queue: solutions whose annotators disagree on the first error.

Invariants:
- a solution enters the queue once per campaign (unique constraint) when two
  or more scored labelings (finished as `solution` or `found_error`, not gold)
  give different first-error indices; "no error" counts as an index;
- a resolution stores a full reference labeling valid for the campaign mode,
  and exports prefer it over majority vote;
- only campaign managers, designated experts and admins resolve.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from labeling.errors import Forbidden, NotFound, ValidationFailed
from labeling.models import Adjudication, Assignment, Campaign, Membership, Step, Task
from labeling.services.quality import gold_set, ratings_validate

# Disagreement is found in SQL so a rescan of a large imported campaign is
# one statement; "no error" is coded -1 for the distinct count.
DISAGREEMENTS_SQL = """
SELECT a.solution_id, count(*) AS n,
       array_agg(DISTINCT coalesce(a.first_error_index, -1)) AS first_errors
FROM {assignment} a JOIN {task} t ON t.id = a.task_id
WHERE a.campaign_id = %s AND a.status = 'submitted' AND NOT t.is_gold
  AND a.finish_reason IN ('solution', 'found_error')
  {solution_filter}
GROUP BY a.solution_id
HAVING count(*) >= 2 AND count(DISTINCT coalesce(a.first_error_index, -1)) > 1
"""


@transaction.atomic
def adjudications_sync(*, campaign: Campaign, solution_ids: list[int] | None = None) -> int:
    """Queue every disagreement not queued yet (optionally only among `solution_ids`); returns how many are new.

    Open items get their disagreement and label count refreshed; resolved
    ones are left as resolved. Atomic (a savepoint inside a caller's
    transaction): the rows it refreshes are locked, which needs one.
    """
    sql = DISAGREEMENTS_SQL.format(
        assignment=Assignment._meta.db_table, task=Task._meta.db_table,
        solution_filter="AND a.solution_id = ANY(%s)" if solution_ids is not None else "",
    )
    params: list = [campaign.pk] + ([list(solution_ids)] if solution_ids is not None else [])
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    if not rows:
        return 0
    # Back from SQL's -1 code to None ("no error"), listed last.
    found = {sid: (n, sorted(fe for fe in fes if fe != -1) + ([None] if -1 in fes else [])) for sid, n, fes in rows}
    existing = {
        adj.solution_id: adj
        for adj in Adjudication.objects.select_for_update().filter(campaign=campaign, solution_id__in=list(found))
    }
    new = [
        Adjudication(campaign=campaign, solution_id=sid, label_count=n, first_errors=fes)
        for sid, (n, fes) in found.items()
        if sid not in existing
    ]
    Adjudication.objects.bulk_create(new, ignore_conflicts=True)
    stale = []
    for sid, adj in existing.items():
        n, fes = found[sid]
        if adj.status == Adjudication.Status.OPEN and (adj.label_count, adj.first_errors) != (n, fes):
            adj.label_count, adj.first_errors = n, fes
            stale.append(adj)
    Adjudication.objects.bulk_update(stale, ["label_count", "first_errors"])
    return len(new)


def can_adjudicate(*, user, campaign: Campaign) -> bool:
    if user.is_superuser:
        return True
    m = Membership.objects.filter(campaign=campaign, user=user).only("role", "can_adjudicate").first()
    return m is not None and (m.role == Membership.Role.MANAGER or m.can_adjudicate)


@transaction.atomic
def adjudication_resolve(
    *, campaign: Campaign, solution_id: int, user, ratings: list[int | None], note: str = "",
    as_gold: bool = False,
) -> Adjudication:
    """Record the resolved step labels of a solution (creating its queue item if a manager resolves directly).

    Invariants: the ratings fit the campaign mode; resolving again replaces
    the earlier resolution; `as_gold` also makes them the solution's gold labels.
    """
    if not can_adjudicate(user=user, campaign=campaign):
        raise Forbidden("only campaign managers and designated experts resolve disagreements")
    n_steps = Step.objects.filter(solution_id=solution_id).count()
    # A re-segmented version is labeled in the campaign without being its task's solution.
    in_campaign = (Task.objects.filter(campaign=campaign, solution_id=solution_id).exists()
                   or Assignment.objects.filter(campaign=campaign, solution_id=solution_id).exists())
    if not n_steps or not in_campaign:
        raise NotFound(f"solution {solution_id} is not in campaign '{campaign.slug}'")
    if as_gold and not Task.objects.filter(campaign=campaign, solution_id=solution_id).exists():
        raise ValidationFailed("this segmentation is not the one the task serves: only the served solution "
                               "can become a gold item (adopt this version first)")
    ratings = ratings_validate(mode=campaign.mode, ratings=ratings, n_steps=n_steps)
    adj, _ = Adjudication.objects.select_for_update().get_or_create(campaign=campaign, solution_id=solution_id)
    adj.status = Adjudication.Status.RESOLVED
    adj.ratings = ratings
    adj.first_error_index = next((i for i, r in enumerate(ratings) if r == -1), None)
    adj.note = note.strip()
    adj.resolved_by = user
    adj.resolved_at = timezone.now()
    adj.save()
    if as_gold:
        gold_set(campaign=campaign, solution=adj.solution, ratings=ratings, user=user, note=adj.note)
    return adj

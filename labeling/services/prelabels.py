"""Verified pre-labels: the suggested rating of each step, fixed on the assignment when it is leased.

Invariants:
- a suggestion is only ever a hint: nothing here writes a rating, and a
  submit takes ratings from the annotator alone (the page makes every step
  take its own key press);
- gold and screening items never show suggestions, so QC measures unaided
  accuracy; of the other tasks `campaign.prelabel_share` show them, picked
  per task (every annotator of a task is in the same arm) and stably (a
  re-lease is in the same arm); the rest are the control group;
- the hints are stored on the assignment for both arms (the control's are
  the ones it would have seen), so the bias report compares like with like
  even after the model or the imported file changed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from django.db import transaction

from labeling import extensions
from labeling.models import Assignment, Campaign, Step, StepPrelabel, Task
from labeling.services.segments import whole_steps


@dataclass(frozen=True)
class Prelabels:
    hints: list[int | None]
    source: str
    shown: bool


def rating_from_score(score: float, threshold: float) -> int:
    """A probability that the step is correct, as the rating to suggest (no neutral from a score)."""
    return 1 if score >= threshold else -1


def task_in_shown_arm(*, task: Task, share: float) -> bool:
    """Whether a normal task shows suggestions: a stable hash of its id against the share."""
    if share >= 1:
        return True
    if share <= 0:
        return False
    digest = hashlib.sha256(f"prelabel-arm:{task.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _imported(solution_id: int, n_steps: int, threshold: float) -> tuple[list[int | None], str] | None:
    rows = (StepPrelabel.objects.filter(step__solution_id=solution_id)
            .order_by("step__index", "-created_at", "-pk").values_list("step__index", "rating", "score", "source"))
    hints: list[int | None] = [None] * n_steps
    sources: set[str] = set()
    for index, rating, score, source in rows:
        if index >= n_steps or hints[index] is not None:
            continue  # the newest pre-label of a step wins
        hints[index] = rating if rating is not None else rating_from_score(score, threshold)
        sources.add(source)
    if not sources:
        return None
    return hints, ", ".join(sorted(sources))[:64]


def _from_model(campaign: Campaign, solution_id: int, n_steps: int) -> tuple[list[int | None], str] | None:
    found = extensions.model_prelabels(campaign=campaign, solution_id=solution_id)
    if found is None:
        return None
    probs = list(found.step_probs)[:n_steps]
    probs += [None] * (n_steps - len(probs))  # a truncated score leaves the tail without a hint
    hints = [None if p is None or not math.isfinite(p) else rating_from_score(p, campaign.prelabel_threshold)
             for p in probs]
    if all(h is None for h in hints):
        return None
    return hints, found.source[:64]


def prelabels_for(*, campaign: Campaign, task: Task, screening: bool = False) -> Prelabels | None:
    """The suggestions a new assignment of `task` carries, or None (campaign off, none available)."""
    if campaign.prelabels == Campaign.Prelabels.OFF:
        return None
    n_steps = Step.objects.filter(solution_id=task.solution_id).count()
    if campaign.prelabels == Campaign.Prelabels.IMPORTED:
        found = _imported(task.solution_id, n_steps, campaign.prelabel_threshold)
    else:
        found = _from_model(campaign, task.solution_id, n_steps)
    if found is None:
        return None
    hints, source = found
    shown = (not task.is_gold and not task.is_screening and not screening
             and task_in_shown_arm(task=task, share=campaign.prelabel_share))
    return Prelabels(hints=hints, source=source, shown=shown)


def step_hints(a: Assignment) -> list[int | None]:
    """The suggestion of each labeled step: a re-segmented labeling keeps those of the steps left whole."""
    hints = a.prelabel_hints or []
    segments = a.extra.get("segments") if a.edited_from_id else None
    if segments is None:
        return hints
    return [hints[i] if i is not None and i < len(hints) else None for i in whole_steps(segments)]


# -- imported pre-labels ---------------------------------------------------------------------

@transaction.atomic
def prelabels_store(*, rows: list[tuple[int, str, int | None, float | None]]) -> int:
    """Write imported pre-labels (step id, source, rating, score); a re-import replaces the same source's.

    Invariant: at most one pre-label per (step, source); entries with neither
    a rating nor a score are not stored. Returns how many were written.
    """
    # The same solution twice in a file: the last line's pre-labels win (one upsert per row).
    last = {(sid, source): (rating, score) for sid, source, rating, score in rows
            if rating is not None or score is not None}
    objs = [StepPrelabel(step_id=sid, source=source, rating=rating, score=score)
            for (sid, source), (rating, score) in last.items()]
    StepPrelabel.objects.bulk_create(objs, update_conflicts=True, unique_fields=["step", "source"],
                                     update_fields=["rating", "score", "created_at"], batch_size=2000)
    return len(objs)

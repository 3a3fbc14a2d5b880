"""Selectors that turn stored labels and pool solutions into plain PRM data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from django.db.models import Prefetch

from active_learning.prm.data import SolutionExample, ratings_to_labels
from labeling.models import Assignment, Campaign, Step, StepLabel, StepPrelabel


def _steps_by_solution(solution_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for sid, text in Step.objects.filter(solution_id__in=solution_ids).order_by("solution_id", "index").values_list(
        "solution_id", "text"
    ):
        out[sid].append(text)
    return out


def majority(per_annotator: Sequence[Sequence[int | None]]) -> list[int | None]:
    """Per step, the most common rating among those who rated it; ties go to the lower rating.

    Same rule as the export's majority aggregation: a step half the
    annotators call wrong is not safe to train on as correct.
    """
    out: list[int | None] = []
    for ratings in zip(*per_annotator, strict=True):
        seen = [r for r in ratings if r is not None]
        if not seen:
            out.append(None)
            continue
        top = max(seen.count(r) for r in set(seen))
        out.append(min(r for r in set(seen) if seen.count(r) == top))
    return out


def training_examples(*, campaign: Campaign, neutral: str, aggregation: str) -> tuple[list[SolutionExample], dict]:
    """Labeled examples from the campaign's submitted (and imported) assignments.

    Gold and screening assignments are included: their labels are as real as
    any. Ratings are cut after the first error (paper, section 2.2), neutral
    mapped as configured; "majority" merges annotators per step with ties
    going to the lower rating, "each" keeps every annotator's labels.
    """
    assignments = (
        Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED)
        .exclude(finish_reason=Assignment.FinishReason.BAD_PROBLEM)
        .select_related("solution__problem")
        .prefetch_related(Prefetch("step_labels", queryset=StepLabel.objects.select_related("step")))
        .order_by("solution_id", "pk")
    )
    by_solution: dict[int, list[Assignment]] = defaultdict(list)
    for a in assignments.iterator(chunk_size=1000):
        by_solution[a.solution_id].append(a)
    steps = _steps_by_solution(list(by_solution))
    examples: list[SolutionExample] = []
    for sid, group in by_solution.items():
        sol = group[0].solution
        texts = steps[sid]
        per_annotator = []
        for a in group:
            ratings: list[int | None] = [None] * len(texts)
            for sl in a.step_labels.all():
                if sl.step.index < len(texts):
                    ratings[sl.step.index] = sl.rating
            per_annotator.append(ratings)
        if aggregation == "majority" and len(per_annotator) > 1:
            per_annotator = [majority(per_annotator)]
        for k, ratings in enumerate(per_annotator):
            labels = ratings_to_labels(ratings, neutral=neutral)
            if all(x is None for x in labels):
                continue
            examples.append(SolutionExample(
                problem=sol.problem.text, steps=tuple(texts), labels=labels, group=str(sol.problem_id),
                answer_correct=sol.answer_is_correct, answer=sol.final_answer or "", key=f"{sid}:{k}",
            ))
    counts = {
        "assignments": sum(len(g) for g in by_solution.values()),
        "solutions": len(by_solution),
        "examples": len(examples),
        "labeled_steps": sum(1 for ex in examples for x in ex.labels if x is not None),
        "negative_steps": sum(1 for ex in examples for x in ex.labels if x == 0),
    }
    return examples, counts


def pool_queryset(*, campaign: Campaign, model_id: int, first_id: int | None = None, last_id: int | None = None):
    """The campaign's tasks whose solution the pool still has to score with this model.

    "Unlabeled" means no submitted assignment yet (completed == 0); gold and
    screening items are not queued by the refill, so they are skipped. A
    solution id range narrows it to one chunk of the score stage.
    """
    qs = (campaign.tasks.filter(completed=0, is_gold=False, is_screening=False)
          .exclude(solution__scores__model_id=model_id))
    if first_id is not None:
        qs = qs.filter(solution_id__gte=first_id)
    if last_id is not None:
        qs = qs.filter(solution_id__lte=last_id)
    return qs


def pool_batches(*, campaign: Campaign, model_id: int, batch_size: int, first_id: int | None = None,
                 last_id: int | None = None) -> Iterator[list[tuple[int, str, list[str]]]]:
    """Unscored (by this model) pool solutions as (solution_id, problem, steps), in batches of solution id.

    Keyset pagination keeps each query cheap on a large pool.
    """
    base = pool_queryset(campaign=campaign, model_id=model_id, first_id=first_id, last_id=last_id).order_by(
        "solution_id")
    last = 0
    while True:
        rows = list(
            base.filter(solution_id__gt=last).values_list("solution_id", "solution__problem__text")[:batch_size]
        )
        if not rows:
            return
        last = rows[-1][0]
        steps = _steps_by_solution([r[0] for r in rows])
        yield [(sid, text, steps[sid]) for sid, text in rows]


def pool_outcome_examples(*, campaign: Campaign) -> list[SolutionExample]:
    """Every campaign solution with a graded final answer, labeled or not, as outcome-only examples.

    The free supervision an imported pool already carries. Grouped by problem
    text, the key cross-fitting folds on.
    """
    rows = list(campaign.tasks.filter(solution__answer_is_correct__isnull=False, is_screening=False)
                .values_list("solution_id", "solution__problem__text", "solution__answer_is_correct",
                             "solution__final_answer").order_by("solution_id"))
    out: list[SolutionExample] = []
    for start in range(0, len(rows), 2000):
        part = rows[start:start + 2000]
        steps = _steps_by_solution([r[0] for r in part])
        out += [SolutionExample(problem=text, steps=tuple(steps[sid]), group=text, answer_correct=ok,
                                answer=answer or "", key=str(sid))
                for sid, text, ok, answer in part if steps[sid]]
    return out


def pool_prelabel_examples(*, campaign: Campaign, neutral: str) -> list[SolutionExample]:
    """Campaign solutions with imported automatic step pre-labels, as step-labeled examples.

    A pre-label's rating is used as a rating; a Math-Shepherd-style score (the
    fraction of rollouts from the step that reached the right answer) counts
    as correct when any rollout did (score > 0, their hard estimation).
    Labels stop at the first error, like human ones.
    """
    by_solution: dict[int, dict[int, int]] = defaultdict(dict)
    rows = (StepPrelabel.objects.filter(step__solution__tasks__campaign=campaign)
            .values_list("step__solution_id", "step__index", "rating", "score").order_by("step__solution_id"))
    for sid, index, rating, score in rows.iterator(chunk_size=5000):
        value = rating if rating is not None else (1 if score > 0 else -1)
        by_solution[sid].setdefault(index, value)
    if not by_solution:
        return []
    texts = dict(campaign.tasks.filter(solution_id__in=list(by_solution))
                 .values_list("solution_id", "solution__problem__text"))
    steps = _steps_by_solution(list(by_solution))
    out = []
    for sid, marks in by_solution.items():
        n = len(steps[sid])
        labels = ratings_to_labels([marks.get(i) for i in range(n)], neutral=neutral)
        if any(x is not None for x in labels):
            out.append(SolutionExample(problem=texts[sid], steps=tuple(steps[sid]), labels=labels,
                                       group=texts[sid], key=str(sid)))
    return out

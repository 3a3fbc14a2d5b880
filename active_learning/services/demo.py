"""Active learning's part of the demo: short cycles and reference-derived gold items.

Registered as a labeling demo hook (labeling.extensions), so `load_demo`
runs it for every demo campaign without labeling importing this app.
"""

from __future__ import annotations

from django.db import transaction

from active_learning.models import ActiveLearningConfig
from active_learning.oracle import reference_oracle
from labeling.models import Campaign, Step, StepPrelabel, Task
from labeling.services.prelabels import prelabels_store
from labeling.services.quality import gold_set

# Short cycles so the loop is visible within minutes on a laptop: retrain
# after 40 new labels (or every 15 minutes if anything arrived). The model and
# training budget are the shipped defaults; scoring the 5k-solution pool takes
# about 25 s on 2 cores.
DEMO_AL = {"retrain_after_labels": 40, "retrain_every_minutes": 15, "min_labels": 30, "refill_size": 200,
           # Checked after every cycle on the real GSM8K solutions of problems not yet labeled (~30 s).
           "eval_set": "gsm8k-real"}
# Gold items per demo campaign, half with a correct final answer (every step
# positive) and half wrong (first error located against the reference).
DEMO_GOLD = 16


def demo_campaign_setup(*, campaign: Campaign, spec: dict) -> None:
    """The GSM8K demo campaigns get active-learning settings and gold items (idempotent)."""
    if not spec.get("gsm8k"):
        return
    ActiveLearningConfig.objects.get_or_create(campaign=campaign, defaults=DEMO_AL)
    demo_gold_seed(campaign=campaign, count=DEMO_GOLD)
    if spec.get("prelabels") == Campaign.Prelabels.IMPORTED:
        demo_prelabels_seed(campaign=campaign)


DEMO_PRELABEL_SOURCE = "demo-reference-heuristic"


@transaction.atomic
def demo_prelabels_seed(*, campaign: Campaign) -> int:
    """Suggested ratings for the demo's pre-labeled campaign (idempotent).

    A real campaign imports them (`step_prelabels`: an LLM judge, Math-Shepherd
    estimates); the demo derives them from the reference-matching heuristic
    the simulated annotators use, which is right often enough to be worth
    verifying and wrong often enough to show in the bias report.
    """
    sids = list(Task.objects.filter(campaign=campaign).values_list("solution_id", flat=True))
    if StepPrelabel.objects.filter(step__solution_id__in=sids[:50], source=DEMO_PRELABEL_SOURCE).exists():
        return 0
    rows = []
    tasks = Task.objects.filter(campaign=campaign).select_related("solution__problem")
    steps: dict[int, list[tuple[int, str]]] = {}
    for sid, pk, text in Step.objects.filter(solution_id__in=sids).order_by("solution_id", "index").values_list(
            "solution_id", "pk", "text"):
        steps.setdefault(sid, []).append((pk, text))
    for task in tasks:
        sol = task.solution
        own = steps.get(sol.pk, [])
        ratings = reference_oracle(sol.problem.text, [t for _, t in own], answer_correct=sol.answer_is_correct,
                                   reference=sol.problem.ground_truth_solution)
        rows += [(pk, DEMO_PRELABEL_SOURCE, r, None) for (pk, _), r in zip(own, ratings, strict=False) if r is not None]
    return prelabels_store(rows=rows)


@transaction.atomic
def demo_gold_seed(*, campaign: Campaign, count: int) -> int:
    """Promote `count` demo solutions to gold with reference-derived step labels (idempotent).

    Correct-answer solutions become all-positive gold; wrong-answer ones get
    their first error from the reference-matching heuristic. Real campaigns
    take gold from experts (the review page or an import with --gold).
    """
    if Task.objects.filter(campaign=campaign, is_gold=True).exists():
        return 0
    made = 0
    # The heuristic locates only the first error, so all-steps gold is taken
    # from correct-answer solutions alone.
    first_error = campaign.mode == Campaign.Mode.FIRST_ERROR
    for want_correct in (True, False) if first_error else (True,):
        tasks = (
            Task.objects.filter(campaign=campaign, is_gold=False, taken=0, solution__answer_is_correct=want_correct)
            .select_related("solution__problem")
            .order_by("-id")[: count // 2 if first_error else count]
        )
        for task in tasks:
            sol = task.solution
            steps = list(sol.steps.order_by("index").values_list("text", flat=True))
            ratings = reference_oracle(sol.problem.text, steps, answer_correct=sol.answer_is_correct,
                                       reference=sol.problem.ground_truth_solution)
            gold_set(campaign=campaign, solution=sol, ratings=ratings, note="demo gold (reference-derived)")
            made += 1
    return made

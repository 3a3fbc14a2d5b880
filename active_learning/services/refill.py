"""Refilling a campaign's queue from the model's scores with a selection strategy."""

from __future__ import annotations

import logging
import random
import time

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from active_learning.models import PRMModel, SolutionScore, TrainingRun
from active_learning.services.training import cycle_stage, training_run_finish
from active_learning.strategies import Candidate, get_strategy
from labeling.models import Campaign, Task

IMPORT_STRATEGY = "import"
log = logging.getLogger(__name__)


def _candidate_tasks(campaign: Campaign):
    """The tasks a refill may reorder: open, untaken, neither gold nor screening."""
    return Task.objects.filter(campaign=campaign, is_open=True, taken=0, is_gold=False, is_screening=False)


def _ensemble_members(*, model: PRMModel, size: int) -> dict[int, tuple[tuple[float, ...], ...]]:
    """Solution id -> step scores under the campaign's previous `size - 1` versions that scored the pool.

    A checkpoint ensemble for free: every version that served scored the pool
    that was unlabeled then, so its scores are already stored. Versions the
    gate rejected never scored anything and are skipped rather than counted.
    Only the refill's candidates are read, so memory follows the open pool.
    """
    scored = SolutionScore.objects.filter(model_id=OuterRef("pk"))
    earlier = list(PRMModel.objects.filter(campaign=model.campaign, status=PRMModel.Status.READY,
                                           version__lt=model.version)
                   .filter(Exists(scored))
                   .order_by("-version").values_list("pk", flat=True)[: max(0, size - 1)])
    if not earlier:
        return {}
    out: dict[int, list] = {}
    rows = (SolutionScore.objects.filter(model_id__in=earlier,
                                         solution_id__in=_candidate_tasks(model.campaign).values("solution_id"))
            .values_list("solution_id", "step_scores"))
    for sid, steps in rows.iterator(chunk_size=5000):
        out.setdefault(sid, []).append(tuple(steps or ()))
    return {sid: tuple(v) for sid, v in out.items()}


def queue_refill(*, campaign: Campaign, model: PRMModel, strategy: str, k: int, wrong_fraction: float = 0.8,
                 per_problem_cap: int = 2, seed: int | None = None, ensemble_size: int = 3) -> dict:
    """Rank the campaign's open, untaken, scored tasks with `strategy` and queue the top `k`.

    Invariants: only tasks nobody has leased (taken == 0) are touched, so a
    refill never reorders work in an annotator's hands; the previous
    generation's untaken picks drop back to priority 0 in the same
    transaction that raises the new ones, so the queue is never half old and
    half new. Each pick records strategy, model version, score, rank and
    generation (= the model version). Gold and screening tasks are untouched.
    `ensemble` reads the pool's scores under the previous `ensemble_size - 1` versions too.
    """
    rows = (
        SolutionScore.objects.filter(
            model=model, solution__tasks__campaign=campaign, solution__tasks__is_open=True,
            solution__tasks__taken=0, solution__tasks__is_gold=False, solution__tasks__is_screening=False,
        )
        .values_list("solution__tasks__id", "solution_id", "solution__problem_id", "score",
                     "solution__answer_is_correct", "step_scores")
    )
    members = _ensemble_members(model=model, size=ensemble_size) if strategy == "ensemble" else {}
    candidates = [
        Candidate(task_id=tid, problem_id=pid, score=s, answer_correct=ok, step_scores=tuple(steps or ()),
                  members=members.get(sid, ()))
        for tid, sid, pid, s, ok, steps in rows.iterator(chunk_size=5000)
    ]
    fn = get_strategy(strategy)
    kwargs = {"k": k, "rng": random.Random(seed if seed is not None else model.version)}
    if strategy == "convincing_wrong":
        kwargs.update(wrong_fraction=wrong_fraction, per_problem_cap=per_problem_cap)
    elif strategy in ("uncertainty", "ensemble"):
        kwargs.update(per_problem_cap=per_problem_cap)
    picks = fn(candidates, **kwargs)
    now = timezone.now()
    version = f"v{model.version}"
    with transaction.atomic():
        demoted = (
            Task.objects.filter(campaign=campaign, taken=0, is_gold=False, is_screening=False)
            .exclude(queue_strategy=IMPORT_STRATEGY)
            .exclude(priority=0)
            .update(priority=0)
        )
        by_id = {p.task_id: p for p in picks}
        tasks = list(Task.objects.filter(pk__in=by_id, taken=0).select_for_update(skip_locked=True))
        for t in tasks:
            p = by_id[t.pk]
            # Priority falls with rank; anything queued beats import order (0).
            t.priority = float(len(picks) - p.rank)
            t.queue_strategy = p.reason
            t.queue_model_version = version
            t.queue_score = p.score
            t.queue_rank = p.rank
            t.queue_generation = model.version
            t.queued_at = now
        Task.objects.bulk_update(
            tasks, ["priority", "queue_strategy", "queue_model_version", "queue_score", "queue_rank",
                    "queue_generation", "queued_at"], batch_size=1000,
        )
    reasons: dict[str, int] = {}
    for p in picks:
        reasons[p.reason] = reasons.get(p.reason, 0) + 1
    return {"candidates": len(candidates), "queued": len(tasks), "demoted": demoted, "by_reason": reasons,
            "strategy": strategy, "model_version": model.version}


@cycle_stage("refill")
def run_refill(*, run_id: int) -> dict | None:
    """The refill stage of a cycle; closes the run as succeeded."""
    t0 = time.monotonic()
    run = TrainingRun.objects.select_related("campaign").get(pk=run_id)
    if run.status != TrainingRun.Status.RUNNING:
        return None
    if run.stage != TrainingRun.Stage.REFILLING:
        # Only the score stage's last chunk moves a run here; a refill asked for earlier would rank a
        # half-scored pool and close the run as succeeded.
        log.warning("run %s: refill asked for in stage %r; ignored", run.pk, run.stage)
        return None
    model = PRMModel.objects.filter(campaign=run.campaign, is_active=True).first()
    result = None
    if model is not None:
        cfg = run.config
        result = queue_refill(
            campaign=run.campaign, model=model, strategy=cfg.get("strategy", "convincing_wrong"),
            k=cfg.get("refill_size", 200), wrong_fraction=cfg.get("wrong_fraction", 0.8),
            per_problem_cap=cfg.get("per_problem_cap", 2), ensemble_size=cfg.get("ensemble_size", 3),
        )
        result["refill_seconds"] = round(time.monotonic() - t0, 3)
    training_run_finish(run_id=run.pk, refill=result)
    return result


def queue_order(campaign: Campaign, limit: int = 20) -> list[Task]:
    """The next tasks an annotator would get, in serving order (for checks and the dashboard)."""
    return list(
        Task.objects.filter(campaign=campaign, is_open=True, is_gold=False)
        .select_related("solution")
        .order_by(F("priority").desc(), "id")[:limit]
    )


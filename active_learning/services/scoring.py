"""Scoring the unlabeled pool with a campaign's model."""

from __future__ import annotations

import time

from django.db import transaction

from active_learning.models import PRMModel, SolutionScore, TrainingRun
from active_learning.services.datasets import pool_batches
from active_learning.services.training import LeaseKeeper, cycle_stage

_loaded: dict[str, object] = {}  # checkpoint path -> PRM; a worker scores with one model many times


def _load(path: str):
    from active_learning.prm.model import PRM

    if path not in _loaded:
        _loaded.clear()  # one model per worker process at a time: memory stays flat
        _loaded[path] = PRM.load(path)
    return _loaded[path]


def solutions_score(*, model: PRMModel, score_config: dict | None = None, batch_size: int = 1024,
                    keeper: LeaseKeeper | None = None) -> dict:
    """Score every unlabeled pool solution of the model's campaign not yet scored by this model.

    Invariants: one SolutionScore per (solution, model), written batch by
    batch (a crash loses at most one batch, and a rerun resumes where it
    stopped, since scored solutions are skipped); labels are never touched.
    Returns counts and throughput.
    """
    from active_learning.prm.config import ScoreConfig
    from active_learning.prm.score import score

    cfg = ScoreConfig.from_dict(score_config or {})
    prm = _load(model.checkpoint_path)
    t0 = time.monotonic()
    n = truncated = 0
    for batch in pool_batches(campaign=model.campaign, model_id=model.pk, batch_size=batch_size):
        scored = score(prm, [(problem, steps) for _, problem, steps in batch], cfg, progress=keeper)
        rows = [
            SolutionScore(solution_id=sid, model=model, step_scores=list(s.step_probs), score=s.score,
                          truncated=s.truncated)
            for (sid, _, _), s in zip(batch, scored, strict=True)
        ]
        with transaction.atomic():
            SolutionScore.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        n += len(rows)
        truncated += sum(s.truncated for s in scored)
        if keeper is not None:
            keeper.renew()
    seconds = time.monotonic() - t0
    return {"scored": n, "truncated": truncated, "score_seconds": round(seconds, 3),
            "solutions_per_second": round(n / seconds, 1) if n and seconds else None}


@cycle_stage("scoring")
def run_score(*, run_id: int) -> dict | None:
    """The scoring stage of a cycle: score with the run's model if it was promoted.

    A model that was trained but not promoted (metric regression) is not
    used to queue work; the cycle then refills with the active model.
    """
    run = TrainingRun.objects.select_related("model", "campaign").get(pk=run_id)
    if run.status != TrainingRun.Status.RUNNING:
        return None
    model = PRMModel.objects.filter(campaign=run.campaign, is_active=True).first()
    if model is None:
        return None
    keeper = LeaseKeeper(run.pk)
    keeper.renew(stage=TrainingRun.Stage.SCORING)
    result = solutions_score(model=model, score_config=run.config.get("score"), keeper=keeper)
    result["model_version"] = model.version
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        locked.report = {**locked.report, "scoring": result}
        locked.stage = TrainingRun.Stage.REFILLING
        locked.save(update_fields=["report", "stage"])
    return result


"""Scoring pool solutions with a campaign's model: the work inside one chunk of the score stage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.db import transaction

from active_learning.models import PRMModel, SolutionScore
from active_learning.services.datasets import pool_batches

# checkpoint path -> PRM. A scoring worker keeps the model it last used: every
# chunk of a cycle scores with the same version, so it is loaded once per
# version per worker process, not once per chunk.
_loaded: dict[str, object] = {}
_load_lock = threading.Lock()
load_count = 0  # checkpoints loaded by this process (the tests and the chunk rows read it)


def scoring_model(path: str) -> tuple[object, bool]:
    """The PRM at `path` and whether this call loaded it (False: it was already in memory)."""
    global load_count
    # torch and transformers load with the first model, not at import.
    from active_learning.prm.folds import load_checkpoint

    with _load_lock:
        if path in _loaded:
            return _loaded[path], False
        _loaded.clear()  # one model per worker process at a time: memory stays flat
        if settings.AL_SCORING_TORCH_THREADS:
            import torch

            torch.set_num_threads(settings.AL_SCORING_TORCH_THREADS)
        _loaded[path] = load_checkpoint(path)  # a cross-fitted model brings all its members
        load_count += 1
        return _loaded[path], True


def score_config_for_worker(score_config: dict | None):
    """The campaign's score settings, with this worker's device if it was started with one (--device)."""
    from active_learning.prm.config import ScoreConfig

    cfg = ScoreConfig.from_dict(score_config or {})
    if settings.AL_SCORING_DEVICE:
        cfg = replace(cfg, device=settings.AL_SCORING_DEVICE)
    return cfg


def solutions_score(*, model: PRMModel, score_config: dict | None = None, batch_size: int = 256,
                    keeper: Callable[..., None] | None = None, first_id: int | None = None,
                    last_id: int | None = None) -> dict:
    """Score the unlabeled pool solutions of the model's campaign that this model has not scored yet
    (those with ids in [first_id, last_id] when given).

    Invariants: one SolutionScore per (solution, model), written batch by
    batch (a crash loses at most one batch, and a rerun resumes where it
    stopped, since scored solutions are skipped); two workers scoring the
    same range write each score once (the unique index, conflicts ignored);
    labels are never touched. `keeper` is called while scoring and after
    every batch (a lease renewal; it raises to stop the work). Returns
    counts, throughput and whether the model had to be loaded.
    """
    from active_learning.prm.score import score

    cfg = score_config_for_worker(score_config)
    prm, loaded = scoring_model(model.checkpoint_path)
    t0 = time.monotonic()
    n = truncated = 0
    batches = pool_batches(campaign=model.campaign, model_id=model.pk, batch_size=batch_size, first_id=first_id,
                           last_id=last_id)
    for batch in batches:
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
            keeper()
    seconds = time.monotonic() - t0
    return {"scored": n, "truncated": truncated, "score_seconds": round(seconds, 3),
            "solutions_per_second": round(n / seconds, 1) if n and seconds else None, "model_loaded": loaded,
            "device": cfg.device}

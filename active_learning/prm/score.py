"""Batched scoring: per-step P(correct) for many solutions.

Windows from all solutions are sorted by length and packed into batches
under a padded-token budget, so a batch of short GSM8K solutions does not
pay for one long MATH solution's padding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from active_learning.prm.config import ScoreConfig, resolve_device
from active_learning.prm.data import collate
from active_learning.prm.folds import FoldedPRM, fold_of
from active_learning.prm.model import PRM
from active_learning.strategies import solution_score


@dataclass(frozen=True)
class ScoredSolution:
    step_probs: tuple[float, ...]
    score: float
    truncated: bool


def score(
    prm: PRM | FoldedPRM,
    items: Sequence[tuple[str, Sequence[str]]],
    config: ScoreConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[ScoredSolution]:
    """Score (problem, steps) pairs; output is aligned with `items`.

    A cross-fitted model scores each item with the member that was trained without its problem.
    """
    import torch

    config = config or ScoreConfig()
    if isinstance(prm, FoldedPRM):
        out: list[ScoredSolution | None] = [None] * len(items)
        by_fold: dict[int, list[int]] = {}
        for i, (problem, _) in enumerate(items):
            by_fold.setdefault(fold_of(problem, prm.k), []).append(i)
        for f, idx in sorted(by_fold.items()):
            for i, s in zip(idx, score(prm.members[f], [items[i] for i in idx], config, progress=progress),
                            strict=True):
                out[i] = s
        return out  # type: ignore[return-value]
    device = resolve_device(config.device)
    model = prm.inference_model(device, config.quantize_cpu)
    encoded = [prm.encoder.encode(problem, steps) for problem, steps in items]
    flat = [(i, w) for i, enc in enumerate(encoded) for w in enc.windows]
    flat.sort(key=lambda iw: len(iw[1].input_ids))
    probs: list[list[float]] = [[0.0] * enc.n_steps for enc in encoded]
    budget = config.batch_tokens(device)
    pad = prm.encoder.pad_id
    pos_id = prm.positive_id
    temperature, bias = float(prm.meta.temperature), float(prm.meta.bias)
    done = 0
    start = 0
    with torch.inference_mode():
        while start < len(flat):
            # Sorted ascending, so the last window in a batch sets its width.
            end = start + 1
            while (
                end < len(flat)
                and end - start < config.max_batch_size
                and len(flat[end][1].input_ids) * (end - start + 1) <= budget
            ):
                end += 1
            batch = flat[start:end]
            ids, mask, _ = collate([w for _, w in batch], pad)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            # Two labels: softmax's P(positive) is the sigmoid of the logit margin, which the
            # checkpoint's calibration rescales and shifts (1.0 and 0.0 for an uncalibrated model).
            margin = logits[..., pos_id] - logits[..., 1 - pos_id]
            # float64: a sharpening temperature must not round distinct scores to the same 1.0.
            p = torch.sigmoid(margin.double() / temperature + bias).cpu()
            for r, (i, w) in enumerate(batch):
                for pos, step in zip(w.positions, w.steps, strict=True):
                    probs[i][step] = float(p[r, pos])
            done += len(batch)
            if progress is not None:
                progress(done, len(flat))
            start = end
    return [
        ScoredSolution(
            step_probs=tuple(ps), score=solution_score(ps, config.aggregate) if ps else 0.0,
            truncated=enc.truncated,
        )
        for ps, enc in zip(probs, encoded, strict=True)
    ]

"""Confidence intervals for the evaluation metrics: a percentile bootstrap over problems.

Why problems and not solutions or steps: the solutions of one problem (and
the steps of one solution) are not independent draws. A model that "gets"
a problem scores all four of its GSM8K solutions well, and best-of-N is a
per-problem quantity by definition. Resampling whole problems keeps that
correlation inside each replicate, so the interval is as wide as the data
really allow. Resampling steps would make it look several times narrower.

best_of_n_gain is the paired difference PRM best-of-N minus majority vote,
computed inside each replicate. Its interval answers "does the PRM beat
majority?" directly, which two overlapping marginal intervals cannot.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from active_learning.prm import metrics
from active_learning.prm.data import SolutionExample


def percentile(sorted_values: Sequence[float], q: float) -> float:
    # Linear interpolation between order statistics (numpy's default), on a sorted list.
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class _Problem:
    """Everything one problem contributes to the metrics, precomputed once so that a replicate only
    concatenates lists (5k solutions x 500 replicates stays a few seconds in plain Python)."""

    __slots__ = ("steps_y", "steps_p", "fe_pred", "fe_true", "sol_y", "sol_p", "candidates")

    def __init__(self):
        self.steps_y, self.steps_p, self.fe_pred, self.fe_true = [], [], [], []
        self.sol_y, self.sol_p, self.candidates = [], [], []


def _problems(examples, step_probs, scores, threshold) -> list[_Problem]:
    by_group: dict[str, _Problem] = {}
    for i, (ex, probs, s) in enumerate(zip(examples, step_probs, scores, strict=True)):
        pr = by_group.setdefault(ex.group or ex.key or str(i), _Problem())
        for label, p in zip(ex.labels, probs, strict=False):
            if label is not None:
                pr.steps_y.append(label == 1)
                pr.steps_p.append(p)
        if ex.first_error is not None:
            pr.fe_true.append(ex.first_error)
            pr.fe_pred.append(metrics.predicted_first_error(probs, threshold))
        if ex.answer_correct is not None:
            pr.sol_y.append(ex.answer_correct)
            pr.sol_p.append(s)
            pr.candidates.append((s, ex.answer_correct, ex.answer))
    return list(by_group.values())


def _metrics(drawn: Sequence[_Problem]) -> dict[str, float | None]:
    sy, sp, fp, ft, oy, op = [], [], [], [], [], []
    for pr in drawn:
        sy += pr.steps_y
        sp += pr.steps_p
        fp += pr.fe_pred
        ft += pr.fe_true
        oy += pr.sol_y
        op += pr.sol_p
    # Each drawn copy of a problem is its own group: two copies must not merge into one
    # 8-candidate problem.
    bon = metrics.best_of_n({k: pr.candidates for k, pr in enumerate(drawn) if pr.candidates})
    fe = metrics.first_error_f1(fp, ft) if ft else None
    return {
        "step_auroc": metrics.auroc(sy, sp),
        "ece": metrics.ece(sy, sp),
        "first_error_f1": fe.f1 if fe else None,
        "solution_auroc": metrics.auroc(oy, op),
        "best_of_n_prm": bon.prm if bon else None,
        "best_of_n_majority": bon.majority if bon else None,
        "best_of_n_random": bon.random if bon else None,
        "best_of_n_weighted": bon.weighted if bon else None,
        "best_of_n_gain": bon.prm - bon.majority if bon and bon.majority is not None else None,
    }


def bootstrap_intervals(
    examples: Sequence[SolutionExample], step_probs: Sequence[Sequence[float]], scores: Sequence[float], *,
    replicates: int = 500, seed: int = 0, level: float = 0.95, threshold: float = 0.5,
) -> dict:
    """Point estimates and percentile intervals of the headline metrics, resampling problems (`group`).

    Returns {metric: {"value", "lo", "hi"}} for every metric defined on the
    full data (a metric undefined on one replicate, such as AUROC on a draw
    with one class, is left out of that metric's distribution), plus
    "problems", "replicates" and "level". Deterministic given `seed`.
    """
    problems = _problems(examples, step_probs, scores, threshold)
    full = _metrics(problems)
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {name: [] for name in full}
    n = len(problems)
    for _ in range(replicates):
        m = _metrics([problems[rng.randrange(n)] for _ in range(n)])
        for name, v in m.items():
            if v is not None:
                draws[name].append(v)
    alpha = (1 - level) / 2
    out: dict = {"problems": n, "replicates": replicates, "level": level}
    for name, value in full.items():
        if value is None or not draws[name]:
            continue
        d = sorted(draws[name])
        out[name] = {"value": value, "lo": percentile(d, alpha), "hi": percentile(d, 1 - alpha)}
    return out

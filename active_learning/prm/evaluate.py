"""Held-out evaluation of a PRM: the numbers stored with every model version.

- step_auroc: labeled steps (up to the first error), P(correct) against the label.
- ece: calibration of the same step probabilities.
- first_error_*: ProcessBench-style; predicted first error is the first step
  under 0.5, compared on solutions whose labels pin the first error down.
- solution_auroc: solution score against final-answer correctness.
- best_of_n: on problems with several solutions, pick the top-scored one,
  compared with a random pick and with majority vote over final answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from active_learning.prm import metrics
from active_learning.prm.config import ScoreConfig
from active_learning.prm.data import SolutionExample
from active_learning.prm.model import PRM
from active_learning.prm.score import score


def evaluate(prm: PRM, examples: Sequence[SolutionExample], *, aggregate: str = "product",
             device: str = "auto") -> dict:
    # Unquantized: these numbers compare model versions and must not carry
    # quantization noise.
    cfg = ScoreConfig(device=device, quantize_cpu=False, aggregate=aggregate)
    scored = score(prm, [(ex.problem, ex.steps) for ex in examples], cfg)
    return metrics_from_scores(examples, [s.step_probs for s in scored], [s.score for s in scored])


def metrics_from_scores(
    examples: Sequence[SolutionExample], step_probs: Sequence[Sequence[float]], scores: Sequence[float]
) -> dict:
    step_y, step_p = [], []
    fe_pred, fe_true = [], []
    sol_y, sol_p = [], []
    groups: dict[str, list[tuple[float, bool, str]]] = defaultdict(list)
    for ex, probs, s in zip(examples, step_probs, scores, strict=True):
        for label, p in zip(ex.labels, probs, strict=False):
            if label is not None:
                step_y.append(label == 1)
                step_p.append(p)
        fe = ex.first_error
        if fe is not None:
            fe_true.append(fe)
            fe_pred.append(metrics.predicted_first_error(probs))
        if ex.answer_correct is not None:
            sol_y.append(ex.answer_correct)
            sol_p.append(s)
            groups[ex.group].append((s, ex.answer_correct, ex.answer))
    fe_scores = metrics.first_error_f1(fe_pred, fe_true) if fe_true else None
    bon = metrics.best_of_n(groups)
    return {
        "solutions": len(examples),
        "labeled_steps": len(step_y),
        "step_auroc": metrics.auroc(step_y, step_p),
        "ece": metrics.ece(step_y, step_p),
        "first_error_accuracy_erroneous": fe_scores.error_accuracy if fe_scores else None,
        "first_error_accuracy_correct": fe_scores.correct_accuracy if fe_scores else None,
        "first_error_f1": fe_scores.f1 if fe_scores else None,
        "solution_auroc": metrics.auroc(sol_y, sol_p),
        "best_of_n": None if bon is None else {
            "problems": bon.problems, "prm": bon.prm, "random": bon.random, "majority": bon.majority,
        },
    }

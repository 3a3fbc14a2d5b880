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
from dataclasses import replace

from active_learning.prm import metrics
from active_learning.prm.bootstrap import bootstrap_intervals
from active_learning.prm.calibration import CALIBRATION_METHODS, fit_platt, fit_temperature, nll, scaled
from active_learning.prm.config import ScoreConfig
from active_learning.prm.data import SolutionExample
from active_learning.prm.folds import FoldedPRM, fold_of
from active_learning.prm.model import PRM
from active_learning.prm.score import score


def evaluate(prm: PRM | FoldedPRM, examples: Sequence[SolutionExample], *, aggregate: str = "product",
             device: str = "auto", threshold: float = 0.5) -> dict:
    scored = score_examples(prm, examples, aggregate=aggregate, device=device)
    return metrics_from_scores(examples, [s.step_probs for s in scored], [s.score for s in scored],
                               threshold=threshold)


def score_examples(prm: PRM, examples: Sequence[SolutionExample], *, aggregate: str = "product",
                   device: str = "auto") -> list:
    # Unquantized: these numbers compare model versions and must not carry quantization noise.
    cfg = ScoreConfig(device=device, quantize_cpu=False, aggregate=aggregate)
    return score(prm, [(ex.problem, ex.steps) for ex in examples], cfg)


def evaluate_with_intervals(prm: PRM, examples: Sequence[SolutionExample], *, aggregate: str = "product",
                            device: str = "auto", threshold: float = 0.5, replicates: int = 500,
                            seed: int = 0, scored: Sequence | None = None) -> dict:
    """The headline metrics with 95% bootstrap intervals over problems (see prm.bootstrap), scored once.

    Works on outcome-only data too (real model solutions with a verdict and no step labels):
    then only solution AUROC and best-of-N are defined. `scored`: this model's scores of
    `examples`, when the caller has them already.
    """
    if scored is None:
        scored = score_examples(prm, examples, aggregate=aggregate, device=device)
    return bootstrap_intervals(examples, [s.step_probs for s in scored], [s.score for s in scored],
                               replicates=replicates, seed=seed, threshold=threshold)


def format_intervals(result: dict) -> str:
    """bootstrap_intervals' result as lines such as "solution AUROC  0.537  [0.519, 0.556]"."""
    names = {"step_auroc": "step AUROC", "first_error_f1": "first-error F1", "ece": "ECE",
             "solution_auroc": "solution AUROC", "best_of_n_prm": "best-of-N, PRM",
             "best_of_n_majority": "best-of-N, majority vote", "best_of_n_random": "best-of-N, random",
             "best_of_n_weighted": "best-of-N, PRM-weighted vote",
             "best_of_n_gain": "PRM minus majority"}
    width = max(len(v) for v in names.values())
    lines = [f"{result['level']:.0%} intervals, bootstrap over {result['problems']} problems "
             f"({result['replicates']} replicates)"]
    for key, label in names.items():
        if key in result:
            m = result[key]
            lines.append(f"  {label.ljust(width)}  {m['value']:+.3f}  [{m['lo']:+.3f}, {m['hi']:+.3f}]"
                         if key == "best_of_n_gain" else
                         f"  {label.ljust(width)}  {m['value']:.3f}  [{m['lo']:.3f}, {m['hi']:.3f}]")
    return "\n".join(lines)


def reset_calibration(prm: PRM | FoldedPRM) -> None:
    """Raw probabilities again (T = 1, no bias), on every member. For weights retrained from a
    calibrated parent with nothing held out to refit on: the parent's fit describes other weights,
    and a stale bias would move the 0.5 first-error threshold without anyone asking for it."""
    for member in prm.members if isinstance(prm, FoldedPRM) else [prm]:
        member.meta = replace(member.meta, temperature=1.0, bias=0.0)


def calibrate(prm: PRM | FoldedPRM, examples: Sequence[SolutionExample], *, device: str = "auto",
              method: str = "temperature") -> dict:
    """Fit temperature scaling (or, with method="platt", temperature and bias) on the labeled steps
    of `examples` (held out from training) and store it in `prm.meta`, replacing any calibration a
    warm start inherited. Returns the fit and ECE / NLL before and after, for the report. A
    cross-fitted model calibrates each member on the examples of its own fold (the ones it
    scores); the ECEs are then step-weighted means."""
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration {method!r}; choose from {', '.join(CALIBRATION_METHODS)}")
    if isinstance(prm, FoldedPRM):
        parts = [calibrate(m, [ex for ex in examples if fold_of(ex.problem, prm.k) == f], device=device,
                           method=method)
                 for f, m in enumerate(prm.members)]
        steps = sum(p["labeled_steps"] for p in parts)

        def mean(key):
            got = [(p[key], p["labeled_steps"]) for p in parts if p[key] is not None and p["labeled_steps"]]
            return sum(v * n for v, n in got) / sum(n for _, n in got) if got else None

        return {"method": method, "temperature": mean("temperature") or 1.0, "bias": mean("bias") or 0.0,
                "temperatures": [p["temperature"] for p in parts], "biases": [p["bias"] for p in parts],
                "labeled_steps": steps, "ece_before": mean("ece_before"), "ece_after": mean("ece_after"),
                "nll_before": mean("nll_before"), "nll_after": mean("nll_after")}
    reset_calibration(prm)
    cfg = ScoreConfig(device=device, quantize_cpu=False)
    scored = score(prm, [(ex.problem, ex.steps) for ex in examples], cfg)
    ys, ps = [], []
    for ex, s in zip(examples, scored, strict=True):
        for label, p in zip(ex.labels, s.step_probs, strict=False):
            if label is not None:
                ys.append(label == 1)
                ps.append(p)
    temperature, bias = fit_platt(ys, ps) if method == "platt" else (fit_temperature(ys, ps), 0.0)
    prm.meta = replace(prm.meta, temperature=temperature, bias=bias)
    after = [scaled(p, temperature, bias) for p in ps]
    return {"method": method, "temperature": temperature, "bias": bias, "labeled_steps": len(ys),
            "ece_before": metrics.ece(ys, ps), "ece_after": metrics.ece(ys, after),
            "nll_before": nll(ys, ps) if ys else None, "nll_after": nll(ys, ps, temperature, bias) if ys else None}


def evaluate_splits(prm: PRM, examples: Sequence[SolutionExample], *, aggregate: str = "product",
                    device: str = "auto", threshold: float = 0.5, scored: Sequence | None = None) -> dict:
    """Metrics over everything and per split, scored once.

    ProcessBench reports F1 per split and their unweighted mean; `mean_first_error_f1` is that
    mean over the splits that have one (a split of only correct solutions has no F1).
    """
    if scored is None:
        scored = score_examples(prm, examples, aggregate=aggregate, device=device)
    probs, scores = [s.step_probs for s in scored], [s.score for s in scored]
    by_split: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_split[ex.split or "all"].append(i)
    splits = {
        name: metrics_from_scores([examples[i] for i in idx], [probs[i] for i in idx], [scores[i] for i in idx],
                                  threshold=threshold)
        for name, idx in sorted(by_split.items())
    }
    f1s = [m["first_error_f1"] for m in splits.values() if m["first_error_f1"] is not None]
    return {
        "overall": metrics_from_scores(examples, probs, scores, threshold=threshold),
        "splits": splits,
        "mean_first_error_f1": sum(f1s) / len(f1s) if f1s else None,
        "threshold": threshold,
        "aggregate": aggregate,
        "truncated_solutions": sum(1 for s in scored if s.truncated),
    }


_TABLE = (
    ("solutions", "solutions", "{}"),
    ("err acc", "first_error_accuracy_erroneous", "{:.3f}"),
    ("corr acc", "first_error_accuracy_correct", "{:.3f}"),
    ("F1", "first_error_f1", "{:.3f}"),
    ("step AUROC", "step_auroc", "{:.3f}"),
    ("ECE", "ece", "{:.3f}"),
    ("sol AUROC", "solution_auroc", "{:.3f}"),
)


def format_table(result: dict) -> str:
    """evaluate_splits' result as a fixed-width text table (one row per split, then overall)."""
    rows = [("split", *(h for h, _, _ in _TABLE), "best-of-N prm/maj/rnd")]
    items = list(result["splits"].items())
    if len(items) > 1 or "all" not in result["splits"]:
        items.append(("overall", result["overall"]))
    for name, m in items:
        cells = [name]
        for _, key, fmt in _TABLE:
            v = m.get(key)
            cells.append("-" if v is None else fmt.format(v))
        bon = m.get("best_of_n")
        if bon:
            maj = "-" if bon["majority"] is None else f"{bon['majority']:.3f}"
            cells.append(f"{bon['prm']:.3f}/{maj}/{bon['random']:.3f} (n={bon['problems']})")
        else:
            cells.append("-")
        rows.append(tuple(cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if result.get("mean_first_error_f1") is not None:
        lines.append(f"ProcessBench F1 (mean over splits): {result['mean_first_error_f1']:.3f}")
    return "\n".join(lines)


def metrics_from_scores(
    examples: Sequence[SolutionExample], step_probs: Sequence[Sequence[float]], scores: Sequence[float],
    *, threshold: float = 0.5,
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
            fe_pred.append(metrics.predicted_first_error(probs, threshold))
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
            "weighted": bon.weighted,
        },
        # [positives, negatives] behind each AUROC: 1.000 on 2 right and 10 wrong answers is luck,
        # and the promotion gate and the runs table need to be able to say so.
        "support": {"step_auroc": [sum(step_y), len(step_y) - sum(step_y)],
                    "solution_auroc": [sum(sol_y), len(sol_y) - sum(sol_y)]},
    }

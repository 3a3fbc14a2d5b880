"""Evaluation metrics for a PRM, in plain Python (no numpy needed, exact on ties).

- step AUROC: does the model rank good steps above bad ones?
- first-error F1 (ProcessBench): harmonic mean of the accuracy on erroneous
  solutions (exact first-error index) and on correct ones (predicting none).
- solution AUROC against final-answer correctness.
- ECE: calibration of P(correct).
- best-of-N: accuracy when picking the top-scored of N candidates per
  problem, against picking at random and against majority vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def auroc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    None when only one class is present: the quantity is undefined, and a
    made-up 0.5 would hide that from the learning curve.
    """
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    n_pos = sum(1 for _, y in pairs if y)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += avg_rank * sum(1 for k in range(i, j + 1) if pairs[k][1])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def ece(labels: Sequence[bool], probs: Sequence[float], bins: int = 10) -> float | None:
    """Expected calibration error with equal-width bins over [0, 1]."""
    if not labels:
        return None
    totals = [[0, 0.0, 0.0] for _ in range(bins)]  # count, sum prob, sum label
    for y, p in zip(labels, probs, strict=True):
        b = min(int(p * bins), bins - 1)
        totals[b][0] += 1
        totals[b][1] += p
        totals[b][2] += float(y)
    n = len(labels)
    return sum(abs(s_p - s_y) / n for c, s_p, s_y in totals if c)


def predicted_first_error(step_probs: Sequence[float], threshold: float = 0.5) -> int:
    """Index of the first step the model thinks is wrong, or -1."""
    for i, p in enumerate(step_probs):
        if p < threshold:
            return i
    return -1


@dataclass(frozen=True)
class FirstErrorScores:
    error_accuracy: float | None
    correct_accuracy: float | None
    f1: float | None


def first_error_f1(predicted: Sequence[int], actual: Sequence[int]) -> FirstErrorScores:
    """ProcessBench-style: exact first-error index on erroneous samples, -1 on correct ones."""
    err = [(p, a) for p, a in zip(predicted, actual, strict=True) if a != -1]
    ok = [(p, a) for p, a in zip(predicted, actual, strict=True) if a == -1]
    acc_err = sum(p == a for p, a in err) / len(err) if err else None
    acc_ok = sum(p == -1 for p, _ in ok) / len(ok) if ok else None
    if acc_err is None or acc_ok is None:
        f1 = None
    elif acc_err + acc_ok == 0:
        f1 = 0.0
    else:
        f1 = 2 * acc_err * acc_ok / (acc_err + acc_ok)
    return FirstErrorScores(acc_err, acc_ok, f1)


@dataclass(frozen=True)
class BestOfN:
    problems: int
    prm: float
    random: float
    majority: float | None  # None when the candidates carry no final answers to vote on
    # PRM-weighted majority: the answer whose candidates' PRM scores sum highest (Li et al.'s weighted
    # voting; the paper's Figure 3 compares PRM best-of-N with plain majority only).
    weighted: float | None = None


def _tied_mean(weight: dict[str, float], correct: dict[str, float]) -> float:
    top = max(weight.values())
    tied = [a for a, w in weight.items() if w == top]
    return sum(correct[a] for a in tied) / len(tied)


def best_of_n(groups: dict[object, Sequence[tuple[float, bool, str]]]) -> BestOfN | None:
    """Per problem, candidates as (PRM score, answer correct, normalised answer).

    prm: the top-scored candidate is correct; random: expected accuracy of a
    uniform pick; majority: the most common answer is correct; weighted: the
    answer with the largest summed score is correct. Every tie counts as the
    expected accuracy of a uniform pick among the tied, never "the one seen
    first": the real GSM8K file lists each problem's candidates in a fixed
    generator order, weakest first, and that rule scored majority 0.442 where
    the order-free vote scores 0.481 (last seen: 0.563). Problems with a
    single candidate are skipped. A candidate without an answer (a truncated
    solution) does not vote, and a problem where none has one counts as a
    miss for majority. Majority is None only when no candidate anywhere
    carries an answer (a dataset without final answers), rather than a vote
    over blanks.
    """
    usable = {k: v for k, v in groups.items() if len(v) >= 2}
    if not usable:
        return None
    prm = rnd = maj = wmaj = 0.0
    voted = any(c[2] for cands in usable.values() for c in cands)
    for cands in usable.values():
        top = max(c[0] for c in cands)
        best = [c[1] for c in cands if c[0] == top]
        prm += sum(best) / len(best)
        rnd += sum(c[1] for c in cands) / len(cands)
        verdicts: dict[str, list[bool]] = {}
        mass: dict[str, float] = {}
        for c in cands:
            if c[2]:
                verdicts.setdefault(c[2], []).append(c[1])
                mass[c[2]] = mass.get(c[2], 0.0) + c[0]
        if verdicts:
            # An answer's verdict is its candidates' mean, which is 0 or 1 unless grading disagrees.
            correct = {a: sum(v) / len(v) for a, v in verdicts.items()}
            maj += _tied_mean({a: float(len(v)) for a, v in verdicts.items()}, correct)
            wmaj += _tied_mean(mass, correct)
    n = len(usable)
    return BestOfN(problems=n, prm=prm / n, random=rnd / n, majority=maj / n if voted else None,
                   weighted=wmaj / n if voted else None)

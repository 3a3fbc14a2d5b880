"""Selection strategies: which unlabeled solutions to queue for labeling next.

Pure functions over plain data (no Django, no torch), registered by name.
Each takes candidates and a budget k and returns ranked selections; the
refill service turns them into task priorities.

The paper's strategy (Lightman et al. 2023, section 4.2) shows labelers
"convincing wrong-answer" solutions: high PRM score, wrong final answer.
Those are the model's most confident mistakes, so each label there moves
the decision boundary most.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import pstdev


@dataclass(frozen=True)
class Candidate:
    task_id: int
    problem_id: int
    score: float  # PRM solution score in [0, 1]
    answer_correct: bool | None  # final-answer grade; None = ungraded
    step_scores: tuple[float, ...] = ()
    # Step scores of the same solution under the other members of an ensemble (earlier model
    # versions, or other heads); empty when there are none. Only `ensemble` reads them.
    members: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class Selection:
    task_id: int
    score: float
    rank: int  # 0 = label first
    reason: str


Strategy = Callable[..., list[Selection]]
STRATEGIES: dict[str, Strategy] = {}


def register(name: str):
    def wrap(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn

    return wrap


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(sorted(STRATEGIES))}") from None


def _capped(ranked: Iterable[Candidate], limit: int, cap: int, used: dict[int, int], taken: set[int]):
    """Take from `ranked` in order, at most `cap` per problem (counting `used`)."""
    out = []
    for c in ranked:
        if len(out) >= limit:
            break
        if c.task_id in taken or used[c.problem_id] >= cap:
            continue
        used[c.problem_id] += 1
        taken.add(c.task_id)
        out.append(c)
    return out


@register("convincing_wrong")
def convincing_wrong(
    candidates: Sequence[Candidate], *, k: int, wrong_fraction: float = 0.8, per_problem_cap: int = 2,
    rng: random.Random | None = None,
) -> list[Selection]:
    """Most convincing wrong-answer solutions first, mixed with the most convincing others.

    `wrong_fraction` of the budget (0.8 in the paper's ablation) goes to
    wrong-answer solutions ranked by PRM score; the rest to the highest-scored
    remaining solutions. A problem contributes at most `per_problem_cap`
    solutions so one easy-to-fool problem cannot fill the queue. If one pool
    runs short, the other fills the budget.
    """
    if not 0 <= wrong_fraction <= 1:
        raise ValueError("wrong_fraction must be within [0, 1]")
    by_score = sorted(candidates, key=lambda c: (-c.score, c.task_id))
    wrong = [c for c in by_score if c.answer_correct is False]
    used: dict[int, int] = defaultdict(int)
    taken: set[int] = set()
    n_wrong = round(k * wrong_fraction)
    picked_wrong = _capped(wrong, n_wrong, per_problem_cap, used, taken)
    picked_rest = _capped(by_score, k - len(picked_wrong), per_problem_cap, used, taken)
    if len(picked_wrong) + len(picked_rest) < k:  # the rest ran short: more wrong ones
        picked_wrong += _capped(wrong, k - len(picked_wrong) - len(picked_rest), per_problem_cap, used, taken)
    # Interleave so that any prefix of the queue keeps the mix ratio.
    out: list[Selection] = []
    wi = ri = 0
    while wi < len(picked_wrong) or ri < len(picked_rest):
        take_wrong = ri >= len(picked_rest) or (
            wi < len(picked_wrong) and wi < wrong_fraction * (len(out) + 1)
        )
        if take_wrong:
            c, reason, wi = picked_wrong[wi], "convincing_wrong", wi + 1
        else:
            c, reason, ri = picked_rest[ri], "convincing_other", ri + 1
        out.append(Selection(task_id=c.task_id, score=c.score, rank=len(out), reason=reason))
    return out


def _entropy(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


@register("uncertainty")
def uncertainty(
    candidates: Sequence[Candidate], *, k: int, per_problem_cap: int = 2, rng: random.Random | None = None
) -> list[Selection]:
    """Highest step entropy first (ActPRM-style): the steps the model is least sure of.

    A solution's uncertainty is the largest binary entropy among its steps, so
    one doubtful step is enough; solutions without step scores use their
    solution score.
    """
    def key(c: Candidate) -> float:
        scores = c.step_scores or (c.score,)
        return max(_entropy(p) for p in scores)

    ranked = sorted(candidates, key=lambda c: (-key(c), c.task_id))
    picked = _capped(ranked, k, per_problem_cap, defaultdict(int), set())
    return [Selection(task_id=c.task_id, score=key(c), rank=i, reason="uncertainty") for i, c in enumerate(picked)]


def disagreement(c: Candidate) -> float | None:
    """How much the ensemble disagrees on the solution: the largest, over steps, of the population
    standard deviation of P(correct) across members. None with fewer than two members."""
    members = [m for m in (c.step_scores, *c.members) if m]
    if len(members) < 2:
        return None
    n = min(len(m) for m in members)
    return max(pstdev([m[i] for m in members]) for i in range(n))


@register("ensemble")
def ensemble(
    candidates: Sequence[Candidate], *, k: int, per_problem_cap: int = 2, rng: random.Random | None = None
) -> list[Selection]:
    """Largest ensemble disagreement first (ActPRM's uncertainty, from several checkpoints).

    Members that were trained on different labels disagree where the labels
    so far do not pin the answer down. One step is enough, as in
    `uncertainty`. That is epistemic doubt, which a single model's entropy
    mixes up with noise it is sure about. Candidates no second member has
    scored (new pool items, or the first cycle) come after, by the active
    model's step entropy, so the budget is always spent.
    """
    scored = [(d, c) for c in candidates if (d := disagreement(c)) is not None]
    ranked = [c for _, c in sorted(scored, key=lambda dc: (-dc[0], dc[1].task_id))]
    values = {c.task_id: d for d, c in scored}
    known = set(values)
    rest = sorted((c for c in candidates if c.task_id not in known),
                  key=lambda c: (-max(_entropy(p) for p in (c.step_scores or (c.score,))), c.task_id))
    used: dict[int, int] = defaultdict(int)
    taken: set[int] = set()
    picked = _capped(ranked, k, per_problem_cap, used, taken)
    picked += _capped(rest, k - len(picked), per_problem_cap, used, taken)
    return [Selection(task_id=c.task_id, score=values.get(c.task_id, c.score), rank=i,
                      reason="ensemble_disagreement" if c.task_id in known else "uncertainty")
            for i, c in enumerate(picked)]


@register("uniform")
def uniform(
    candidates: Sequence[Candidate], *, k: int, rng: random.Random | None = None, **_: object
) -> list[Selection]:
    """The baseline: k solutions uniformly at random."""
    rng = rng or random.Random(0)
    picked = rng.sample(list(candidates), min(k, len(candidates)))
    return [Selection(task_id=c.task_id, score=c.score, rank=i, reason="uniform") for i, c in enumerate(picked)]


SOLUTION_AGGREGATES = ("product", "min", "last", "mean")


def solution_score(step_probs: Sequence[float], how: str = "product") -> float:
    """Aggregate per-step P(correct) into a solution score.

    "product" is the paper's choice: the probability that every step is
    correct (neutral counted as correct at training time). "min" is the
    common alternative, less harsh on long solutions. Both fall with the
    number of steps, which is right for a PRM trained on step labels and wrong
    for one trained on outcomes: there every step estimates the same verdict,
    so the product punishes length itself (on the real GSM8K solutions the
    shortest of four is right less often than a random pick). "last" is the
    ORM reading, the last step's estimate of the whole solution; "mean"
    averages the estimates. BENCHMARKS.md compares the four on real data.
    """
    if not step_probs:
        return 0.0
    if how == "product":
        return math.prod(step_probs)
    if how == "min":
        return min(step_probs)
    if how == "last":
        return step_probs[-1]
    if how == "mean":
        return sum(step_probs) / len(step_probs)
    raise ValueError(f"unknown aggregation {how!r} ({', '.join(SOLUTION_AGGREGATES)})")

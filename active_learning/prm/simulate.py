"""Active-learning simulation over a fully labeled dataset.

An oracle reveals stored labels. Every strategy starts from the same uniform
seed batch (per seed), then each round: train a fresh PRM on everything
revealed so far, score the unlabeled pool, let the strategy pick the next
batch, reveal it. Quality is measured on a held-out split by problem after
every round, so strategies are compared at equal label budgets.

Data efficiency of strategy S against uniform at budget b: the number of
labels uniform needs (linear interpolation on its mean curve) to match S's
quality at b, divided by b. Uniform therefore runs to a larger budget than
the others (`uniform_budget_factor`), or large ratios could not be measured;
where uniform never gets there the ratio is reported as a lower bound.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from statistics import mean

from active_learning.prm.config import ScoreConfig, TrainConfig
from active_learning.prm.data import SolutionExample
from active_learning.prm.evaluate import metrics_from_scores
from active_learning.prm.model import PRM
from active_learning.prm.score import score
from active_learning.prm.train import train
from active_learning.strategies import Candidate, get_strategy

# Metrics where higher is better, so "labels uniform needs to match" is defined.
RATIO_METRICS = ("step_auroc", "first_error_f1", "solution_auroc")


@dataclass(frozen=True)
class SimulationConfig:
    strategies: tuple[str, ...] = ("convincing_wrong", "uncertainty", "uniform")
    seeds: tuple[int, ...] = (0, 1, 2)
    initial: int = 64  # solutions labeled uniformly before the first model
    batch: int = 64  # solutions labeled per round
    rounds: int = 4
    uniform_budget_factor: int = 3
    heldout_fraction: float = 0.25
    pool_limit: int | None = None  # subsample the unlabeled pool (speed)
    metric: str = "step_auroc"
    ensemble_size: int = 3  # members of the `ensemble` strategy: this round's model and the previous ones


@dataclass
class Curve:
    strategy: str
    seed: int
    points: list[dict] = field(default_factory=list)  # {"labels": n, metric: value, ...}


def split_by_group(examples: Sequence[SolutionExample], fraction: float, seed: int):
    groups = sorted({ex.group for ex in examples})
    random.Random(seed).shuffle(groups)
    held = set(groups[: max(1, int(len(groups) * fraction))])
    return [ex for ex in examples if ex.group not in held], [ex for ex in examples if ex.group in held]


def run_simulation(
    examples: Sequence[SolutionExample],
    *,
    make_prm: Callable[[int], PRM],
    train_config: TrainConfig,
    score_config: ScoreConfig,
    config: SimulationConfig,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict:
    pool_all, heldout = split_by_group(examples, config.heldout_fraction, seed=12345)
    curves: list[Curve] = []
    for seed in config.seeds:
        rng = random.Random(seed)
        pool = list(pool_all)
        if config.pool_limit is not None and len(pool) > config.pool_limit:
            pool = rng.sample(pool, config.pool_limit)
        initial = rng.sample(range(len(pool)), min(config.initial, len(pool)))
        for strategy in config.strategies:
            rounds = config.rounds * (config.uniform_budget_factor if strategy == "uniform" else 1)
            curve = Curve(strategy=strategy, seed=seed)
            labeled = list(initial)
            # Pool scores of the previous rounds' models: the checkpoint ensemble `ensemble` reads, as
            # the refill reads earlier versions' stored scores.
            history: list[dict[int, tuple[float, ...]]] = []
            for r in range(rounds + 1):
                t0 = time.monotonic()
                prm = make_prm(seed)
                train(prm, [pool[i] for i in labeled], TrainConfig.from_dict(
                    {**train_config.to_dict(), "seed": seed * 1000 + r}))
                held_scored = score(prm, [(ex.problem, ex.steps) for ex in heldout], score_config)
                point = metrics_from_scores(
                    heldout, [s.step_probs for s in held_scored], [s.score for s in held_scored]
                )
                point["labels"] = len(labeled)
                point["labeled_steps"] = sum(1 for i in labeled for x in pool[i].labels if x is not None)
                curve.points.append(point)
                log(f"seed {seed} {strategy} round {r}: {len(labeled)} labeled, "
                    f"{config.metric}={point[config.metric]} ({time.monotonic() - t0:.0f}s)")
                if r == rounds:
                    break
                chosen = set(labeled)
                rest = [i for i in range(len(pool)) if i not in chosen]
                scored = score(prm, [(pool[i].problem, pool[i].steps) for i in rest], score_config)
                cands = [
                    Candidate(task_id=i, problem_id=hash(pool[i].group), score=s.score,
                              answer_correct=pool[i].answer_correct, step_scores=s.step_probs,
                              members=tuple(h[i] for h in history[-(config.ensemble_size - 1):] if i in h))
                    for i, s in zip(rest, scored, strict=True)
                ]
                history.append({i: s.step_probs for i, s in zip(rest, scored, strict=True)})
                picks = get_strategy(strategy)(cands, k=config.batch, rng=random.Random(seed * 7919 + r))
                picked = [p.task_id for p in picks]
                if len(picked) < config.batch:
                    # A per-problem cap can leave the strategy short on a small
                    # pool; top up at random so budgets stay equal across strategies.
                    left = [i for i in rest if i not in set(picked)]
                    picked += random.Random(seed + r).sample(left, min(len(left), config.batch - len(picked)))
                labeled += picked
            curves.append(curve)
    summary = summarize(curves, config.metric)
    # The same curves read through the other higher-is-better metrics: a
    # strategy can buy first-error localisation without moving step AUROC
    # much, and the paper's target is finding errors.
    others = {m: summarize(curves, m) for m in RATIO_METRICS if m != config.metric}
    return {"config": asdict(config), "train_config": train_config.to_dict(),
            "pool": len(pool_all), "heldout": len(heldout),
            "curves": [asdict(c) for c in curves], "summary": summary, "other_metrics": others}


def mean_curve(curves: Sequence[Curve], metric: str) -> list[tuple[int, float]]:
    by_budget: dict[int, list[float]] = {}
    for c in curves:
        for p in c.points:
            if p.get(metric) is not None:
                by_budget.setdefault(p["labels"], []).append(p[metric])
    return sorted((b, mean(v)) for b, v in by_budget.items())


def labels_to_reach(curve: Sequence[tuple[int, float]], target: float) -> float | None:
    """First budget where the (interpolated) curve reaches `target`, or None."""
    for (b0, q0), (b1, q1) in zip(curve, curve[1:], strict=False):
        if q0 >= target:
            return float(b0)
        if q1 >= target:
            return b0 + (b1 - b0) * (target - q0) / (q1 - q0)
    if curve and curve[-1][1] >= target:
        return float(curve[-1][0])
    return None


def summarize(curves: Sequence[Curve], metric: str) -> dict:
    strategies = sorted({c.strategy for c in curves})
    means = {s: mean_curve([c for c in curves if c.strategy == s], metric) for s in strategies}
    uniform = means.get("uniform", [])
    out: dict = {"metric": metric, "mean_curves": means, "efficiency": {}}
    for s, curve in means.items():
        if s == "uniform" or not curve or not uniform:
            continue
        per_budget = []
        for b, q in curve[1:]:  # skip the shared seed batch
            need = labels_to_reach(uniform, q)
            if need is None:
                per_budget.append({"labels": b, "quality": q, "ratio": uniform[-1][0] / b, "lower_bound": True})
            else:
                per_budget.append({"labels": b, "quality": q, "ratio": need / b, "lower_bound": False})
        final = per_budget[-1] if per_budget else None
        out["efficiency"][s] = {"per_budget": per_budget, "final": final}
    return out

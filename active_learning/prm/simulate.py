"""Active-learning simulation over a fully labeled dataset.

An oracle reveals stored labels. Every strategy starts from the same uniform
seed batch (per seed), then each round: train a PRM on everything revealed so
far, score the unlabeled pool, let the strategy pick the next batch, reveal it.
Quality is measured on a held-out split by problem after every round, so
strategies are compared at equal label budgets.

Arms. A plain arm ("uniform") trains a fresh PRM from the backbone every
round. A warm arm ("uniform+outcomes") fine-tunes a copy of a prior model
instead: one trained, per seed, on free labels before any human label (the
campaign's `prior` setting). With `prior_folds` >= 2 the prior is cross-fitted
as in the product (prm/folds.py): each member is trained without one fold of
problems and scores only that fold, so a strategy that ranks the pool never
reads a score made from the solution's own verdict. Every member is then
fine-tuned on all revealed labels, as the campaign's k lineages are.

Calibration. With `calibration` > 0, that many solutions of each seed's
uniform seed batch are never trained on; every arm fits its temperature on
them (prm/calibration.py), as the product fits it on its held-out split.
They are drawn uniformly, so the fit is not skewed by what a strategy picked.
They count as labels: a human paid for them.

Data efficiency of strategy S against uniform at budget b: the number of
labels uniform needs (linear interpolation on its mean curve) to match S's
quality at b, divided by b. Uniform therefore runs to a larger budget than
the others (`uniform_budget_factor`), or large ratios could not be measured;
where uniform never gets there the ratio is reported as a lower bound.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from statistics import mean

from active_learning.prm.bootstrap import percentile
from active_learning.prm.calibration import CALIBRATION_METHODS
from active_learning.prm.config import ScoreConfig, TrainConfig
from active_learning.prm.data import SolutionExample
from active_learning.prm.evaluate import calibrate, metrics_from_scores
from active_learning.prm.folds import FoldedPRM, fold_of
from active_learning.prm.model import PRM
from active_learning.prm.score import score
from active_learning.prm.train import train
from active_learning.strategies import Candidate, get_strategy

# Metrics where higher is better, so "labels uniform needs to match" is defined.
RATIO_METRICS = ("step_auroc", "first_error_f1", "solution_auroc")
# What the warm-against-cold table compares (ECE: lower is better, read the sign accordingly).
GAIN_METRICS = ("step_auroc", "first_error_f1", "solution_auroc", "ece")


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
    prior: str = ""  # name of the prior the warm arms start from ("" = no warm arms)
    warm_strategies: tuple[str, ...] = ()  # strategies run a second time, warm-started from the prior
    prior_folds: int = 1  # >= 2: cross-fit the prior over this many folds of problems
    calibration: int = 0  # seed-batch solutions held out of training to fit each model's temperature
    calibration_method: str = "temperature"  # or "platt": temperature and bias (prm/calibration.py)

    def __post_init__(self):
        if self.warm_strategies and not self.prior:
            raise ValueError("warm_strategies need a prior")
        if self.prior_folds < 1:
            raise ValueError("prior_folds must be at least 1")
        missing = set(self.warm_strategies) - set(self.strategies)
        if missing:
            raise ValueError(f"warm strategies need their cold arm to compare with: add {', '.join(sorted(missing))} "
                             "to strategies")
        if self.ensemble_size < 1:
            raise ValueError("ensemble_size must be at least 1")
        if not 0 <= self.calibration < self.initial:
            raise ValueError("calibration must be between 0 and initial - 1 (something must be trained on)")
        if self.calibration_method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration_method must be one of {', '.join(CALIBRATION_METHODS)}")
        if self.calibration_method != "temperature" and not self.calibration:
            # Otherwise a long run would quietly do what the default does.
            raise ValueError(f"calibration_method {self.calibration_method} needs calibration > 0: the seed-batch "
                             "solutions to fit it on")

    def arms(self) -> list[tuple[str, str, bool]]:
        """(arm name, strategy, warm) in run order: the cold arms, then the warm ones."""
        cold = [(s, s, False) for s in self.strategies]
        return cold + [(f"{s}+{self.prior}", s, True) for s in self.warm_strategies]


@dataclass
class Curve:
    strategy: str  # the arm: a strategy name, plus "+<prior>" for a warm arm
    seed: int
    points: list[dict] = field(default_factory=list)  # {"labels": n, metric: value, ...}


def split_by_group(examples: Sequence[SolutionExample], fraction: float, seed: int):
    groups = sorted({ex.group for ex in examples})
    random.Random(seed).shuffle(groups)
    held = set(groups[: max(1, int(len(groups) * fraction))])
    return [ex for ex in examples if ex.group not in held], [ex for ex in examples if ex.group in held]


def _members(prm: PRM | FoldedPRM) -> list[PRM]:
    return list(prm.members) if isinstance(prm, FoldedPRM) else [prm]


def fit_prior(
    examples: Sequence[SolutionExample], *, make_prm: Callable[[int], PRM], train_config: TrainConfig,
    folds: int, seed: int,
) -> PRM | FoldedPRM:
    """The prior a warm arm starts from: one model, or `folds` cross-fitted members (member f never
    sees a problem of fold f, the rule the product uses)."""
    labeled = [ex for ex in examples if any(x is not None for x in ex.labels)]
    if not labeled:
        raise ValueError("the prior has no labeled examples")

    def fitted(part, member_seed):
        prm = make_prm(member_seed)
        train(prm, part, replace(train_config, seed=member_seed))
        return prm

    if folds == 1:
        return fitted(labeled, seed * 1000 + 500)
    parts = [[ex for ex in labeled if fold_of(ex.problem, folds) != f] for f in range(folds)]
    if not all(parts):
        raise ValueError(f"the prior's problems all fall in one of {folds} folds; use fewer folds or more problems")
    return FoldedPRM([fitted(part, seed * 1000 + 500 + f) for f, part in enumerate(parts)])


def run_simulation(
    examples: Sequence[SolutionExample],
    *,
    make_prm: Callable[[int], PRM],
    train_config: TrainConfig,
    score_config: ScoreConfig,
    config: SimulationConfig,
    prior_examples: Callable[[Sequence[SolutionExample]], Sequence[SolutionExample]] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict:
    """`prior_examples(pool)`: the free labels a warm arm's prior trains on, built from the pool
    (its graded outcomes, say) or from elsewhere. Never given the held-out problems."""
    if config.warm_strategies and prior_examples is None:
        raise ValueError("warm arms need prior_examples")
    pool_all, heldout = split_by_group(examples, config.heldout_fraction, seed=12345)
    curves: list[Curve] = []
    priors: dict[int, dict] = {}
    for seed in config.seeds:
        rng = random.Random(seed)
        pool = list(pool_all)
        if config.pool_limit is not None and len(pool) > config.pool_limit:
            pool = rng.sample(pool, config.pool_limit)
        initial = rng.sample(range(len(pool)), min(config.initial, len(pool)))
        calib_ids = set(initial[: config.calibration])
        calib = [pool[i] for i in initial[: config.calibration]]
        prior = None
        if config.warm_strategies:
            t0 = time.monotonic()
            prior_set = list(prior_examples(pool_all))
            prior = fit_prior(prior_set, make_prm=make_prm, train_config=train_config, folds=config.prior_folds,
                              seed=seed)
            priors[seed] = {"examples": len(prior_set), "seconds": round(time.monotonic() - t0, 1)}
            log(f"seed {seed}: {config.prior} prior on {len(prior_set)} examples "
                f"({config.prior_folds} fold(s), {time.monotonic() - t0:.0f}s)")
        for arm, strategy, warm in config.arms():
            rounds = config.rounds * (config.uniform_budget_factor if strategy == "uniform" and not warm else 1)
            curve = Curve(strategy=arm, seed=seed)
            labeled = list(initial)
            # Pool scores of the previous rounds' models: the checkpoint ensemble `ensemble` reads, as
            # the refill reads earlier versions' stored scores.
            history: list[dict[int, tuple[float, ...]]] = []
            for r in range(rounds + 1):
                t0 = time.monotonic()
                prm = copy.deepcopy(prior) if warm else make_prm(seed)
                train_set = [pool[i] for i in labeled if i not in calib_ids]
                for m in _members(prm):
                    train(m, train_set, replace(train_config, seed=seed * 1000 + r))
                cal = (calibrate(prm, calib, device=score_config.device, method=config.calibration_method)
                       if calib else None)
                held_scored = score(prm, [(ex.problem, ex.steps) for ex in heldout], score_config)
                point = metrics_from_scores(
                    heldout, [s.step_probs for s in held_scored], [s.score for s in held_scored]
                )
                point["labels"] = len(labeled)
                point["labeled_steps"] = sum(1 for i in labeled for x in pool[i].labels if x is not None)
                if cal is not None:
                    point["temperature"] = cal["temperature"]
                    point["calibration_bias"] = cal["bias"]
                curve.points.append(point)
                log(f"seed {seed} {arm} round {r}: {len(labeled)} labeled, "
                    f"{config.metric}={point[config.metric]} ({time.monotonic() - t0:.0f}s)")
                if r == rounds:
                    break
                chosen = set(labeled)
                rest = [i for i in range(len(pool)) if i not in chosen]
                scored = score(prm, [(pool[i].problem, pool[i].steps) for i in rest], score_config)
                earlier = history[len(history) - (config.ensemble_size - 1):] if config.ensemble_size > 1 else []
                cands = [
                    Candidate(task_id=i, problem_id=hash(pool[i].group), score=s.score,
                              answer_correct=pool[i].answer_correct, step_scores=s.step_probs,
                              members=tuple(h[i] for h in earlier if i in h))
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
            "pool": len(pool_all), "heldout": len(heldout), "priors": priors,
            "curves": [asdict(c) for c in curves], "summary": summary, "other_metrics": others,
            "warm_gain": warm_gain(curves, config),
            "intervals": {m: seed_intervals(curves, m) for m in RATIO_METRICS}}


def seed_intervals(curves: Sequence[Curve], metric: str, *, replicates: int = 2000, seed: int = 0) -> dict:
    """95% intervals over seeds for each arm's final data-efficiency ratio against uniform.

    A replicate resamples seeds with replacement and recomputes every mean curve and ratio from
    the resampled seeds, so the curves of one seed stay paired (same seed batch). With 5 seeds
    these are rough, and the lower-bound ratios (uniform never got there) stay lower bounds.
    """
    seeds = sorted({c.seed for c in curves})
    point = summarize(curves, metric)["efficiency"]
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {arm: [] for arm in point}
    for _ in range(replicates):
        picked = [rng.choice(seeds) for _ in seeds]
        resampled = [Curve(c.strategy, i, c.points) for i, s in enumerate(picked) for c in curves if c.seed == s]
        for arm, eff in summarize(resampled, metric)["efficiency"].items():
            if eff["final"] is not None and arm in draws:
                draws[arm].append(eff["final"]["ratio"])
    out = {}
    for arm, eff in point.items():
        got = sorted(draws[arm])
        if eff["final"] is None or not got:
            continue
        out[arm] = {"ratio": eff["final"]["ratio"], "labels": eff["final"]["labels"],
                    "lower_bound": eff["final"]["lower_bound"], "low": percentile(got, 0.025),
                    "high": percentile(got, 0.975)}
    return out


def warm_gain(curves: Sequence[Curve], config: SimulationConfig) -> dict:
    """Warm minus cold at equal human labels, paired by seed: {arm: {metric: [{labels, mean, per_seed}]}}."""
    out: dict = {}
    by_key = {(c.strategy, c.seed): c for c in curves}
    for arm, strategy, warm in config.arms():
        if not warm:
            continue
        table: dict = {}
        for metric in GAIN_METRICS:
            rows: dict[int, list[float]] = {}
            for seed in config.seeds:
                w, c = by_key.get((arm, seed)), by_key.get((strategy, seed))
                if w is None or c is None:
                    continue
                cold = {p["labels"]: p.get(metric) for p in c.points}
                for p in w.points:
                    if p.get(metric) is not None and cold.get(p["labels"]) is not None:
                        rows.setdefault(p["labels"], []).append(p[metric] - cold[p["labels"]])
            table[metric] = [{"labels": b, "mean": mean(d), "per_seed": d, **_mean_interval(d)}
                             for b, d in sorted(rows.items())]
        out[arm] = {"against": strategy, **table}
    return out


def _mean_interval(values: Sequence[float], *, replicates: int = 2000, seed: int = 0) -> dict:
    """95% bootstrap interval of the mean over seeds (rough with 5 seeds; None with fewer than 2)."""
    if len(values) < 2:
        return {"low": None, "high": None}
    rng = random.Random(seed)
    got = sorted(mean(rng.choice(values) for _ in values) for _ in range(replicates))
    return {"low": percentile(got, 0.025), "high": percentile(got, 0.975)}


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
        # A warm arm's first point is not the shared seed batch's cold model: keep it.
        per_budget = []
        for b, q in (curve if "+" in s else curve[1:]):
            need = labels_to_reach(uniform, q)
            if need is None:
                per_budget.append({"labels": b, "quality": q, "ratio": uniform[-1][0] / b, "lower_bound": True})
            else:
                per_budget.append({"labels": b, "quality": q, "ratio": need / b, "lower_bound": False})
        final = per_budget[-1] if per_budget else None
        out["efficiency"][s] = {"per_budget": per_budget, "final": final}
    return out

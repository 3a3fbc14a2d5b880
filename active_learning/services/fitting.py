"""Fitting a run's model: from human labels (warm-started), or the campaign's first model from a prior.

The training service calls `fit_run` and then saves, registers and maybe
promotes what comes back. Priors (ActiveLearningConfig.prior) are free
labels for a campaign that has no model yet:

- outcomes: the pool's graded final answers, each solution's verdict on all
  of its steps (Math-Shepherd's hard estimation with the solution itself as
  the one rollout: bench/bench_real_outcomes.py compares it with last-step labels);
- prelabels: imported automatic step labels (Math-Shepherd Monte Carlo
  estimates, LLM-judge ratings);
- synthetic: the bundled synthetic GSM8K error set, with exact step labels.

The first two are made from the pool itself, so they are cross-fitted
(prm/folds.py): k members, each trained without one fold of problems, and
each pool solution is scored by the member that never saw its problem.
The campaign then keeps those k lineages: every later cycle fine-tunes each
member on the human labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from active_learning.models import PRMModel, TrainingRun
from active_learning.prm.data import SolutionExample, heldout_split, outcome_examples
from active_learning.services.datasets import pool_outcome_examples, pool_prelabel_examples, training_examples
from active_learning.services.evaluation import real_eval_metrics
from active_learning.services.launch import train_launched, training_processes
from labeling.errors import ValidationFailed

OUTCOME_MODE = "all_steps"
CROSS_FITTED = ("outcomes", "prelabels")
SYNTHETIC_FILE = Path(__file__).resolve().parents[1] / "data" / "gsm8k_train.jsonl"


@dataclass
class Fitted:
    prm: object  # PRM or FoldedPRM
    report: dict
    metrics: dict
    counts: dict
    warm_from: int | None
    prior: dict | None  # where the lineage started, recorded in the registry
    gate_metric: str | None = None  # None: the campaign's promotion metric
    trained_problems: set[str] = field(default_factory=set)


def prior_run_due(*, config) -> bool:
    """A campaign with a prior and no model at all trains its first model without waiting for labels."""
    return bool(config.prior) and not PRMModel.objects.filter(campaign=config.campaign).exists()


def _train_one(prm, examples, train_cfg, *, run, keeper, tag: str = ""):
    from active_learning.prm.train import train

    processes = training_processes(train_cfg.device)
    if processes > 1:
        workdir = Path(settings.CHECKPOINT_DIR) / run.campaign.slug / f".launch-run{run.pk}{tag}"
        return train_launched(prm=prm, examples=examples, train_config=train_cfg, processes=processes,
                              workdir=workdir, renew=keeper)
    return prm, train(prm, examples, train_cfg, progress=keeper)


def _train_all(prm, examples, train_cfg, *, run, keeper):
    """Train a model, or every member of a cross-fitted one on the same examples; returns (model, report)."""
    from active_learning.prm.folds import FoldedPRM

    if not isinstance(prm, FoldedPRM):
        model, report = _train_one(prm, examples, train_cfg, run=run, keeper=keeper)
        return model, report.to_dict()
    members, reports = [], []
    for f, member in enumerate(prm.members):
        trained, report = _train_one(member, examples, train_cfg, run=run, keeper=keeper, tag=f"-fold{f}")
        members.append(trained)
        reports.append(report.to_dict())
        keeper.renew()
    return FoldedPRM(members), _merged(reports)


def _merged(reports: list[dict]) -> dict:
    out = dict(reports[0])
    out["seconds"] = round(sum(r["seconds"] for r in reports), 3)
    out["final_loss"] = (sum(r["final_loss"] for r in reports if r["final_loss"] is not None) / len(reports)
                         if all(r["final_loss"] is not None for r in reports) else None)
    out["members"] = reports
    return out


def _evaluate(prm, heldout, cfg, train_cfg, keeper) -> dict:
    from active_learning.prm.evaluate import calibrate, evaluate, reset_calibration

    # Temperature scaling on the held-out steps, stored with the checkpoint: scores, the 0.5
    # first-error rule and "convincing" cut-offs then mean the same for every version. With
    # nothing held out, a warm start's inherited fit is dropped rather than kept on new weights.
    if not heldout:
        reset_calibration(prm)
        keeper.renew()
        return {}
    calibration = calibrate(prm, heldout, device=train_cfg.device, method=train_cfg.calibration)
    metrics = evaluate(prm, heldout, aggregate=cfg["score"]["aggregate"], device=train_cfg.device)
    metrics["temperature"] = calibration["temperature"]
    metrics["calibration_bias"] = calibration["bias"]
    metrics["calibration_method"] = calibration["method"]
    metrics["ece_uncalibrated"] = calibration["ece_before"]
    keeper.renew()
    return metrics


def fit_run(*, run: TrainingRun, keeper) -> Fitted:
    """The run's model, trained and evaluated (not saved). Raises ValidationFailed without enough data."""
    cfg = run.config
    if cfg.get("prior_run"):
        fitted = _fit_prior(run=run, keeper=keeper)
    else:
        fitted = _fit_human(run=run, keeper=keeper)
    if cfg.get("eval_set"):
        # Real data, problems this campaign never trained on: the number that says whether the loop pays.
        fitted.metrics["real"] = real_eval_metrics(
            prm=fitted.prm, name=cfg["eval_set"], device=cfg["train"]["device"],
            trained_problems=fitted.trained_problems, aggregate=cfg["score"]["aggregate"])
        keeper.renew()
    return fitted


def _fit_human(*, run: TrainingRun, keeper) -> Fitted:
    from active_learning.prm.config import ModelConfig, TrainConfig
    from active_learning.prm.folds import load_checkpoint
    from active_learning.prm.model import PRM

    cfg, campaign = run.config, run.campaign
    examples, counts = training_examples(campaign=campaign, neutral=cfg["train"]["neutral"],
                                         aggregation=cfg["aggregation"])
    train_set, heldout = heldout_split(examples, cfg["heldout_fraction"])
    counts.update(train_examples=len(train_set), heldout_examples=len(heldout))
    TrainingRun.objects.filter(pk=run.pk).update(data_counts=counts)
    if counts["assignments"] < cfg["min_labels"] or not train_set:
        raise ValidationFailed(
            f"only {counts['assignments']} submitted labels ({len(train_set)} training examples); "
            f"this campaign trains from {cfg['min_labels']}"
        )
    active = PRMModel.objects.filter(campaign=campaign, is_active=True).first()
    model_cfg = ModelConfig.from_dict(cfg["model"])
    train_cfg = TrainConfig.from_dict(cfg["train"])
    # Warm start only from a model built with the same ModelConfig: after a
    # manager changes the backbone or its depth, continuing from the old
    # checkpoint would silently keep the old architecture.
    same_model = active is not None and (active.config or {}).get("model") == model_cfg.to_dict()
    if cfg["warm_start"] and same_model and Path(active.checkpoint_path).is_dir():
        prm, warm_from = load_checkpoint(active.checkpoint_path), active.version
        prior = (active.config or {}).get("prior")
    else:
        prm, warm_from, prior = PRM.from_backbone(model_cfg, seed=train_cfg.seed), None, None
    prm, report = _train_all(prm, train_set, train_cfg, run=run, keeper=keeper)
    keeper.renew()
    metrics = _evaluate(prm, heldout, cfg, train_cfg, keeper)
    metrics["train_loss"] = report["final_loss"]
    trained = {ex.problem for ex in examples} | _prior_problems(campaign, prior)
    return Fitted(prm=prm, report=report, metrics=metrics, counts=counts, warm_from=warm_from, prior=prior,
                  trained_problems=trained)


def _prior_problems(campaign, prior: dict | None) -> set[str]:
    # A lineage that started from the pool's outcomes has seen every pool problem's verdicts: a
    # real-data check must leave those problems out too.
    if not prior or prior.get("kind") not in CROSS_FITTED:
        return set()
    return set(campaign.tasks.values_list("solution__problem__text", flat=True).distinct())


def prior_examples(*, campaign, kind: str, neutral: str) -> list[SolutionExample]:
    from active_learning.prm.synthetic import build_examples, read_gsm8k

    if kind == "outcomes":
        return outcome_examples(pool_outcome_examples(campaign=campaign), mode=OUTCOME_MODE)
    if kind == "prelabels":
        return pool_prelabel_examples(campaign=campaign, neutral=neutral)
    if kind == "synthetic":
        return list(build_examples(read_gsm8k(SYNTHETIC_FILE), variants=2, seed=0))
    raise ValidationFailed(f"unknown prior {kind!r}")


def _fit_prior(*, run: TrainingRun, keeper) -> Fitted:
    from active_learning.prm.config import ModelConfig, TrainConfig
    from active_learning.prm.evaluate import evaluate
    from active_learning.prm.folds import RULE, FoldedPRM, fold_of
    from active_learning.prm.model import PRM

    cfg, campaign = run.config, run.campaign
    kind, k = cfg["prior"], cfg.get("prior_folds", 2)
    t0 = time.monotonic()
    examples = prior_examples(campaign=campaign, kind=kind, neutral=cfg["train"]["neutral"])
    labeled = [ex for ex in examples if any(x is not None for x in ex.labels)]
    counts = {"assignments": 0, "prior": kind, "prior_examples": len(labeled),
              "prior_labeled_steps": sum(1 for ex in labeled for x in ex.labels if x is not None)}
    TrainingRun.objects.filter(pk=run.pk).update(data_counts=counts)
    if len(labeled) < 10:
        raise ValidationFailed(f"the {kind} prior has {len(labeled)} labeled solutions in campaign "
                               f"'{campaign.slug}'; it needs at least 10")
    model_cfg = ModelConfig.from_dict(cfg["model"])
    train_cfg = TrainConfig.from_dict(cfg["train"])
    prior = {"kind": kind, "examples": len(labeled), "labeled_steps": counts["prior_labeled_steps"]}
    if kind in CROSS_FITTED:
        parts = [[ex for ex in labeled if fold_of(ex.problem, k) != f] for f in range(k)]
        if not all(parts):
            raise ValidationFailed(f"the {kind} prior's {len({ex.problem for ex in labeled})} problem(s) all fall in "
                                   f"one of {k} folds; lower prior_folds or import more problems")
        members, reports = [], []
        for f, part in enumerate(parts):
            member = PRM.from_backbone(model_cfg, seed=train_cfg.seed + f)
            member, report = _train_one(member, part, train_cfg, run=run, keeper=keeper, tag=f"-fold{f}")
            members.append(member)
            reports.append({**report.to_dict(), "fold": f, "train_solutions": len(part)})
            keeper.renew()
        prm, report = FoldedPRM(members), _merged(reports)
        prior.update(folds=k, rule=RULE, outcome_mode=OUTCOME_MODE if kind == "outcomes" else None)
        # Honest numbers without a single human label: every solution scored by the member that never saw
        # its problem, against its graded answer (solution AUROC, best-of-N against majority vote).
        graded = [SolutionExample(problem=ex.problem, steps=ex.steps, group=ex.group,
                                  answer_correct=ex.answer_correct, answer=ex.answer, key=ex.key)
                  for ex in pool_outcome_examples(campaign=campaign)]
        metrics = evaluate(prm, graded, aggregate=cfg["score"]["aggregate"], device=train_cfg.device)
        metrics["cross_fitted"] = True
        gate_metric = "solution_auroc"
    else:
        train_set, heldout = heldout_split(labeled, 0.1)
        prm, report = _train_one(PRM.from_backbone(model_cfg, seed=train_cfg.seed), train_set, train_cfg, run=run,
                                 keeper=keeper)
        report = report.to_dict()
        metrics = _evaluate(prm, heldout, cfg, train_cfg, keeper)
        gate_metric = None
    metrics["train_loss"] = report["final_loss"]
    report["prior_seconds"] = round(time.monotonic() - t0, 3)
    keeper.renew()
    trained = {ex.problem for ex in labeled}
    return Fitted(prm=prm, report=report, metrics=metrics, counts=counts, warm_from=None, prior=prior,
                  gate_metric=gate_metric, trained_problems=trained)

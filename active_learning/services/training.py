"""Training runs: request, execute (train + evaluate + promote), reap dead ones.

The per-campaign lock is the partial unique index "one queued/running run
per campaign" plus a lease on the run row that the worker renews while it
works. A run whose lease lapses had its worker die (SIGKILL, OOM, a lost
node); `training_runs_reap` marks it failed, which frees the lock, and
nothing it half-did is visible: a model is promoted in one transaction at
the end of training, and its checkpoint directory is renamed into place
before that.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from active_learning.evalsets import EVAL_SETS
from active_learning.models import ActiveLearningConfig, PRMModel, TrainingRun
from active_learning.prm.backbone import BackboneError, backbone_layer_count, resolve_backbone
from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.promotion import promotion_decide
from active_learning.services.fitting import fit_run, prior_run_due
from labeling.errors import Conflict, NotFound, ValidationFailed
from labeling.models import Assignment, Campaign
from labeling.services.outbox import handed_over_before, never_queued, outbox_enqueue

log = logging.getLogger(__name__)

LIVE = [TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def al_config_get_or_create(*, campaign: Campaign) -> ActiveLearningConfig:
    """The campaign's active-learning settings, created with defaults on first use."""
    config, _ = ActiveLearningConfig.objects.get_or_create(campaign=campaign)
    return config


# What a campaign manager may ask of the training workers (an administrator may ask for more in the admin).
MANAGER_LIMITS = {"epochs": 50, "max_steps": 100_000, "time_budget_s": 6 * 3600, "batch_size": 256}
MANAGER_MODEL_LIMITS = {"max_length": 4096}


@transaction.atomic
def al_config_copy(*, source: Campaign, target: Campaign) -> ActiveLearningConfig | None:
    """Give `target` the active-learning settings of `source` (labeling's campaign-copy hook).

    Invariants: settings only (no model, run or score is copied: the copy trains its own
    first model); a source that never had settings leaves the target on the defaults.
    """
    config = ActiveLearningConfig.objects.filter(campaign=source).first()
    if config is None:
        return None
    skip = ("id", "campaign", "updated_at")
    names = [f.name for f in ActiveLearningConfig._meta.concrete_fields if f.name not in skip]
    copied, _ = ActiveLearningConfig.objects.update_or_create(
        campaign=target, defaults={name: getattr(config, name) for name in names})
    return copied


def _field_error(field: str, message: str, *, prefix: str = "") -> ValidationFailed:
    """A refusal that names the setting it is about, so a form can show it under that field."""
    return ValidationFailed(f"{prefix}{field}: {message}", details={field: [message]})


def _manager_limits(config: ActiveLearningConfig, old_backbone: str) -> None:
    if (config.model_config or {}).get("backbone", "") != old_backbone:
        raise _field_error("model_config", "only an administrator chooses the backbone "
                                           "(a directory on the training workers)")
    for field, limits in (("train_config", MANAGER_LIMITS), ("model_config", MANAGER_MODEL_LIMITS)):
        for name, cap in limits.items():
            value = (getattr(config, field) or {}).get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > cap:
                raise _field_error(field, f"{name} may be at most {cap} (ask an administrator for more)")


@transaction.atomic
def al_config_update(*, campaign: Campaign, changes: dict, by=None) -> tuple[ActiveLearningConfig, list[str]]:
    """Change a campaign's active-learning settings; returns the config and the names changed.

    Invariants: the model's field checks pass (full_clean) and the model,
    train and score configs build (the same check a run makes), so a bad
    setting is refused here rather than failing the next cycle; someone who
    is not a superuser cannot point the workers at another backbone directory
    or ask for budgets past MANAGER_LIMITS. A refusal writes nothing and its
    `details` map each setting at fault to its messages. The next run uses
    the new settings; a run in progress keeps the ones it started with.
    """
    config = ActiveLearningConfig.objects.select_for_update().get(pk=al_config_get_or_create(campaign=campaign).pk)
    for name in ("model_config", "train_config", "score_config"):
        if name in changes and not isinstance(changes[name], dict):
            raise _field_error(name, "must be a JSON object, such as {}")
    old_backbone = (config.model_config or {}).get("backbone", "")
    changed = [k for k, v in changes.items() if getattr(config, k) != v]
    for k in changed:
        setattr(config, k, changes[k])
    try:
        config.full_clean(exclude=["campaign"])
    except DjangoValidationError as exc:
        errors = {("settings" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
        raise ValidationFailed("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), details=errors) from exc
    if by is None or not by.is_superuser:
        _manager_limits(config, old_backbone)
    _run_config(config)
    if changed:
        config.save()
    return config, changed


def _checked_layers(model: ModelConfig) -> ModelConfig:
    """Refuse a layer cut deeper than the backbone, which would train random layers.

    Checked only where this process can read the backbone's config; a custom
    backbone that lives on the training workers alone is checked when they load it.
    """
    if model.num_hidden_layers is None:
        return model
    try:
        directory, name = resolve_backbone(model.backbone)
        layers = backbone_layer_count(directory)
    except BackboneError:
        return model
    if layers is not None and model.num_hidden_layers > layers:
        raise ValueError(f"num_hidden_layers {model.num_hidden_layers} is more than the {layers} layers {name} has")
    return model


def submitted_label_count(campaign: Campaign) -> int:
    return Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED).count()


def training_runs_reap(*, now=None) -> int:
    """Fail runs whose worker died (lease lapsed) or that nobody picked up in time.

    Invariant: only live runs with an expired lease (running) or an old
    request (queued) are touched; the active model is never changed here.
    Returns how many runs were failed.
    """
    now = now or timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.AL_QUEUED_TIMEOUT_SECONDS)
    n = 0
    # A queued run is dead only once its message reached the broker that long ago and no
    # worker took it; one still waiting for the broker (an outage) runs when it is back.
    dead = TrainingRun.objects.filter(
        Q(status=TrainingRun.Status.RUNNING, lease_expires_at__lt=now)
        | (Q(status=TrainingRun.Status.QUEUED)
           & (handed_over_before("run:", queued_cutoff) | (Q(created_at__lt=queued_cutoff) & never_queued("run:"))))
    )
    for run in dead:
        with transaction.atomic():
            locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if locked.status not in LIVE:
                continue
            was, was_running = locked.stage, locked.status == TrainingRun.Status.RUNNING
            locked.status = TrainingRun.Status.FAILED
            locked.finished_at = now
            if was_running and was == TrainingRun.Stage.SCORING:
                locked.error = (f"no scoring chunk made progress for {settings.AL_SCORING_STALL_SECONDS} s; "
                                f"is a worker consuming the '{settings.CELERY_SCORING_QUEUE}' queue?")
            elif was_running:
                locked.error = f"worker {locked.worker or '?'} stopped renewing its lease during {was}; presumed dead"
            else:
                locked.error = "no training worker picked this run up in time"
            locked.save(update_fields=["status", "finished_at", "error"])
            n += 1
            log.warning("training run %s failed: %s", locked.pk, locked.error)
    return n


def training_run_request(
    *, campaign: Campaign, trigger: str = TrainingRun.Trigger.MANUAL, user=None, enqueue: bool = True,
    train: bool = True,
) -> TrainingRun:
    """Queue a retrain -> score -> refill cycle for `campaign`.

    Raises ValidationFailed below the campaign's min_labels and Conflict
    when a live run already exists (the lock). Dead runs are
    reaped first so a crashed worker never blocks the next cycle. The cycle's
    Celery task goes through the transactional outbox with the run, so a worker
    never sees an uncommitted run and a broker outage delays the cycle instead
    of losing it (enqueue=False leaves the run for the caller to execute in-process).
    `train=False` queues only score -> refill with the active model (after a
    promotion by hand). A campaign with a prior and no model yet trains its
    first model on the prior's free labels, however few human labels it has.
    """
    training_runs_reap()
    config = al_config_get_or_create(campaign=campaign)
    labels = submitted_label_count(campaign)
    prior_run = train and prior_run_due(config=config)
    if train and not prior_run and labels < config.min_labels:
        # Refused here rather than failing in the worker: "Retrain now" on a
        # young campaign should say why at once, not leave a failed run behind.
        raise ValidationFailed(
            f"campaign '{campaign.slug}' has {labels} submitted labels and trains from {config.min_labels} "
            "(min_labels in its active-learning settings)"
        )
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                campaign=campaign, trigger=trigger, requested_by=user, label_count=labels,
                config={**_run_config(config), "train_stage": train, "prior_run": prior_run},
            )
            if enqueue:
                # With the run, in its transaction: published after commit, or by the relay
                # once the broker is back, so a queued run never waits on a lost message.
                outbox_enqueue(task="active_learning.tasks.start_cycle", args=[run.pk], ref=f"run:{run.pk}")
    except IntegrityError:
        live = TrainingRun.objects.filter(campaign=campaign, status__in=LIVE).first()
        raise Conflict(
            f"campaign '{campaign.slug}' already has a training run in progress"
            + (f" (run {live.pk}, {live.stage})" if live else "")
        ) from None
    return run


INVALID = "active-learning settings for this campaign are invalid: "


def _run_config(config: ActiveLearningConfig) -> dict:
    """The settings a run starts with, as plain data; ValidationFailed (naming the setting) if they cannot run."""
    def build(field: str, make):
        try:
            if not isinstance(getattr(config, field), dict):
                raise TypeError("must be a JSON object, such as {}")
            return make()
        except (TypeError, ValueError, BackboneError) as exc:
            raise _field_error(field, str(exc), prefix=INVALID) from exc

    if config.eval_set and config.eval_set not in EVAL_SETS:
        raise _field_error("eval_set", f"{config.eval_set!r} is not one of: {', '.join(sorted(EVAL_SETS))}",
                           prefix=INVALID)
    model = build("model_config", lambda: _checked_layers(ModelConfig.from_dict(config.model_config)))
    train_cfg = build("train_config", lambda: TrainConfig.from_dict({"neutral": config.neutral, **config.train_config}))
    score = build("score_config",
                  lambda: ScoreConfig.from_dict({"aggregate": config.score_aggregate, **config.score_config}))
    return {
        "model": model.to_dict(), "train": train_cfg.to_dict(), "score": score.to_dict(),
        "aggregation": config.aggregation, "heldout_fraction": config.heldout_fraction,
        "warm_start": config.warm_start, "prior": config.prior, "prior_folds": config.prior_folds,
        "eval_set": config.eval_set, "promotion_metric": config.promotion_metric,
        "promotion_gate": config.promotion_gate, "chance_margin": config.chance_margin,
        "max_regression": config.max_regression, "strategy": config.strategy,
        "refill_size": config.refill_size, "wrong_fraction": config.wrong_fraction,
        "per_problem_cap": config.per_problem_cap, "min_labels": config.min_labels,
    }


def training_run_claim(*, run_id: int, worker: str) -> TrainingRun | None:
    """Move a queued run to running under this worker's lease; None if it is not queued any more."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != TrainingRun.Status.QUEUED:
            return None
        now = timezone.now()
        run.status = TrainingRun.Status.RUNNING
        run.stage = TrainingRun.Stage.TRAINING
        run.worker = worker
        run.started_at = now
        run.lease_expires_at = now + timedelta(seconds=settings.AL_RUN_LEASE_SECONDS)
        run.save(update_fields=["status", "stage", "worker", "started_at", "lease_expires_at"])
        return run


class LeaseKeeper:
    """Renews a run's lease from inside long loops, at most every lease/4 seconds.

    Raises Conflict if the run was reaped meanwhile (we were too slow and
    someone declared us dead): the work must stop rather than overwrite.
    """

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.last = time.monotonic()

    def __call__(self, *_args) -> None:
        if time.monotonic() - self.last < settings.AL_RUN_LEASE_SECONDS / 4:
            return
        self.renew()

    def renew(self, **fields) -> None:
        self.last = time.monotonic()
        until = timezone.now() + timedelta(seconds=settings.AL_RUN_LEASE_SECONDS)
        updated = TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING).update(
            lease_expires_at=until, **fields
        )
        if not updated:
            raise Conflict(f"training run {self.run_id} is no longer running (reaped or cancelled)")


def training_run_fail(*, run_id: int, error: str) -> None:
    """Mark a live run failed. The active model is untouched."""
    TrainingRun.objects.filter(pk=run_id, status__in=LIVE).update(
        status=TrainingRun.Status.FAILED, finished_at=timezone.now(), error=error[:5000]
    )


def cycle_stage(stage: str):
    """Decorate a cycle stage taking run_id=: any exception fails the run at once
    (no waiting for the lease to lapse), then propagates."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*, run_id: int, **kwargs):
            try:
                return fn(run_id=run_id, **kwargs)
            except Exception as exc:
                training_run_fail(run_id=run_id, error=f"{type(exc).__name__} during {stage}: {exc}")
                raise

        return run

    return wrap


def training_run_execute(*, run_id: int, worker: str | None = None) -> TrainingRun | None:
    """Train, evaluate and (maybe) promote a model for a claimed run.

    Invariants: runs only a queued run (a redelivered or duplicate message
    finds it taken and does nothing); on any error the run is failed and
    the previous model stays active; a new model is promoted only after a
    successful training and only if the promotion gate lets it through
    (active_learning.promotion: above chance by the margin, and no worse than
    the active model by more than `max_regression`); the run records why.
    Returns the run (None if nothing was run).
    """
    run = training_run_claim(run_id=run_id, worker=worker or worker_name())
    if run is None:
        return None
    keeper = LeaseKeeper(run.pk)
    try:
        _train_and_promote(run, keeper)
    except Exception as exc:
        log.exception("training run %s failed", run.pk)
        training_run_fail(run_id=run.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    run.refresh_from_db()
    return run


def _train_and_promote(run: TrainingRun, keeper: LeaseKeeper) -> None:
    from active_learning.prm.card import model_card
    from active_learning.prm.config import ModelConfig, TrainConfig

    t0 = time.monotonic()
    cfg = run.config
    campaign = run.campaign
    if not cfg.get("train_stage", True):
        # Score and refill with the model a manager just promoted by hand: nothing to train.
        active = PRMModel.objects.filter(campaign=campaign, is_active=True).first()
        TrainingRun.objects.filter(pk=run.pk).update(
            stage=TrainingRun.Stage.SCORING, model=active,
            report={**run.report, "promotion": f"no training: scoring with v{active.version if active else '?'}"},
        )
        return
    active = PRMModel.objects.filter(campaign=campaign, is_active=True).first()
    fitted = fit_run(run=run, keeper=keeper)
    prm, metrics, counts, warm_from = fitted.prm, fitted.metrics, fitted.counts, fitted.warm_from
    model_cfg = ModelConfig.from_dict(cfg["model"])
    train_cfg = TrainConfig.from_dict(cfg["train"])

    version = (PRMModel.objects.filter(campaign=campaign).order_by("-version").values_list("version", flat=True)
               .first() or 0) + 1
    # A random suffix: version and run id repeat after a database reset or a
    # restored backup, and renaming onto a leftover directory would fail the run.
    final_dir = Path(settings.CHECKPOINT_DIR) / campaign.slug / f"v{version}-run{run.pk}-{uuid.uuid4().hex[:8]}"
    tmp_dir = final_dir.with_name(final_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    card = model_card(
        prm.meta_dict(), title=f"{campaign.name}: PRM v{version}", metrics=metrics,
        data={"campaign": campaign.slug, **counts, "warm start from": f"v{warm_from}" if warm_from else "none",
              "prior": (fitted.prior or {}).get("kind", "none")},
        train={k: v for k, v in train_cfg.to_dict().items() if k != "device"}, license="other",
        aggregate=cfg["score"]["aggregate"],
    )
    prm.save(tmp_dir, card=card)
    os.replace(tmp_dir, final_dir)

    decision = promotion_decide(
        metric=fitted.gate_metric or cfg["promotion_metric"], new=metrics, active=active.metrics if active else None,
        gate=cfg.get("promotion_gate", True), chance_margin=cfg.get("chance_margin", 0.02),
        max_regression=cfg["max_regression"],
    )
    promote, reason = decision.promote, decision.reason
    train_seconds = round(time.monotonic() - t0, 3)
    with transaction.atomic():
        # The config row serialises promotions (this one and model_promote by hand).
        ActiveLearningConfig.objects.select_for_update().filter(campaign=campaign).first()
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != TrainingRun.Status.RUNNING:
            raise Conflict(f"training run {run.pk} was reaped while training; not promoting")
        now_active = PRMModel.objects.filter(campaign=campaign, is_active=True).first()
        if promote and (now_active and now_active.pk) != (active and active.pk):
            # Someone promoted another model by hand while this one trained: theirs stands.
            promote = False
            version_now = now_active.version if now_active else "?"
            reason = f"not promoted: v{version_now} was made active while this run trained"
        model = PRMModel.objects.create(
            campaign=campaign, version=version, backbone=prm.meta.backbone[:255], checkpoint_path=str(final_dir),
            config={"model": model_cfg.to_dict(), "train": train_cfg.to_dict(), "warm_start_from": warm_from,
                    "separator": prm.meta.separator, "max_length": prm.meta.max_length, "prior": fitted.prior,
                    "folds": getattr(prm, "k", None)},
            metrics=metrics, label_count=counts["assignments"],
        )
        if promote:
            PRMModel.objects.filter(campaign=campaign, is_active=True).update(is_active=False)
            model.is_active = True
            model.save(update_fields=["is_active"])
        locked.model = model
        locked.promoted = promote
        locked.metrics = metrics
        locked.stage = TrainingRun.Stage.SCORING
        locked.report = {**locked.report, "train": fitted.report, "train_seconds": train_seconds,
                         "promotion": reason, "parameters": prm.parameter_count()}
        locked.save(update_fields=["model", "promoted", "metrics", "stage", "report"])


def training_run_finish(*, run_id: int, **report) -> None:
    """Close a cycle: succeeded, with its total duration."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != TrainingRun.Status.RUNNING:
            return
        now = timezone.now()
        run.status = TrainingRun.Status.SUCCEEDED
        run.stage = TrainingRun.Stage.DONE
        run.finished_at = now
        run.lease_expires_at = None
        run.report = {**run.report, **report,
                      "cycle_seconds": round((now - (run.started_at or now)).total_seconds(), 3)}
        run.save(update_fields=["status", "stage", "finished_at", "lease_expires_at", "report"])


@transaction.atomic
def model_promote(*, campaign: Campaign, version: int, by) -> tuple[PRMModel, TrainingRun | None]:
    """Make a trained model the campaign's active one by hand (overriding the promotion gate).

    Invariants: one active model per campaign (the partial unique index);
    the run that trained it records who promoted it and what the gate had
    said; a score -> refill cycle with it is queued after commit, so the
    queue follows the new model (None when a run is already live: the next
    cycle uses it). Returns the model and that run.
    """
    al_config_get_or_create(campaign=campaign)
    ActiveLearningConfig.objects.select_for_update().filter(campaign=campaign).first()  # as a run's promotion
    model = PRMModel.objects.select_for_update().filter(campaign=campaign, version=version).first()
    if model is None:
        raise NotFound(f"campaign '{campaign.slug}' has no model v{version}")
    if model.is_active:
        return model, None
    if not Path(model.checkpoint_path).is_dir():
        raise ValidationFailed(f"the checkpoint of v{version} is missing ({model.checkpoint_path}); it cannot serve")
    PRMModel.objects.filter(campaign=campaign, is_active=True).update(is_active=False)
    model.is_active = True
    model.save(update_fields=["is_active"])
    for run in TrainingRun.objects.select_for_update().filter(model=model):
        was = run.report.get("promotion", "")
        run.promoted = True
        run.report = {**run.report, "promotion": f"promoted by hand by {by.get_username() if by else '?'}"
                                                 + (f" (the gate had said: {was})" if was else "")}
        run.save(update_fields=["promoted", "report"])
    try:
        with transaction.atomic():
            rescore = training_run_request(campaign=campaign, trigger=TrainingRun.Trigger.MANUAL, user=by,
                                           train=False)
    except Conflict:
        rescore = None
    return model, rescore

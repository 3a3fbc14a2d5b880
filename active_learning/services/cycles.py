"""Which campaigns are due for a retrain -> score -> refill cycle."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from active_learning.models import ActiveLearningConfig, PRMModel, TrainingRun
from active_learning.services.refill import run_refill
from active_learning.services.score_stage import score_stage_run_inline
from active_learning.services.training import LIVE, training_run_execute, training_run_request, training_runs_reap
from labeling.errors import Conflict, LabelingError
from labeling.models import Assignment

logger = logging.getLogger(__name__)


def cycle_due_reason(*, config: ActiveLearningConfig, labels: int, last: TrainingRun | None, now,
                     has_model: bool = True) -> str | None:
    """Why a cycle should start now ("prior" / "schedule" / "labels"), or None. Pure over its arguments."""
    if config.enabled and config.prior and not has_model and last is None:
        return TrainingRun.Trigger.PRIOR  # the first model, from free labels, before any human label
    if not config.enabled or labels < config.min_labels:
        return None
    if last is None:
        return TrainingRun.Trigger.LABELS
    if config.retrain_after_labels and labels - last.label_count >= config.retrain_after_labels:
        return TrainingRun.Trigger.LABELS
    # On the timer only with something new to learn from: retraining on the
    # same labels is wasted work.
    timer = config.retrain_every_minutes and now - last.created_at >= timedelta(minutes=config.retrain_every_minutes)
    if timer and labels > last.label_count:
        return TrainingRun.Trigger.SCHEDULE
    return None


def cycles_start_due(*, now=None) -> list[TrainingRun]:
    """Reap dead runs, then request a cycle for every enabled campaign that is due.

    Invariant: never more than one live run per campaign (the request's
    unique index), so a slow cycle simply delays the next one.
    """
    now = now or timezone.now()
    training_runs_reap(now=now)
    configs = (
        ActiveLearningConfig.objects.filter(enabled=True)
        .select_related("campaign")
        .annotate(labels=Count("campaign__assignments",
                               filter=Q(campaign__assignments__status=Assignment.Status.SUBMITTED)))
    )
    started = []
    for config in configs:
        campaign = config.campaign
        if TrainingRun.objects.filter(campaign=campaign, status__in=LIVE).exists():
            continue
        last = TrainingRun.objects.filter(campaign=campaign).order_by("-created_at").first()
        reason = cycle_due_reason(config=config, labels=config.labels, last=last, now=now,
                                  has_model=PRMModel.objects.filter(campaign=campaign).exists())
        if reason is None:
            continue
        try:
            started.append(training_run_request(campaign=campaign, trigger=reason))
        except Conflict:
            continue  # another scheduler got there first
        except LabelingError as exc:
            # One campaign's bad settings (or labels gone below min_labels
            # since the count) must not stop the others' cycles.
            logger.warning("not starting a cycle for %s: %s", campaign.slug, exc)
    return started


def cycle_run_inline(*, run_id: int, chunk_size: int | None = None) -> TrainingRun:
    """Run a requested cycle's three stages in this process (the command's --inline path, simulations, benchmarks).

    The score stage is planned in chunks exactly as the fan-out plans it,
    then every chunk runs here, one after the other.
    """
    training_run_execute(run_id=run_id)
    score_stage_run_inline(run_id=run_id, chunk_size=chunk_size)
    run_refill(run_id=run_id)
    return TrainingRun.objects.get(pk=run_id)

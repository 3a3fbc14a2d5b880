"""Celery tasks of the active-learning cycle: ids in, service call, retries owned here.

The cycle is a chain, train_prm -> score_pool -> refill_queue, on run ids.
Training and scoring run on the dedicated `training` queue (concurrency 1,
see settings.CELERY_TASK_ROUTES), so labeling requests never wait on them.
These tasks are acks-early on purpose: if a worker is SIGKILLed mid-run, the
message must not be redelivered to retrain a run the reaper has already
failed; the next cycle starts fresh instead.
"""

from celery import chain, shared_task

from active_learning.services.cycles import cycles_start_due
from active_learning.services.refill import run_refill
from active_learning.services.scoring import run_score
from active_learning.services.training import training_run_execute, training_runs_reap


@shared_task(name="active_learning.tasks.train_prm", acks_late=False)
def train_prm(run_id: int) -> int:
    """Train/evaluate/promote for a queued run; failures are recorded on the run, then re-raised."""
    training_run_execute(run_id=run_id)
    return run_id


@shared_task(name="active_learning.tasks.score_pool", acks_late=False)
def score_pool(run_id: int) -> int:
    """Score the unlabeled pool with the campaign's active model."""
    run_score(run_id=run_id)
    return run_id


@shared_task(name="active_learning.tasks.refill_queue", acks_late=False)
def refill_queue(run_id: int) -> int:
    """Queue the strategy's picks and close the run."""
    run_refill(run_id=run_id)
    return run_id


def cycle_signature(run_id: int):
    return chain(train_prm.si(run_id), score_pool.si(run_id), refill_queue.si(run_id))


@shared_task(name="active_learning.tasks.start_cycle")
def start_cycle(run_id: int) -> int:
    """Published from the outbox with a requested run: launches its train -> score -> refill chain."""
    cycle_signature(run_id).apply_async()
    return run_id


@shared_task(name="active_learning.tasks.start_due_cycles", autoretry_for=(Exception,), retry_backoff=True,
             max_retries=3)
def start_due_cycles() -> list[int]:
    """Beat, every AL_CYCLE_CHECK_SECONDS: reap dead runs and start due cycles."""
    return [run.pk for run in cycles_start_due()]


@shared_task(name="active_learning.tasks.reap_training_runs")
def reap_training_runs() -> int:
    return training_runs_reap()

"""Celery tasks of the active-learning cycle: ids in, service call, retries owned here.

The cycle is train_prm -> score_pool on the dedicated `training` queue
(concurrency 1, see settings.CELERY_TASK_ROUTES), so labeling requests never
wait on it. score_pool only plans: it cuts the pool into chunks and sends
one score_chunk task per chunk to the `scoring` queue, which any number of
workers consume; the worker that finishes the last chunk queues
refill_queue. train_prm and score_pool are acks-early on purpose: if a
worker is SIGKILLed mid-run, the message must not be redelivered to retrain
a run the reaper has already failed; the next cycle starts fresh instead.
score_chunk is acks-late (the default): a chunk whose worker died is
delivered again, and its row, not the message, says whether it still needs
doing.
"""

from celery import chain, shared_task

from active_learning.services.cycles import cycles_start_due
from active_learning.services.refill import run_refill
from active_learning.services.score_stage import score_chunk_execute, score_chunks_reap, score_stage_plan
from active_learning.services.training import training_run_execute, training_runs_reap


@shared_task(name="active_learning.tasks.train_prm", acks_late=False)
def train_prm(run_id: int) -> int:
    """Train/evaluate/promote for a queued run; failures are recorded on the run, then re-raised."""
    training_run_execute(run_id=run_id)
    return run_id


@shared_task(name="active_learning.tasks.score_pool", acks_late=False)
def score_pool(run_id: int) -> int:
    """Plan the score stage: the pool in chunks, a group of score_chunk tasks sent to the scoring queue."""
    return len(score_stage_plan(run_id=run_id))


@shared_task(name="active_learning.tasks.score_chunk", acks_late=True, reject_on_worker_lost=True)
def score_chunk(chunk_id: int) -> str | None:
    """Score one chunk of the pool (a no-op for a chunk that is done or held by a live worker)."""
    chunk = score_chunk_execute(chunk_id=chunk_id)
    return chunk.status if chunk else None


@shared_task(name="active_learning.tasks.reap_scoring_chunks")
def reap_scoring_chunks() -> dict:
    """Beat, every AL_SCORING_REAP_SECONDS: hand chunks of dead workers on, re-send lost ones."""
    return score_chunks_reap()


@shared_task(name="active_learning.tasks.refill_queue", acks_late=False)
def refill_queue(run_id: int) -> int:
    """Queue the strategy's picks and close the run."""
    run_refill(run_id=run_id)
    return run_id


def cycle_signature(run_id: int):
    return chain(train_prm.si(run_id), score_pool.si(run_id))


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

"""The score stage of a cycle, fanned out: the pool cut into chunks, one Celery task per chunk.

Invariants:
- the database is the source of truth: a chunk row is claimed under a lease
  by exactly one worker at a time, and its message is only a wake-up call, so
  a lost, duplicated or redelivered message never loses or doubles work;
- scores are keyed by (solution, model version): a chunk run twice, or by
  two workers at once, writes each score once;
- a chunk whose worker died (its lease lapsed) goes back to pending and is
  sent again, up to AL_SCORING_MAX_ATTEMPTS attempts, then the run fails;
- the refill is queued exactly once, by whoever finishes the last chunk, in
  the transaction that closes the stage (under the run's row lock), through
  the outbox so a broker blink delays it instead of losing it.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from celery import group
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from active_learning.models import PRMModel, ScoringChunk, SolutionScore, TrainingRun
from active_learning.services.datasets import pool_queryset
from active_learning.services.scoring import scoring_model, solutions_score
from active_learning.services.training import cycle_stage, training_run_fail, worker_name
from annotate.celery import app as celery_app
from labeling.errors import Conflict
from labeling.services.outbox import outbox_enqueue

log = logging.getLogger(__name__)

CHUNK_TASK = "active_learning.tasks.score_chunk"
REFILL_TASK = "active_learning.tasks.refill_queue"
UNFINISHED = [ScoringChunk.Status.PENDING, ScoringChunk.Status.RUNNING]


def _stall_deadline(now):
    return now + timedelta(seconds=settings.AL_SCORING_STALL_SECONDS)


def pool_chunk_ranges(*, campaign, model_id: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """(first id, last id, solutions) of consecutive runs of `chunk_size` pool solutions, in id order.

    Computed in the database (a window over the pool's ids), so planning a
    10M-solution pool moves 10k rows, not 10M ids.
    """
    sql, params = pool_queryset(campaign=campaign, model_id=model_id).values("solution_id").query.sql_with_params()
    with connection.cursor() as cur:
        # The inner SQL is Django's compiled queryset with its parameters kept apart: nothing user-written.
        query = (f"SELECT min(sid), max(sid), count(*) FROM (SELECT p.solution_id AS sid, "  # noqa: S608
                 f"(row_number() OVER (ORDER BY p.solution_id) - 1) / %s AS bucket FROM ({sql}) p) q "
                 "GROUP BY bucket ORDER BY bucket")
        cur.execute(query, [chunk_size, *params])
        return [(int(a), int(b), int(c)) for a, b, c in cur.fetchall()]


def _close_stage(run: TrainingRun, summary: dict, *, enqueue: bool = True) -> None:
    """Move a locked run from scoring to refilling and queue the refill (after commit, via the outbox;
    enqueue=False: the in-process caller runs it)."""
    run.stage = TrainingRun.Stage.REFILLING
    run.lease_expires_at = timezone.now() + timedelta(seconds=settings.AL_RUN_LEASE_SECONDS)
    run.report = {**run.report, "scoring": {**run.report.get("scoring", {}), **summary}}
    run.save(update_fields=["stage", "lease_expires_at", "report"])
    if enqueue:
        outbox_enqueue(task=REFILL_TASK, args=[run.pk], ref=f"refill:{run.pk}")


def _summary(run_id: int) -> dict:
    agg = ScoringChunk.objects.filter(run_id=run_id).aggregate(
        chunks=Count("id"), scored=Sum("scored"), seconds=Sum("seconds"), workers=Count("worker", distinct=True),
        loads=Count("id", filter=Q(model_loaded=True)), retried=Count("id", filter=Q(attempts__gt=1)),
    )
    chunk_seconds = agg["seconds"] or 0.0
    return {
        "chunks": agg["chunks"], "scored": agg["scored"] or 0, "workers": agg["workers"],
        "model_loads": agg["loads"], "chunks_retried": agg["retried"],
        "chunk_seconds": round(chunk_seconds, 3),
        "solutions_per_worker_second": round((agg["scored"] or 0) / chunk_seconds, 1) if chunk_seconds else None,
    }


@cycle_stage("scoring")
def score_stage_plan(*, run_id: int, chunk_size: int | None = None, dispatch: bool = True) -> list[int]:
    """Cut the pool into chunks for the run's scoring with the active model, and send them out.

    Invariants: runs only for a running run in the scoring stage; planning
    twice (a duplicate message) plans nothing new and re-sends what is
    pending; an empty pool, or no active model, goes straight to the refill.
    Returns the chunk ids (dispatch=False leaves them for the caller to run
    in-process).
    """
    size = chunk_size or settings.AL_SCORING_CHUNK_SIZE
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("campaign").get(pk=run_id)
        if run.status != TrainingRun.Status.RUNNING or run.stage != TrainingRun.Stage.SCORING:
            return []
        existing = list(ScoringChunk.objects.filter(run=run).values_list("pk", flat=True))
        if existing:
            ids = existing
        else:
            model = PRMModel.objects.filter(campaign=run.campaign, is_active=True).first()
            if model is None:
                _close_stage(run, {"chunks": 0, "scored": 0, "skipped": "no active model"}, enqueue=dispatch)
                return []
            t0 = time.monotonic()
            ranges = pool_chunk_ranges(campaign=run.campaign, model_id=model.pk, chunk_size=size)
            chunks = ScoringChunk.objects.bulk_create([
                ScoringChunk(run=run, model=model, index=i, first_solution_id=a, last_solution_id=b, size=n)
                for i, (a, b, n) in enumerate(ranges)
            ], batch_size=2000)
            ids = [c.pk for c in chunks]
            plan = {"model_version": model.version, "planned_chunks": len(ids), "chunk_size": size,
                    "pool": sum(n for _, _, n in ranges), "plan_seconds": round(time.monotonic() - t0, 3),
                    "started_at": timezone.now().isoformat()}
            if not ids:
                _close_stage(run, {**plan, "chunks": 0, "scored": 0}, enqueue=dispatch)
                return []
            run.report = {**run.report, "scoring": plan}
            run.lease_expires_at = _stall_deadline(timezone.now())
            run.save(update_fields=["report", "lease_expires_at"])
        if dispatch:
            transaction.on_commit(lambda: score_chunks_dispatch(run_id=run_id))
    return ids


def score_chunks_dispatch(*, run_id: int, chunk_ids: list[int] | None = None) -> int:
    """Send a Celery group of chunk tasks (the run's pending chunks, or these) to the scoring queue.

    A broker that is down loses nothing: the chunks stay pending, undispatched,
    and the reaper sends them once it answers. Returns how many were sent.
    """
    qs = ScoringChunk.objects.filter(run_id=run_id, status=ScoringChunk.Status.PENDING)
    if chunk_ids is not None:
        qs = qs.filter(pk__in=chunk_ids)
    ids = list(qs.order_by("index").values_list("pk", flat=True))
    if not ids:
        return 0
    try:
        group(celery_app.signature(CHUNK_TASK, args=[pk]) for pk in ids).apply_async(ignore_result=True)
    except Exception as exc:  # noqa: BLE001 - every broker failure means "the reaper sends them later"
        log.warning("run %s: %d scoring chunk(s) wait for the broker: %s", run_id, len(ids), exc)
        return 0
    ScoringChunk.objects.filter(pk__in=ids).update(dispatched_at=timezone.now())
    return len(ids)


class ChunkLease:
    """Renews a claimed chunk's lease (and the run's stall deadline) at most every lease/4 seconds.

    Raises Conflict once the chunk is no longer this attempt's (reaped and
    handed on, or the run ended): the work stops instead of racing on.
    """

    def __init__(self, chunk: ScoringChunk):
        self.chunk_id, self.run_id, self.attempt = chunk.pk, chunk.run_id, chunk.attempts
        self.last = time.monotonic()

    def __call__(self, *_args) -> None:
        if time.monotonic() - self.last >= settings.AL_SCORING_CHUNK_LEASE_SECONDS / 4:
            self.renew()

    def renew(self) -> None:
        self.last = time.monotonic()
        now = timezone.now()
        mine = ScoringChunk.objects.filter(pk=self.chunk_id, status=ScoringChunk.Status.RUNNING,
                                           attempts=self.attempt).update(
            lease_expires_at=now + timedelta(seconds=settings.AL_SCORING_CHUNK_LEASE_SECONDS))
        live = TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING,
                                          stage=TrainingRun.Stage.SCORING).update(
            lease_expires_at=_stall_deadline(now))
        if not (mine and live):
            raise Conflict(f"scoring chunk {self.chunk_id} is no longer this worker's (reaped, or the run ended)")


def _lock_run_then_chunk(chunk_id: int) -> tuple[TrainingRun | None, ScoringChunk | None]:
    """Row-lock the chunk's run, then the chunk (inside a transaction).

    Every path that holds both locks takes them in this order (claiming,
    finishing, failing an attempt, reaping, giving up), so two of them can
    never wait on each other.
    """
    run_id = ScoringChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None, None
    run = TrainingRun.objects.select_for_update().get(pk=run_id)
    chunk = (ScoringChunk.objects.select_for_update(of=("self",)).select_related("model")
             .filter(pk=chunk_id).first())
    if chunk is not None:
        chunk.run = run
    return run, chunk


def _claim(chunk_id: int, worker: str) -> ScoringChunk | None:
    now = timezone.now()
    with transaction.atomic():
        run, chunk = _lock_run_then_chunk(chunk_id)
        if chunk is None or chunk.status not in UNFINISHED:
            return None
        if chunk.status == ScoringChunk.Status.RUNNING and chunk.lease_expires_at and chunk.lease_expires_at > now:
            return None  # another worker has it; if that one dies, the reaper sends it again
        if run.status != TrainingRun.Status.RUNNING or run.stage != TrainingRun.Stage.SCORING:
            chunk.status = ScoringChunk.Status.CANCELLED
            chunk.save(update_fields=["status"])
            return None
        if chunk.attempts >= settings.AL_SCORING_MAX_ATTEMPTS:
            _give_up(chunk, f"its worker died on each of {chunk.attempts} attempts")
            return None
        chunk.status = ScoringChunk.Status.RUNNING
        chunk.attempts += 1
        chunk.worker = worker[:255]
        chunk.started_at = now
        chunk.lease_expires_at = now + timedelta(seconds=settings.AL_SCORING_CHUNK_LEASE_SECONDS)
        chunk.save(update_fields=["status", "attempts", "worker", "started_at", "lease_expires_at"])
        TrainingRun.objects.filter(pk=run.pk).update(lease_expires_at=_stall_deadline(now))
        return chunk


def _give_up(chunk: ScoringChunk, why: str) -> None:
    # Called with the run and then the chunk locked (_lock_run_then_chunk).
    chunk.status = ScoringChunk.Status.FAILED
    chunk.finished_at = timezone.now()
    chunk.error = why[:5000]
    chunk.save(update_fields=["status", "finished_at", "error"])
    training_run_fail(run_id=chunk.run_id, error=f"scoring chunk {chunk.index} failed: {why}")
    ScoringChunk.objects.filter(run_id=chunk.run_id, status=ScoringChunk.Status.PENDING).update(
        status=ScoringChunk.Status.CANCELLED)


def score_chunk_execute(*, chunk_id: int, worker: str | None = None, enqueue_refill: bool = True,
                        redispatch: bool = True) -> ScoringChunk | None:
    """Claim one chunk, score its solutions with the run's model and record it; the last chunk queues the refill.

    Invariants: see the module. A chunk that is done, cancelled or held by a
    live lease is left alone (None). An error fails this attempt: the chunk
    goes back to pending and is sent again, and after
    AL_SCORING_MAX_ATTEMPTS attempts it fails the run (`redispatch=False`: it
    is left pending for the caller to run again, the inline path). Returns the chunk.
    """
    preloaded = _preload(chunk_id)
    chunk = _claim(chunk_id, worker or worker_name())
    if chunk is None:
        return None
    lease = ChunkLease(chunk)
    try:
        result = solutions_score(model=chunk.model, score_config=chunk.run.config.get("score"), keeper=lease,
                                 first_id=chunk.first_solution_id, last_id=chunk.last_solution_id)
    except Conflict:
        log.warning("scoring chunk %s was handed on while this worker scored it; stopping", chunk.pk)
        return None
    except Exception as exc:
        log.exception("scoring chunk %s failed", chunk.pk)
        _attempt_failed(chunk, f"{type(exc).__name__}: {exc}", redispatch=redispatch)
        return ScoringChunk.objects.get(pk=chunk.pk)
    with transaction.atomic():
        run, _locked = _lock_run_then_chunk(chunk.pk)
        updated = ScoringChunk.objects.filter(pk=chunk.pk, status=ScoringChunk.Status.RUNNING,
                                              attempts=chunk.attempts).update(
            status=ScoringChunk.Status.DONE, finished_at=timezone.now(), lease_expires_at=None,
            scored=_scored_in_range(chunk), seconds=result["score_seconds"],
            model_loaded=result["model_loaded"] or preloaded, error="")
        if (updated and run.status == TrainingRun.Status.RUNNING and run.stage == TrainingRun.Stage.SCORING
                and not ScoringChunk.objects.filter(run=run, status__in=UNFINISHED).exists()):
            started = run.report.get("scoring", {}).get("started_at")
            wall = (timezone.now() - datetime.fromisoformat(started)).total_seconds() if started else None
            _close_stage(run, {**_summary(run.pk), "stage_seconds": round(wall, 3) if wall is not None else None},
                         enqueue=enqueue_refill)
    chunk.refresh_from_db()
    return chunk


def _scored_in_range(chunk: ScoringChunk) -> int:
    # What the chunk guarantees, including scores an earlier (killed) attempt wrote: the page's
    # "scored" then adds up to the pool after a retry.
    return SolutionScore.objects.filter(model_id=chunk.model_id, solution_id__gte=chunk.first_solution_id,
                                        solution_id__lte=chunk.last_solution_id).count()


def _preload(chunk_id: int) -> bool:
    """Load the chunk's model before claiming it, so a slow load (a large backbone, ten cross-fitted
    members) is not spent inside the chunk's lease. True if this call loaded it."""
    chunk = ScoringChunk.objects.select_related("model").filter(pk=chunk_id, status__in=UNFINISHED).first()
    if chunk is None or chunk.model is None:
        return False
    try:
        return scoring_model(chunk.model.checkpoint_path)[1]
    except Exception:  # a broken checkpoint fails the claimed attempt below, with its error recorded
        log.warning("could not preload the model of scoring chunk %s", chunk_id, exc_info=True)
        return False


def _attempt_failed(chunk: ScoringChunk, error: str, *, redispatch: bool = True) -> None:
    with transaction.atomic():
        _run, locked = _lock_run_then_chunk(chunk.pk)
        if locked.status != ScoringChunk.Status.RUNNING or locked.attempts != chunk.attempts:
            return
        if locked.attempts >= settings.AL_SCORING_MAX_ATTEMPTS:
            _give_up(locked, error)
            return
        locked.status = ScoringChunk.Status.PENDING
        locked.lease_expires_at = None
        locked.dispatched_at = None
        locked.error = error[:5000]
        locked.save(update_fields=["status", "lease_expires_at", "dispatched_at", "error"])
        if redispatch:
            transaction.on_commit(lambda: score_chunks_dispatch(run_id=chunk.run_id, chunk_ids=[chunk.pk]))


def score_chunks_reap(*, now=None) -> dict:
    """Hand lapsed chunks to other workers and re-send the chunks of stalled stages.

    A running chunk whose lease lapsed had its worker die (SIGKILL, OOM, a
    lost host): it goes back to pending and is sent again (or fails the run
    after AL_SCORING_MAX_ATTEMPTS). Pending chunks are re-sent when they
    were never sent (the broker was down) or when the run's stage has seen
    no chunk start or finish for AL_SCORING_REDISPATCH_SECONDS (their
    messages were lost). Returns counts.
    """
    now = now or timezone.now()
    handed = failed = 0
    for chunk in ScoringChunk.objects.filter(status=ScoringChunk.Status.RUNNING, lease_expires_at__lt=now):
        with transaction.atomic():
            _run, locked = _lock_run_then_chunk(chunk.pk)
            if locked is None or locked.status != ScoringChunk.Status.RUNNING or not locked.lease_expires_at \
                    or locked.lease_expires_at >= now:
                continue
            why = f"worker {locked.worker or '?'} stopped renewing its lease (attempt {locked.attempts})"
            if locked.attempts >= settings.AL_SCORING_MAX_ATTEMPTS:
                _give_up(locked, why)
                failed += 1
                continue
            locked.status = ScoringChunk.Status.PENDING
            locked.lease_expires_at = None
            locked.dispatched_at = None
            locked.error = why
            locked.save(update_fields=["status", "lease_expires_at", "dispatched_at", "error"])
            handed += 1
            log.warning("scoring chunk %s (run %s) handed on: %s", locked.pk, locked.run_id, why)
    quiet_since = now - timedelta(seconds=settings.AL_SCORING_REDISPATCH_SECONDS)
    sent = 0
    waiting = (ScoringChunk.objects.filter(status=ScoringChunk.Status.PENDING, run__status=TrainingRun.Status.RUNNING)
               .values("run_id").distinct())
    # Activity is read over all of a run's chunks: a stage whose workers are busy with (or just
    # finished) other chunks is not stalled, however long its pending chunks have waited.
    runs = (ScoringChunk.objects.filter(run_id__in=waiting).values("run_id")
            .annotate(last_start=Max("started_at"), last_end=Max("finished_at"), last_sent=Max("dispatched_at")))
    for row in runs:
        never_sent = list(ScoringChunk.objects.filter(run_id=row["run_id"], status=ScoringChunk.Status.PENDING,
                                                      dispatched_at__isnull=True).values_list("pk", flat=True))
        if never_sent:
            sent += score_chunks_dispatch(run_id=row["run_id"], chunk_ids=never_sent)
        activity = [t for t in (row["last_start"], row["last_end"], row["last_sent"]) if t is not None]
        if activity and max(activity) < quiet_since:
            sent += score_chunks_dispatch(run_id=row["run_id"])
    # Chunks of runs that ended (failed, reaped) will never be scored.
    ScoringChunk.objects.filter(status=ScoringChunk.Status.PENDING).exclude(
        run__status=TrainingRun.Status.RUNNING).update(status=ScoringChunk.Status.CANCELLED)
    return {"handed_on": handed, "failed": failed, "sent": sent}


def score_stage_run_inline(*, run_id: int, chunk_size: int | None = None) -> dict | None:
    """The whole score stage in this process (the --inline command, simulations and tests): plan, then every chunk."""
    ids = score_stage_plan(run_id=run_id, chunk_size=chunk_size, dispatch=False)
    for pk in ids:
        # A chunk that errors goes back to pending: run it again here, up to the attempt limit, after
        # which it fails the run (and the later chunks are cancelled), as on the workers.
        for _attempt in range(settings.AL_SCORING_MAX_ATTEMPTS):
            chunk = score_chunk_execute(chunk_id=pk, enqueue_refill=False, redispatch=False)
            if chunk is None or chunk.status != ScoringChunk.Status.PENDING:
                break
    run = TrainingRun.objects.get(pk=run_id)
    return run.report.get("scoring")

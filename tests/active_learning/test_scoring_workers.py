"""The score stage fanned out over two real scoring workers, one of them SIGKILLed in the middle of a chunk.

The workers are real Celery processes (prefork, one child each) on the test
database and Redis, consuming the `scoring` queue exactly as `make run`'s
and docker-compose's do. The chunks split between them; one is frozen
(SIGSTOP) while it holds a chunk, checked to still hold it, and killed. Its
chunk's lease lapses, the reaper hands the chunk to the other worker, and the
cycle completes with every pool solution scored exactly once.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from django.utils import timezone

from active_learning.models import ScoringChunk, SolutionScore, TrainingRun
from active_learning.services.score_stage import score_chunks_reap, score_stage_plan
from active_learning.services.training import training_run_execute, training_run_request
from labeling.models import Problem, Solution, Step, Task
from labeling.services.outbox import outbox_relay
from tests.faults.harness import Process, child_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

LEASE_S = 3
EXTRA = 400  # pool solutions on top of the fixture's 18, so that chunks take long enough to catch one mid-way


def _grow_pool(campaign, n: int) -> None:
    now = timezone.now()
    problems = Problem.objects.bulk_create([Problem(source="grow", source_id=f"g{i}", text=f"problem g{i} eggs",
                                                    ground_truth_answer="4") for i in range(n // 4)])
    sols = Solution.objects.bulk_create([
        Solution(problem=problems[i % len(problems)], generator="grow", content_hash=f"{i:064x}",
                 final_answer=str(4 + i % 3), answer_is_correct=i % 3 == 0) for i in range(n)])
    Step.objects.bulk_create([Step(solution=s, index=j, text=f"so {s.pk % 9} is {'right' if j else 'wrong'} "
                                                           "and the total of each day is more than before")
                              for s in sols for j in range(6)])
    Task.objects.bulk_create([Task(campaign=campaign, solution=s, created_at=now) for s in sols])


def _scoring_worker(tmp_path, tag: str, *queues: str) -> Process:
    # Prefork with one child, one torch thread: a scoring worker as make run and docker-compose start it.
    cmd = [sys.executable, "-m", "celery", "-A", "annotate", "worker", "-Q", ",".join(("scoring", *queues)),
           "-n", f"scoring-{tag}-{os.getpid()}@%h", "-P", "prefork", "-c", "1", "--loglevel", "INFO",
           "--without-gossip", "--without-mingle"]
    env = child_env(AL_SCORING_CHUNK_LEASE_SECONDS=str(LEASE_S), OMP_NUM_THREADS="1")
    return Process(cmd, env=env, log=tmp_path / f"scoring-{tag}.log")


def _pgid(worker: str) -> int | None:
    try:
        return os.getpgid(int(worker.rsplit(":", 1)[1]))
    except (ProcessLookupError, ValueError, IndexError):
        return None


def test_chunks_split_between_two_workers_and_a_killed_one_loses_nothing(al_campaign, tmp_path, settings):
    campaign, tasks = al_campaign
    _grow_pool(campaign, EXTRA)
    run = training_run_request(campaign=campaign, enqueue=False)
    training_run_execute(run_id=run.pk)
    pool = Task.objects.filter(campaign=campaign, completed=0).count()
    a = _scoring_worker(tmp_path, "a")
    b = _scoring_worker(tmp_path, "b", "default")  # also takes the refill
    try:
        for w in (a, b):
            wait_until(lambda w=w: "ready." in w.output(), timeout=90, what="a scoring worker to start", proc=w)
        ids = score_stage_plan(run_id=run.pk, chunk_size=20)
        assert len(ids) == -(-pool // 20)

        def both_at_work():
            done = [_pgid(c.worker) for c in ScoringChunk.objects.filter(run=run, status="done")]
            return a.proc.pid in done and b.proc.pid in done
        wait_until(both_at_work, timeout=120, what="both workers to finish a chunk", interval=0.02, proc=a)
        # Freeze worker a while it holds a chunk, and make sure it still does once frozen.
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            held = [c for c in ScoringChunk.objects.filter(run=run, status="running") if _pgid(c.worker) == a.proc.pid]
            if not held:
                time.sleep(0.02)
                continue
            os.killpg(a.proc.pid, signal.SIGSTOP)
            still = ScoringChunk.objects.get(pk=held[0].pk)
            if still.status == "running" and still.attempts == held[0].attempts:
                victim = still
            else:
                os.killpg(a.proc.pid, signal.SIGCONT)
        assert victim is not None, "worker a never held a chunk"
        pending = ScoringChunk.objects.filter(run=run, status__in=["pending", "running"]).count()
        a.kill()
        # What beat does every AL_SCORING_REAP_SECONDS (and the relay for the refill), until the cycle ends.
        def finished():
            score_chunks_reap()
            outbox_relay()
            return TrainingRun.objects.get(pk=run.pk).status != "running"
        wait_until(finished, timeout=180, what="the cycle to finish without worker a", interval=0.5, proc=b)
        names_of_b = {c.worker for c in ScoringChunk.objects.filter(run=run) if _pgid(c.worker) == b.proc.pid}
    finally:
        a.stop()
        b.stop()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    chunks = list(ScoringChunk.objects.filter(run=run))
    assert all(c.status == "done" for c in chunks)
    # The killed worker's chunk was finished by the other one, on a second attempt.
    handed = ScoringChunk.objects.get(pk=victim.pk)
    assert handed.attempts == victim.attempts + 1 and handed.worker in names_of_b
    by_worker = {}
    for c in chunks:
        by_worker[c.worker] = by_worker.get(c.worker, 0) + 1
    assert len(by_worker) == 2 and pending >= 1
    # Every pool solution scored exactly once (one row per solution and model, none missing).
    scored = list(SolutionScore.objects.filter(model=run.model).values_list("solution_id", flat=True))
    assert len(scored) == len(set(scored)) == pool
    report = run.report["scoring"]
    assert report["scored"] >= pool and report["chunks_retried"] >= 1 and report["workers"] == 2
    # Each worker process loaded the model once, however many chunks it scored.
    assert 1 <= report["model_loads"] <= 2 < len(chunks)
    assert run.report["refill"]["queued"] == 8

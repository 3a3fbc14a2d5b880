"""The cycle through real Redis and real Celery workers, including a worker killed mid-training."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection

from active_learning.models import ActiveLearningConfig, PRMModel, TrainingRun
from active_learning.services.cycles import cycle_run_inline
from active_learning.services.training import training_run_request, training_runs_reap
from annotate.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_cycle_round_trip_through_redis_and_workers(al_campaign, settings):
    campaign, _ = al_campaign
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TRAINING_QUEUE, settings.CELERY_SCORING_QUEUE,
                              settings.CELERY_TASK_DEFAULT_QUEUE]):
        run = training_run_request(campaign=campaign)  # enqueued on commit (autocommit here)
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in ("succeeded", "failed"), 120, "the cycle")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.model.is_active and run.report["refill"]["queued"] == 8
    # The score stage went through the scoring queue as chunk tasks.
    assert run.report["scoring"]["chunks"] == run.scoring_chunks.filter(status="done").count() >= 1


def _database_url(settings) -> str:
    """The configured DATABASE_URL pointed at the test database this test runs in."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def test_sigkill_mid_training_leaves_the_old_model_active_and_the_next_cycle_runs(al_campaign, settings, tmp_path):
    campaign, _ = al_campaign
    v1 = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk).model
    # Make the next training long enough to kill in the middle of it.
    ActiveLearningConfig.objects.filter(campaign=campaign).update(
        train_config={"epochs": 10000, "batch_size": 2, "learning_rate": 1e-3}
    )
    env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": _database_url(settings),
           "REDIS_URL": settings.CELERY_BROKER_URL, "CHECKPOINT_DIR": str(settings.CHECKPOINT_DIR),
           "AL_RUN_LEASE_SECONDS": "3"}
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        # The default queue too: the run's start_cycle message (from the outbox) is published there.
        [sys.executable, "-m", "celery", "-A", "annotate", "worker", "-Q",
         f"{settings.CELERY_TRAINING_QUEUE},{settings.CELERY_TASK_DEFAULT_QUEUE}",
         "-P", "prefork", "-c", "1", "-n", f"killme-{os.getpid()}@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        run = training_run_request(campaign=campaign)
        # Wait until the worker is training and has renewed its lease at least once.
        first = wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, status="running")
                         .values_list("lease_expires_at", flat=True).first(), 90, "training to start")
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).lease_expires_at > first, 30, "a lease renewal")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        log.close()
    run.refresh_from_db()
    assert run.status == "running"  # nobody has noticed yet
    wait_for(lambda: training_runs_reap() == 1, 15, "the reaper to see the lapsed lease")
    run.refresh_from_db()
    assert run.status == "failed" and "presumed dead" in run.error
    assert PRMModel.objects.get(campaign=campaign, is_active=True) == v1
    assert PRMModel.objects.filter(campaign=campaign).count() == 1
    # The next cycle runs normally.
    ActiveLearningConfig.objects.filter(campaign=campaign).update(
        train_config={"epochs": 2, "batch_size": 8, "learning_rate": 3e-3}
    )
    nxt = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert nxt.status == "succeeded" and nxt.model.version == 2 and nxt.model.is_active

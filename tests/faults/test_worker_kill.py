"""Fault injection: a worker SIGKILLed in the middle of an import and of an export.

The worker is a real Celery process on the test database and broker. While
it works, its job's progress is visible (the heartbeat thread writes it on
its own connection, outside the import's transaction). Once it is killed
the heartbeat stops, the reaper fails the job with the reason within
JOB_STALE_SECONDS, nothing half-written remains (no solution, no partial or
temporary file, no upload), and the same work run again completes.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from labeling.models import Campaign, Job, Solution, Task
from labeling.services.imports import solutions_import
from labeling.services.jobs import export_job_create, import_job_create, jobs_reap
from tests.factories import CampaignFactory, UserFactory
from tests.faults.harness import bulk_label, celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

STALE_S = 3


@pytest.fixture
def fast_reaper(settings, tmp_path):
    settings.JOB_STALE_SECONDS = STALE_S
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings


def _job(pk) -> Job:
    return Job.objects.get(pk=pk)


def _reaped(job_id: int) -> Job:
    """What beat's reaper does every JOB_REAP_SECONDS, run here until the job has failed."""
    def done():
        jobs_reap()
        job = _job(job_id)
        return job if job.status == Job.Status.FAILED else None
    return wait_until(done, timeout=STALE_S + 20, what="the reaper to fail the job", interval=0.5)


def _no_open_transactions_from_dead_workers():
    # PostgreSQL ends a killed client's backend and rolls its transaction back; nothing holds locks.
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()")
        return cur.fetchone()[0] == 0


def test_an_import_killed_mid_way_is_failed_leaves_nothing_and_runs_again(fast_reaper, demo_file, tmp_path):
    campaign = CampaignFactory()
    data = demo_file.read_bytes()
    lines = data.count(b"\n")
    worker = celery_worker(tmp_path, IMPORT_BATCH_SIZE="20", JOB_HEARTBEAT_SECONDS="1")
    try:
        job = import_job_create(campaign=campaign, filename="gsm8k.jsonl", chunks=iter([data]), user=None)
        upload = job.params["path"]
        # Progress shows while the import's single transaction is still open.
        running = wait_until(lambda: (j := _job(job.pk)).status == "running" and j.progress_done >= 200 and j,
                             timeout=120, what="the import to make visible progress", proc=worker)
        assert running.progress_total == lines and running.progress_done < lines
        assert not Task.objects.filter(campaign=campaign).exists()  # all-or-nothing: none committed yet
        beat = running.heartbeat_at
        wait_until(lambda: _job(job.pk).heartbeat_at > beat, timeout=10, what="a heartbeat", proc=worker)
        worker.kill()
        killed_at = time.monotonic()
    finally:
        worker.stop()

    failed = _reaped(job.pk)
    recovered_s = time.monotonic() - killed_at
    assert "stopped (no heartbeat for" in failed.error and "nothing was imported" in failed.error
    assert recovered_s < STALE_S + 20
    assert not Task.objects.filter(campaign=campaign).exists()
    assert not Solution.objects.exists()
    assert not (tmp_path / "uploads").joinpath(upload.rsplit("/", 1)[1]).exists()
    assert wait_until(_no_open_transactions_from_dead_workers, timeout=10, what="the dead transaction to end")

    # The same file, uploaded again, imports whole.
    again = celery_worker(tmp_path, JOB_HEARTBEAT_SECONDS="1")
    try:
        job2 = import_job_create(campaign=campaign, filename="gsm8k.jsonl", chunks=iter([data]), user=None)
        done = wait_until(lambda: (j := _job(job2.pk)).status in ("succeeded", "failed") and j,
                          timeout=180, what="the second import", proc=again)
    finally:
        again.stop()
    assert done.status == "succeeded", done.error
    assert done.progress_done == done.progress_total == lines
    assert Task.objects.filter(campaign=campaign).count() == done.result["tasks_created"] == 4 * lines  # 4 per problem


def _labeled_campaign(demo_file, tmp_path, n: int) -> Campaign:
    # The export is held by a lock, not by its size: a tenth of the demo (4 solutions a line) is plenty.
    part = tmp_path / "demo-part.jsonl"
    with open(demo_file, "rb") as src:
        part.write_bytes(b"".join(line for _, line in zip(range(n // 4 + 1), src, strict=False)))
    campaign = CampaignFactory(overlap=1)
    solutions_import(campaign=campaign, path=part)
    assert bulk_label(campaign=campaign, user=UserFactory(), n=n) == n
    return campaign


def test_an_export_killed_mid_way_is_failed_and_leaves_no_file(fast_reaper, demo_file, tmp_path):
    campaign = _labeled_campaign(demo_file, tmp_path, 300)
    out_dir = tmp_path / "exports" / campaign.slug
    worker = celery_worker(tmp_path, JOB_HEARTBEAT_SECONDS="1", EXPORT_DIR=str(tmp_path / "exports"))
    # The export streams in a second or two: hold it mid-way by locking the step labels it reads
    # (its statement waits on the lock, its temporary file already open), then kill the worker.
    blocker = psycopg.connect(**connection.get_connection_params())
    try:
        blocker.execute("LOCK TABLE labeling_steplabel IN ACCESS EXCLUSIVE MODE")
        job = export_job_create(campaign=campaign, user=None, fmt="prm800k")
        wait_until(lambda: _job(job.pk).status == "running" and list(out_dir.glob(".*.jsonl.*")),
                   timeout=120, what="the export's temporary file", proc=worker)
        worker.kill()
    finally:
        worker.stop()
        blocker.rollback()
        blocker.close()
    failed = _reaped(job.pk)
    assert "stopped (no heartbeat for" in failed.error and "no file was written" in failed.error
    assert list(out_dir.iterdir()) == []  # the temporary file is gone and no partial export appeared

    again = celery_worker(tmp_path, JOB_HEARTBEAT_SECONDS="1", EXPORT_DIR=str(tmp_path / "exports"))
    try:
        job2 = export_job_create(campaign=campaign, user=None, fmt="prm800k")
        done = wait_until(lambda: (j := _job(job2.pk)).status in ("succeeded", "failed") and j,
                          timeout=180, what="the second export", proc=again)
    finally:
        again.stop()
    assert done.status == "succeeded", done.error
    assert done.result["rows"] == 300
    assert sum(1 for _ in open(done.result["path"])) == 300
    assert [p.name for p in out_dir.iterdir()] == [done.result["filename"]]

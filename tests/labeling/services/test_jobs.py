"""Import and export jobs: the services directly, and one round trip through Redis and a worker."""

import json

import pytest
from celery.contrib.testing.worker import start_worker

from annotate.celery import app
from labeling.errors import ValidationFailed
from labeling.models import Job, Solution, Task
from labeling.services.jobs import export_job_create, export_job_run, import_job_create, import_job_run
from tests.factories import CampaignFactory, UserFactory


def _lines(demo_file, n):
    with open(demo_file, "rb") as fh:
        return [next(fh) for _ in range(n)]


@pytest.mark.django_db
def test_import_job_with_a_bad_line_imports_nothing_and_names_it(demo_file, settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path
    campaign = CampaignFactory()
    lines = _lines(demo_file, 3)
    lines.insert(2, b'{"question": "no answer field"}\n')
    job = import_job_create(campaign=campaign, filename="x.jsonl", chunks=iter(lines), user=UserFactory())
    assert job.status == Job.Status.PENDING and job.params["bytes"] > 0
    job = import_job_run(job_id=job.pk)
    assert job.status == Job.Status.FAILED and "line 3" in job.error
    assert not Task.objects.filter(campaign=campaign).exists()
    assert not list(tmp_path.iterdir())  # the upload is removed either way
    # A second run of the same job (a redelivered task) does nothing.
    assert import_job_run(job_id=job.pk).status == Job.Status.FAILED


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_failed_with_the_reason(demo_file, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.services.jobs import _claim, jobs_reap

    settings.IMPORT_UPLOAD_DIR = tmp_path
    settings.JOB_STALE_SECONDS = 600
    campaign = CampaignFactory()
    dead = import_job_create(campaign=campaign, filename="x.jsonl", chunks=iter(_lines(demo_file, 2)),
                             user=UserFactory())
    _claim(dead.pk, Job.Kind.IMPORT)  # the worker took it, then was killed
    alive = export_job_create(campaign=campaign, user=UserFactory(), fmt="prm800k")
    _claim(alive.pk, Job.Kind.EXPORT)
    waiting = export_job_create(campaign=campaign, user=UserFactory(), fmt="prm800k")
    now = timezone.now()
    Job.objects.filter(pk=dead.pk).update(heartbeat_at=now - timedelta(minutes=25))
    Job.objects.filter(pk=alive.pk).update(heartbeat_at=now - timedelta(minutes=5))
    assert jobs_reap(now=now) == 1
    dead.refresh_from_db()
    assert dead.status == Job.Status.FAILED and dead.finished_at is not None
    assert "stopped (no heartbeat for 25 min); nothing was imported" in dead.error
    assert not list(tmp_path.iterdir())  # the orphaned upload is removed
    assert Job.objects.get(pk=alive.pk).status == Job.Status.RUNNING
    assert Job.objects.get(pk=waiting.pk).status == Job.Status.PENDING  # not started is not dead
    assert jobs_reap(now=now) == 0  # reaping twice is harmless


@pytest.mark.django_db
def test_empty_or_unknown_uploads_are_refused(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path
    campaign = CampaignFactory()
    with pytest.raises(ValidationFailed, match="empty"):
        import_job_create(campaign=campaign, filename="x.jsonl", chunks=iter([]), user=None)
    with pytest.raises(ValidationFailed, match="unknown format"):
        import_job_create(campaign=campaign, filename="x.jsonl", chunks=iter([b"{}"]), user=None, fmt="csv")
    with pytest.raises(ValidationFailed, match="one line per labeler"):
        export_job_create(campaign=campaign, user=None, fmt="prm800k", aggregate="majority")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_export_job_writes_the_file(settings, tmp_path, prm800k_records_path):
    from labeling.services.imports import solutions_import

    settings.EXPORT_DIR = tmp_path
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=prm800k_records_path)
    job = export_job_run(job_id=export_job_create(campaign=campaign, user=None, fmt="prm800k").pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    out = [json.loads(x) for x in open(job.result["path"])]
    assert len(out) == job.result["rows"] == 12
    assert job.result["path"].startswith(str(tmp_path))


@pytest.mark.django_db
def test_an_hf_dataset_export_job_keeps_its_options_and_writes_a_zip(settings, tmp_path, prm800k_records_path):
    import zipfile

    from labeling.services.exports import export_options_parse
    from labeling.services.imports import solutions_import

    settings.EXPORT_DIR = tmp_path
    campaign = CampaignFactory(slug="zipme")
    solutions_import(campaign=campaign, path=prm800k_records_path)
    options = export_options_parse({"format": "hf-dataset", "test_fraction": "0.5", "seed": "2", "qc": "exclude",
                                    "license": "mit"})
    created = export_job_create(campaign=campaign, user=None, options=options)
    assert created.params["qc"] == "exclude" and created.params["aggregate"] == "majority"
    job = export_job_run(job_id=created.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["filename"].endswith(".zip") and job.result["rows"] == sum(job.result["splits"].values())
    names = zipfile.ZipFile(job.result["path"]).namelist()
    base = job.result["filename"][:-4]
    assert f"{base}/README.md" in names and f"{base}/train.jsonl" in names
    card = zipfile.ZipFile(job.result["path"]).read(f"{base}/README.md").decode()
    assert card.startswith("---\nlicense: mit\n") and '"qc": "exclude"' in card


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_import_job_round_trip_through_redis_and_a_worker(demo_file, settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path
    campaign = CampaignFactory()
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        # on_commit enqueues once the job row is committed (transactional test).
        job = import_job_create(campaign=campaign, filename="demo.jsonl", chunks=iter(_lines(demo_file, 5)),
                                user=None)
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
                break
            time.sleep(0.2)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress_done == job.progress_total == 5
    assert Solution.objects.filter(tasks__campaign=campaign).count() == job.result["tasks_created"] > 0
    assert "created:" in job.result["summary"]


def test_beat_schedules_the_job_reaper():
    import labeling.tasks  # noqa: F401  (registers the app's tasks, as a worker's autodiscovery does)

    entry = app.conf.beat_schedule["reap-stale-jobs"]
    assert entry["task"] == "labeling.tasks.reap_stale_jobs" and entry["task"] in app.tasks


@pytest.mark.django_db
def test_export_files_get_the_mode_of_the_umask_not_mkstemps_0600(settings, tmp_path, prm800k_records_path):
    import os
    import stat

    from labeling.services.exports import labels_export
    from labeling.services.imports import solutions_import

    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=prm800k_records_path)
    old = os.umask(0o022)
    try:
        labels_export(campaign=campaign, fmt="trl", output=tmp_path / "a.jsonl")
        os.umask(0o027)
        labels_export(campaign=campaign, fmt="trl", output=tmp_path / "b.jsonl")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.jsonl").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.jsonl").stat().st_mode) == 0o640

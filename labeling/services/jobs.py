"""Background import and export jobs whose progress and result a page shows.

Invariants:
- a job row and its task's outbox message are written together, so a page can
  always show the job, and it runs once the broker has it (labeling.services.outbox),
  even if the broker was down when it was asked for; the task moves it
  pending -> running -> succeeded/failed;
- an import is all-or-nothing (solutions_import) and a failed job keeps the
  error that names the bad lines; an export file appears only complete;
- running a job twice (a redelivered task) does nothing the second time;
- a job whose worker died (no heartbeat for JOB_STALE_SECONDS) is failed by
  jobs_reap with a reason, and its temporary files are removed, so no page
  shows "running" for more than a few minutes.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
import zipfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.errors import LabelingError, NotFound, ValidationFailed
from labeling.exporting.formats import DIRECTORY_FORMATS
from labeling.importing.formats import FORMATS
from labeling.models import Campaign, Job
from labeling.services.exports import (
    ExportOptions,
    export_options_params,
    export_options_parse,
    export_params_check,
    labels_export,
)
from labeling.services.imports import solutions_import
from labeling.services.job_heartbeat import JobHeartbeat
from labeling.services.outbox import handed_over_before, never_queued, outbox_enqueue

log = logging.getLogger(__name__)


# What an import does with a file's labels: keep them as labels, make them gold, or leave them out.
IMPORT_LABELS = ("labels", "gold", "none")


def _enqueue(task_name: str, job_id: int) -> None:
    outbox_enqueue(task=task_name, args=[job_id], ref=f"job:{job_id}")


@transaction.atomic
def import_job_create(
    *, campaign: Campaign, filename: str, chunks, user, fmt: str = "auto", split: str = "blank",
    as_gold: bool = False, drop_labels: bool = False,
) -> Job:
    """Store an uploaded file and queue its import. `chunks` yields the file's bytes. The file's labels
    come in as labels, as gold (`as_gold`) or not at all (`drop_labels`): see solutions_import."""
    if as_gold and drop_labels:
        raise ValidationFailed("choose gold items or leaving the labels out, not both",
                               details={"labels": ["gold and none at once"]})
    if fmt not in FORMATS:
        raise ValidationFailed(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    upload_dir = Path(settings.IMPORT_UPLOAD_DIR)
    upload_dir.mkdir(parents=True, exist_ok=True)
    path = upload_dir / f"{uuid.uuid4().hex}.jsonl"
    size = 0
    limit = settings.IMPORT_UPLOAD_MAX_MB * 1024 * 1024
    with open(path, "wb") as fh:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                fh.close()
                path.unlink(missing_ok=True)
                raise ValidationFailed(f"the file is larger than {settings.IMPORT_UPLOAD_MAX_MB} MB")
            fh.write(chunk)
    if size == 0:
        path.unlink(missing_ok=True)
        raise ValidationFailed("the uploaded file is empty")
    job = Job.objects.create(
        kind=Job.Kind.IMPORT, campaign=campaign, created_by=user,
        params={"path": str(path), "filename": Path(filename).name, "format": fmt, "split": split,
                "as_gold": as_gold, "drop_labels": drop_labels, "bytes": size},
    )
    _enqueue("labeling.tasks.run_import_job", job.pk)
    return job


@transaction.atomic
def export_job_create(*, campaign: Campaign, user, fmt: str = "", aggregate: str | None = None,
                      options: ExportOptions | None = None) -> Job:
    """Queue an export of the campaign to a file under EXPORT_DIR (an hf-dataset export: a directory
    and a .zip of it). The job stores the options as text, read back by export_job_run."""
    options = options or ExportOptions(fmt=fmt, aggregate=aggregate)
    export_params_check(options.fmt, options.aggregate)
    job = Job.objects.create(
        kind=Job.Kind.EXPORT, campaign=campaign, created_by=user, params=export_options_params(options)
    )
    _enqueue("labeling.tasks.run_export_job", job.pk)
    return job


def _claim(job_id: int, kind: str) -> Job | None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id, kind=kind).first()
        if job is None:
            raise NotFound(f"no {kind} job {job_id}")
        if job.status != Job.Status.PENDING:
            return None
        job.status = Job.Status.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "started_at", "heartbeat_at"])
        return job


def jobs_reap(*, now=None) -> int:
    """Fail jobs that will not finish on their own; returns how many.

    Invariants: a RUNNING job is failed when its heartbeat (written every
    JOB_HEARTBEAT_SECONDS while its worker lives) is older than
    JOB_STALE_SECONDS, a PENDING one when its message reached the broker
    JOB_PENDING_TIMEOUT_SECONDS ago and no worker took it (one still waiting for the broker is left
    to run); the row lock and the status check make a job that finishes
    meanwhile win; an import wrote nothing (it is one transaction), so its
    upload is removed and the reason says to run it again; an export's partial
    file never replaced a complete one.
    """
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.JOB_STALE_SECONDS)
    pending_cutoff = now - timezone.timedelta(seconds=settings.JOB_PENDING_TIMEOUT_SECONDS)
    reaped = 0
    with transaction.atomic():
        # Jobs claimed before heartbeats existed only have started_at.
        stale = Job.objects.select_for_update(skip_locked=True).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff),
            status=Job.Status.RUNNING,
        )
        for job in stale:
            silent = round((now - (job.heartbeat_at or job.started_at)).total_seconds())
            _reap(job, f"the worker running this job stopped (no heartbeat for {_duration(silent)})")
            reaped += 1
        # Pending jobs whose message a worker should have had for a while: it was lost, or no
        # worker serves the queue. Jobs still waiting for the broker stay pending: they run
        # once it is back (the outbox relay), however long the outage.
        lost = Job.objects.select_for_update(skip_locked=True).filter(status=Job.Status.PENDING).filter(
            handed_over_before("job:", pending_cutoff) | (Q(created_at__lt=pending_cutoff) & never_queued("job:"))
        )
        for job in lost:
            _reap(job, f"no worker took this job up within {_duration(settings.JOB_PENDING_TIMEOUT_SECONDS)}")
            reaped += 1
    return reaped


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


def _export_path(job: Job) -> Path:
    """The job's download: a .jsonl file, or for a directory format the .zip of its directory."""
    p = job.params
    suffix = ".zip" if p["format"] in DIRECTORY_FORMATS else ".jsonl"
    name = f"{job.campaign.slug}-{p['format']}-{p['aggregate']}-{job.pk}{suffix}"
    return Path(settings.EXPORT_DIR) / job.campaign.slug / name


def _reap(job: Job, why: str) -> None:
    what = "nothing was imported; upload the file again" if job.kind == Job.Kind.IMPORT \
        else "no file was written; start the export again"
    _finish(job, error=f"{why}; {what}")
    if job.kind == Job.Kind.IMPORT and job.params.get("path"):
        Path(job.params["path"]).unlink(missing_ok=True)
    if job.kind == Job.Kind.EXPORT and job.campaign_id:
        # A killed export leaves its temporary file (labels_export names it after the output).
        output = _export_path(job)
        for leftover in [*output.parent.glob(f".{output.name}.*"), *output.parent.glob(f".{output.stem}.*")]:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def _finish(job: Job, *, result: dict | None = None, error: str = "") -> Job:
    job.status = Job.Status.FAILED if error else Job.Status.SUCCEEDED
    job.result = result or {}
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "error", "finished_at"])
    return job


def import_job_run(*, job_id: int) -> Job:
    """Run a queued import; the job ends succeeded (with the import summary) or failed (with the reason)."""
    job = _claim(job_id, Job.Kind.IMPORT)
    if job is None:
        return Job.objects.get(pk=job_id)
    p = job.params
    try:
        with JobHeartbeat(job.pk) as beat:
            result = solutions_import(
                campaign=job.campaign, path=Path(p["path"]), fmt=p["format"], split=p.get("split", "blank"),
                as_gold=p.get("as_gold", False), drop_labels=p.get("drop_labels", False), progress=beat.report,
            )
    except LabelingError as exc:
        return _finish(job, error=exc.message)
    except Exception as exc:  # noqa: BLE001 - a bug or the database: fail the job now with the reason, not in an hour
        log.exception("import job %s failed", job.pk)
        first = str(exc).splitlines()[0] if str(exc) else ""
        return _finish(job, error=f"the import failed ({type(exc).__name__}: {first}); nothing was imported")
    finally:
        Path(p["path"]).unlink(missing_ok=True)
    job.progress_done = job.progress_total = result.lines
    job.save(update_fields=["progress_done", "progress_total"])
    return _finish(job, result={"summary": result.summary(), **result.as_dict()})


def export_job_run(*, job_id: int) -> Job:
    """Write a queued export to EXPORT_DIR/<campaign>/ and record the file, rows and skips."""
    job = _claim(job_id, Job.Kind.EXPORT)
    if job is None:
        return Job.objects.get(pk=job_id)
    output = _export_path(job)
    name = output.name
    try:
        options = export_options_parse(job.params)
        with JobHeartbeat(job.pk) as beat:
            if options.fmt in DIRECTORY_FORMATS:
                result = labels_export(campaign=job.campaign, fmt=options.fmt, options=options,
                                       output=output.with_suffix(""), progress=beat.report)
                _zip_dir(output.with_suffix(""), output)
            else:
                result = labels_export(campaign=job.campaign, fmt=options.fmt, options=options, output=output,
                                       progress=beat.report)
    except LabelingError as exc:
        return _finish(job, error=exc.message)
    except Exception as exc:  # noqa: BLE001 - fail the job at once with the reason
        log.exception("export job %s failed", job.pk)
        return _finish(job, error=f"the export failed ({type(exc).__name__}); no file was written")
    Job.objects.filter(pk=job.pk).update(progress_done=result.rows, progress_total=result.rows)
    return _finish(job, result={"path": str(output), "filename": name, "rows": result.rows,
                                "skipped": result.skipped, "skipped_reasons": result.skipped_reasons,
                                "splits": result.splits, "summary": result.summary(),
                                "bytes": output.stat().st_size})


def _zip_dir(directory: Path, archive: Path) -> None:
    """Zip `directory` (files at the archive's top level under its name) to `archive`, atomically."""
    tmp = archive.parent / f".{archive.name}.{uuid.uuid4().hex}"
    try:
        with zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(directory.iterdir()):
                zf.write(path, arcname=f"{directory.name}/{path.name}")
        os.replace(tmp, archive)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

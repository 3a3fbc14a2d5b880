"""A running job's heartbeat and progress, written from a thread on its own connection.

Why a thread: an import runs in one transaction, so progress written by the
import itself would stay invisible until the commit (the page showed 0 and
then 100%). And an export, or an import's first pass, reports no progress
for minutes, so a heartbeat tied to progress could not tell a slow job from
a dead one. The thread writes every JOB_HEARTBEAT_SECONDS, and soon after
each progress report, in autocommit on its own connection, so the row is
current while the work runs and stops moving the moment the worker dies
(SIGKILL, OOM): jobs_reap fails it JOB_STALE_SECONDS later.

The job's own transaction never writes the job row while the thread runs;
if it did, the thread's UPDATE would wait on that row lock.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections
from django.utils import timezone

from labeling.models import Job

log = logging.getLogger(__name__)

# Progress is written at most this often: a million-line import reports per batch.
MIN_WRITE_INTERVAL_S = 0.5


class JobHeartbeat:
    """Context manager: `with JobHeartbeat(job_id) as beat: work(progress=beat.report)`."""

    def __init__(self, job_id: int, *, interval_s: float | None = None):
        self.job_id = job_id
        self.interval_s = interval_s if interval_s is not None else settings.JOB_HEARTBEAT_SECONDS
        self._progress: tuple[int, int | None] | None = None
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-heartbeat", daemon=True)

    def report(self, done: int, total: int | None) -> None:
        with self._lock:
            self._progress = (done, total)
        self._changed.set()

    def __enter__(self) -> JobHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._write()
                self._changed.wait(self.interval_s)
                self._changed.clear()
                self._stop.wait(MIN_WRITE_INTERVAL_S)
        finally:
            connections.close_all()  # this thread's connections only (they are per thread)

    def _write(self) -> None:
        with self._lock:
            progress = self._progress
        fields = {"heartbeat_at": timezone.now()}
        if progress is not None:
            fields["progress_done"], fields["progress_total"] = progress
        try:
            Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(**fields)
        except Exception:  # noqa: BLE001 - a database blip: the next beat tries again
            log.warning("job %s: heartbeat not written", self.job_id, exc_info=True)

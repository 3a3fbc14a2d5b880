"""Celery tasks: thin wrappers that own retries and call services."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from labeling.services.leases import assignments_expire_stale
from labeling.services.outbox import outbox_relay

log = logging.getLogger(__name__)


@shared_task(name="labeling.tasks.expire_stale_leases", autoretry_for=(Exception,), retry_backoff=True,
             max_retries=3)
def expire_stale_leases() -> int:
    """Beat runs this every LEASE_SWEEP_SECONDS; expiring twice is harmless."""
    return assignments_expire_stale()


@shared_task(name="labeling.tasks.reap_stale_jobs")
def reap_stale_jobs() -> int:
    """Beat runs this every JOB_REAP_SECONDS; reaping twice is harmless."""
    from labeling.services.jobs import jobs_reap

    return jobs_reap()


@shared_task(name="labeling.tasks.refresh_agreement")
def refresh_agreement() -> list[int]:
    """Beat runs this every AGREEMENT_REFRESH_SECONDS; a missed run is simply caught up by the next."""
    from labeling.services.agreement import agreement_refresh_due

    return agreement_refresh_due()


@shared_task(name="labeling.tasks.refresh_campaign_agreement")
def refresh_campaign_agreement(campaign_id: int) -> int | None:
    """A manager asked for fresh agreement now; returns the snapshot's id (None: the campaign is gone)."""
    from labeling.models import Campaign
    from labeling.services.agreement import agreement_refresh

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    return agreement_refresh(campaign=campaign).pk if campaign else None


# Import/export jobs ack early (no replay after a worker dies mid-way): a
# replay would double the work, and the service refuses a job that is not
# pending. A job whose worker died is failed by reap_stale_jobs instead.
@shared_task(name="labeling.tasks.run_import_job", acks_late=False)
def run_import_job(job_id: int) -> str:
    """Run one import job (all-or-nothing)."""
    from labeling.services.jobs import import_job_run

    return import_job_run(job_id=job_id).status


@shared_task(name="labeling.tasks.run_export_job", acks_late=False)
def run_export_job(job_id: int) -> str:
    """Write one export file."""
    from labeling.services.jobs import export_job_run

    return export_job_run(job_id=job_id).status


@shared_task(name="labeling.tasks.relay_outbox")
def relay_outbox() -> int:
    """Beat runs this every OUTBOX_RELAY_SECONDS: publish what requests could not (the broker was away)."""
    return outbox_relay()


@worker_ready.connect
def _relay_at_start(**_):
    # A worker that comes up after an outage flushes the backlog at once.
    try:
        outbox_relay()
    except Exception:  # noqa: BLE001 - never keep a worker from starting; beat's relay retries
        log.exception("outbox relay at worker start failed")

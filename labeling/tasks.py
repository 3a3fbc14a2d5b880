"""Celery tasks: thin wrappers that own retries and call services."""

from celery import shared_task

from labeling.services.leases import assignments_expire_stale


@shared_task(name="labeling.tasks.expire_stale_leases", autoretry_for=(Exception,), retry_backoff=True,
             max_retries=3)
def expire_stale_leases() -> int:
    """Beat runs this every LEASE_SWEEP_SECONDS; expiring twice is harmless."""
    return assignments_expire_stale()

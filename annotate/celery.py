"""The Celery app. Tasks live in each app's tasks.py and stay thin."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")

app = Celery("annotate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Static entries; django-celery-beat copies them into its tables on start, so
# managers can retune or disable them from the admin without a deploy.
app.conf.beat_schedule = {
    "expire-stale-leases": {
        "task": "labeling.tasks.expire_stale_leases",
        "schedule": float(os.environ.get("LEASE_SWEEP_SECONDS", "60")),
    },
    # Per-campaign timing (every N minutes / after M labels) lives in each
    # campaign's ActiveLearningConfig, so managers change it in the admin
    # without touching beat; this only asks "who is due?" once a minute.
    "start-due-training-cycles": {
        "task": "active_learning.tasks.start_due_cycles",
        "schedule": float(os.environ.get("AL_CYCLE_CHECK_SECONDS", "60")),
    },
    # Agreement is a self-join over all labels: recomputed in the background
    # (only for campaigns with new labels) and read by the dashboard.
    "reap-stale-jobs": {
        "task": "labeling.tasks.reap_stale_jobs",
        "schedule": float(os.environ.get("JOB_REAP_SECONDS", "30")),
    },
    # Publishes tasks whose request could not reach the broker (transactional outbox).
    "relay-outbox": {
        "task": "labeling.tasks.relay_outbox",
        "schedule": float(os.environ.get("OUTBOX_RELAY_SECONDS", "10")),
    },
    "refresh-agreement": {
        "task": "labeling.tasks.refresh_agreement",
        "schedule": float(os.environ.get("AGREEMENT_REFRESH_SECONDS", "120")),
    },
}

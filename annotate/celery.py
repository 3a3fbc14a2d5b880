"""The Celery app. Tasks live in each app's tasks.py and stay thin."""

import os
import re

import click
from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")

app = Celery("annotate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _device(ctx, param, value):
    if value is not None and not DEVICE.match(value):
        raise click.BadParameter(f"{value!r} is not a torch device: use auto, cpu, mps, cuda or cuda:N")
    return value


# `celery -A annotate worker -Q scoring --device cuda`: a GPU host scores on its
# GPU whatever the campaign's score_config says (which is written for the CPU default).
app.user_options["worker"].add(click.Option(
    ["--device"], default=None, callback=_device,
    help="Torch device this worker scores on (auto, cpu, mps, cuda, cuda:N); default: the campaign's setting."))
app.user_options["worker"].add(click.Option(
    ["--torch-threads"], default=None, type=click.IntRange(min=1),
    help="Torch CPU threads per worker process for scoring; default: torch's own choice."))


class ScoringDevice(bootsteps.Step):
    """Carries --device and --torch-threads into the settings before the pool forks, so every child uses them."""

    def __init__(self, parent, device=None, torch_threads=None, **options):
        super().__init__(parent, **options)
        from django.conf import settings

        if device:
            settings.AL_SCORING_DEVICE = device
        if torch_threads:
            settings.AL_SCORING_TORCH_THREADS = torch_threads


app.steps["worker"].add(ScoringDevice)

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
    # Chunks of the score stage whose worker died go to another worker.
    "reap-scoring-chunks": {
        "task": "active_learning.tasks.reap_scoring_chunks",
        "schedule": float(os.environ.get("AL_SCORING_REAP_SECONDS", "15")),
    },
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

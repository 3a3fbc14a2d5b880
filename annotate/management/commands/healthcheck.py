"""Container health checks (docker-compose runs them): exit 0 when healthy, 1 with the reason when not."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from annotate import health

# The beat entry that runs most often; beat is alive when it keeps sending it.
BEAT_PROBE = "expire-stale-leases"


class Command(BaseCommand):
    help = "Check one component: web (readiness), worker NAME (Celery ping), beat (its schedule keeps running)."

    def add_arguments(self, parser):
        parser.add_argument("component", choices=["web", "worker", "beat"])
        parser.add_argument("--node", help="worker node name, e.g. default@host (default: any worker answers)")
        parser.add_argument("--timeout", type=float, default=3.0)

    def handle(self, *args, component, node, timeout, **opts):
        if component == "web":
            state = health.readiness()
            if not state["ready"]:
                raise CommandError("; ".join(v for v in state["checks"].values() if v != "ok"))
        elif component == "worker":
            from annotate.celery import app

            replies = app.control.ping(destination=[node] if node else None, timeout=timeout)
            if not replies:
                raise CommandError(f"no Celery worker answered a ping ({node or 'any'}) within {timeout} s")
        else:
            from django_celery_beat.models import PeriodicTask

            task = PeriodicTask.objects.filter(name=BEAT_PROBE).first()
            every = settings.LEASE_SWEEP_SECONDS
            if task is None or task.last_run_at is None:
                raise CommandError(f"beat has not sent '{BEAT_PROBE}' yet")
            age = timezone.now() - task.last_run_at
            if age > timedelta(seconds=3 * every + 30):
                raise CommandError(f"beat last sent '{BEAT_PROBE}' {int(age.total_seconds())} s ago "
                                   f"(it runs every {every} s)")
        self.stdout.write("ok")

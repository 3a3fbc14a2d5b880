"""Prometheus metrics at /metrics.

django-prometheus supplies requests, latency, status codes and database
query counts and times (its middleware and database backend). This adds
what the product itself knows, read when Prometheus scrapes, so every web
process reports the same figures whichever process answers: labels
submitted, jobs and training runs by state with their durations (the
Celery work), the outbox backlog, and the depth of each Celery queue.
"""

from __future__ import annotations

import logging
import os

import redis
from django.conf import settings
from django.db.models import Count, F, Sum
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from active_learning.models import TrainingRun
from labeling.models import Assignment, Campaign, Job, OutboxMessage

log = logging.getLogger(__name__)


class ProductCollector:
    """Collected at scrape time from PostgreSQL and Redis; a failing source is skipped, not fatal."""

    def describe(self):
        # Without describe(), registering calls collect() to learn the names: database and Redis
        # queries at import time (manage.py check, every process start).
        return []

    def collect(self):
        try:
            yield from self._database()
        except Exception:  # noqa: BLE001 - /metrics must answer even while the database is down
            log.warning("metrics: database figures unavailable", exc_info=True)
        try:
            yield from self._queues()
        except Exception:  # noqa: BLE001
            log.warning("metrics: queue depths unavailable", exc_info=True)

    def _database(self):
        labels = CounterMetricFamily("prm_labels_submitted", "Submitted labelings (solutions labeled)",
                                     labels=["campaign"])
        steps = CounterMetricFamily("prm_step_labels_submitted", "Rated steps in submitted labelings",
                                    labels=["campaign"])
        done = {row["campaign__slug"]: row for row in (
            Assignment.objects.filter(status=Assignment.Status.SUBMITTED)
            .values("campaign__slug").annotate(n=Count("pk"), s=Sum("rated_steps")))}
        # Every campaign has a sample, 0 before its first label, so rate() starts from the beginning.
        for slug in Campaign.objects.order_by("slug").values_list("slug", flat=True):
            row = done.get(slug, {})
            labels.add_metric([slug], row.get("n", 0))
            steps.add_metric([slug], row.get("s") or 0)
        yield labels
        yield steps
        jobs = GaugeMetricFamily("prm_jobs", "Import and export jobs by state", labels=["kind", "status"])
        for row in Job.objects.values("kind", "status").annotate(n=Count("pk")):
            jobs.add_metric([row["kind"], row["status"]], row["n"])
        yield jobs
        yield from self._durations(
            "prm_job_duration_seconds", "Run time of finished jobs (seconds)", Job.objects, ["kind", "status"])
        runs = GaugeMetricFamily("prm_training_runs", "Training cycles by state", labels=["status"])
        for row in TrainingRun.objects.values("status").annotate(n=Count("pk")):
            runs.add_metric([row["status"]], row["n"])
        yield runs
        yield from self._durations("prm_training_run_duration_seconds", "Run time of finished training cycles",
                                   TrainingRun.objects, ["status"])
        pending = OutboxMessage.objects.filter(sent_at__isnull=True).count()
        yield GaugeMetricFamily("prm_outbox_pending", "Celery messages waiting for the broker", value=pending)

    @staticmethod
    def _durations(name, doc, qs, by):
        total = GaugeMetricFamily(name + "_sum", doc, labels=by)
        count = GaugeMetricFamily(name + "_count", doc + " (count)", labels=by)
        rows = (qs.filter(started_at__isnull=False, finished_at__isnull=False).values(*by)
                .annotate(n=Count("pk"), t=Sum(F("finished_at") - F("started_at"))))
        for row in rows:
            key = [str(row[b]) for b in by]
            total.add_metric(key, row["t"].total_seconds() if row["t"] else 0.0)
            count.add_metric(key, row["n"])
        yield total
        yield count

    def _queues(self):
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        depth = GaugeMetricFamily("prm_celery_queue_length", "Messages waiting in each Celery queue", labels=["queue"])
        try:
            for queue in (settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_TRAINING_QUEUE):
                depth.add_metric([queue], client.llen(queue))
        finally:
            client.close()
        yield depth


PRODUCT = ProductCollector()
# Under gunicorn (see gunicorn_conf) every worker writes its counters to files and a scrape sums
# them all; a single process (tests, runserver) answers from its own registry.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if not MULTIPROCESS:
    REGISTRY.register(PRODUCT)


def _registry():
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(PRODUCT)
    return registry


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def metrics(request):
    auth = request.headers.get("Authorization", "")
    token_ok = bool(settings.METRICS_TOKEN) and auth == f"Bearer {settings.METRICS_TOKEN}"
    if not token_ok and _client_ip(request) not in settings.METRICS_ALLOWED_IPS:
        return HttpResponseForbidden("metrics are served to the monitoring host only\n", content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)

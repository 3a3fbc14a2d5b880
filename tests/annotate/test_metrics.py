"""/metrics: Prometheus text, served to the monitoring host only, with the product's own figures."""

import re

import pytest
from django.utils import timezone

from labeling.models import Job, OutboxMessage
from tests.factories import TaskFactory, UserFactory, submitted_labels

pytestmark = pytest.mark.django_db


def _value(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}" + (rf"\{{{re.escape(want)}\}}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name}{{{want}}} missing from /metrics"
    return float(match.group(1))


def test_metrics_report_labels_jobs_runs_outbox_and_queues(client):
    task = TaskFactory(campaign__slug="metrics-a")
    submitted_labels(task, UserFactory(), [1, 1, -1])
    submitted_labels(TaskFactory(campaign=task.campaign), UserFactory(), [1, 0, 1])
    start = timezone.now() - timezone.timedelta(seconds=30)
    Job.objects.create(kind="import", status="succeeded", started_at=start,
                       finished_at=start + timezone.timedelta(seconds=12))
    Job.objects.create(kind="export", status="pending")
    OutboxMessage.objects.create(task="labeling.tasks.run_export", kwargs={})

    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/plain")
    text = resp.content.decode()
    assert _value(text, "prm_labels_submitted_total", campaign="metrics-a") == 2
    assert _value(text, "prm_step_labels_submitted_total", campaign="metrics-a") == 6
    assert _value(text, "prm_jobs", kind="import", status="succeeded") == 1
    assert _value(text, "prm_jobs", kind="export", status="pending") == 1
    assert _value(text, "prm_job_duration_seconds_sum", kind="import", status="succeeded") == pytest.approx(12)
    assert _value(text, "prm_outbox_pending") == 1
    assert _value(text, "prm_celery_queue_length", queue="default") >= 0
    # django-prometheus's own request and database figures are in the same answer.
    assert "django_http_requests_total_by_method_total" in text
    assert "django_db_execute_total" in text


def test_metrics_refuse_other_addresses_unless_they_bring_the_token(client, settings):
    resp = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert resp.status_code == 403 and b"prm_" not in resp.content
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
    assert ok.status_code == 200 and b"prm_jobs" in ok.content
    settings.METRICS_ALLOWED_IPS = ["10.1.2.3"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_metrics_answer_with_the_broker_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert b"prm_jobs" in resp.content and b"prm_celery_queue_length{" not in resp.content

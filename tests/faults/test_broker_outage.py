"""Fault injection: the broker goes away and comes back.

A private Redis (the embedded server's binary, on its own port and data
directory) stands in for the broker, so stopping it disturbs nothing else.
With it down, import, export and retrain requests answer at once and their
records wait ("waiting for a worker"); labeling never needed it. Once it is
back, the outbox relay publishes the backlog and a real worker runs it.
"""

import time
import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from active_learning.models import ActiveLearningConfig, TrainingRun
from annotate.celery import app
from labeling.models import Job, Membership, OutboxMessage
from labeling.services.assignments import assignment_next
from labeling.services.outbox import outbox_relay
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory
from tests.faults.harness import PrivateRedis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _forget_connections():
    # The app caches its connection pool and producer pool for the URL it first used.
    app._pool = None
    app.amqp._producer_pool = None
    # The result backend too: cached on the app (thread-safe backends) or per thread.
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def broker(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    saved = (app.conf.broker_url, app.conf.result_backend)
    app.conf.broker_url = app.conf.result_backend = server.url
    _forget_connections()
    settings.CELERY_BROKER_URL = server.url  # /readyz reads this one
    yield server
    app.conf.broker_url, app.conf.result_backend = saved
    _forget_connections()
    if server.proc.poll() is None:
        server.stop()


def _timed(fn):
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def test_requests_answer_at_once_with_the_broker_down_and_the_work_runs_once_it_is_back(broker, settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    settings.EXPORT_DIR = tmp_path / "exports"
    campaign = CampaignFactory(qc_rate=0)
    for _ in range(3):
        TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["a", "b"]))
    manager = UserFactory()
    Membership.objects.create(campaign=campaign, user=manager, role="manager")
    annotator = MembershipFactory(campaign=campaign).user
    ActiveLearningConfig.objects.create(campaign=campaign, min_labels=0)
    api = APIClient()
    api.force_authenticate(manager)
    web = APIClient()
    web.force_login(manager)
    held = assignment_next(user=annotator, campaign=campaign)

    broker.stop()
    # readiness says so
    ready = APIClient().get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
    # labeling needs no broker
    ann = APIClient()
    ann.force_authenticate(annotator)
    submit, took = _timed(lambda: ann.post(f"/api/assignments/{held.pk}/submit/", {
        "submission_id": str(uuid.uuid4()), "ratings": [{"step": 0, "rating": 1}, {"step": 1, "rating": 1}]},
        format="json"))
    assert submit.status_code == 200 and took < 2
    # each job or run request answers within 2 s, and its record waits
    exp, took_export = _timed(lambda: web.post(f"/manage/{campaign.slug}/data/export/",
                                                {"format": "trl", "aggregate": "none"}))
    imp, took_import = _timed(lambda: web.post(f"/manage/{campaign.slug}/data/import/", {
        "format": "auto", "file": SimpleUploadedFile(
            "more.jsonl", b'{"problem": "What is 2 + 2?", "steps": ["2 + 2 = 4.", "# Answer\\n\\n4"], "answer": "4", '
                          b'"ground_truth_answer": "4"}\n')}))
    run, took_run = _timed(lambda: api.post(f"/api/manage/campaigns/{campaign.slug}/retrain/", {}, format="json"))
    assert (exp.status_code, imp.status_code, run.status_code) == (302, 302, 202)
    assert max(took_export, took_import, took_run) < 2, (took_export, took_import, took_run)
    assert set(Job.objects.values_list("status", flat=True)) == {"pending"}
    assert TrainingRun.objects.get().status == "queued"
    pending = OutboxMessage.objects.filter(sent_at__isnull=True)
    assert pending.count() == 3 and all(m.attempts == 1 and m.last_error for m in pending)
    page = web.get(f"/manage/{campaign.slug}/data/").content.decode()
    assert page.count("waiting for a worker") == 2
    # a second retrain is refused for the run that waits, not for a stuck one
    again = api.post(f"/api/manage/campaigns/{campaign.slug}/retrain/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "conflict"

    broker.start()
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        assert outbox_relay() == 3  # what beat's relay task does every OUTBOX_RELAY_SECONDS
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Job.objects.exclude(status__in=["succeeded", "failed"]).exists():
            time.sleep(0.2)
    assert dict(Job.objects.values_list("kind", "status")) == {"export": "succeeded", "import": "succeeded"}
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    # start_cycle ran on the default worker and handed the training chain to the training queue
    client = redis.Redis.from_url(broker.url)
    assert client.llen(settings.CELERY_TRAINING_QUEUE) == 1
    client.close()

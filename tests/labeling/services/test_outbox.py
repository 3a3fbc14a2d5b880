"""The transactional outbox and the reapers that respect it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Job, OutboxMessage
from labeling.services import outbox
from labeling.services.jobs import export_job_create, jobs_reap
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_broker(monkeypatch):
    def refuse(rows):
        return [], "OperationalError: Error 111 connecting to 127.0.0.1:9. Connection refused."

    monkeypatch.setattr(outbox, "_publish", refuse)
    monkeypatch.setattr(outbox, "broker_reachable", lambda: False)


def test_a_rolled_back_request_leaves_no_message():
    from django.db import transaction

    campaign = CampaignFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        export_job_create(campaign=campaign, user=None, fmt="trl")
        raise RuntimeError("the request failed after creating the job")
    assert not Job.objects.exists() and not OutboxMessage.objects.exists()


def test_publishing_while_the_broker_is_down_keeps_the_message_and_says_why(dead_broker):
    job = export_job_create(campaign=CampaignFactory(), user=None, fmt="trl")
    msg = OutboxMessage.objects.get(ref=f"job:{job.pk}")
    assert outbox.outbox_publish(ids=[msg.pk]) == 0
    msg.refresh_from_db()
    assert msg.sent_at is None and msg.attempts == 1 and "Connection refused" in msg.last_error
    assert outbox.outbox_relay() == 0  # nothing to do while the broker is away
    assert outbox.outbox_waiting(ref=f"job:{job.pk}")


def test_the_relay_publishes_the_backlog_in_order_once_the_broker_answers(monkeypatch):
    campaign = CampaignFactory()
    jobs = [export_job_create(campaign=campaign, user=None, fmt="trl") for _ in range(5)]
    sent = []

    def accept(rows):
        sent.extend(m.args[0] for m in rows)
        return [m.pk for m in rows], None

    monkeypatch.setattr(outbox, "_publish", accept)
    monkeypatch.setattr(outbox, "broker_reachable", lambda: True)
    assert outbox.outbox_relay(batch=2) == 5
    assert sent == [j.pk for j in jobs]
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert outbox.outbox_relay() == 0


def test_pending_jobs_are_reaped_only_when_a_worker_should_have_had_them(settings, dead_broker):
    settings.JOB_PENDING_TIMEOUT_SECONDS = 600
    campaign = CampaignFactory()
    waiting = export_job_create(campaign=campaign, user=None, fmt="trl")  # broker down: never sent
    lost = export_job_create(campaign=campaign, user=None, fmt="trl")
    old = timezone.now() - timedelta(hours=2)
    Job.objects.filter(pk__in=[waiting.pk, lost.pk]).update(created_at=old)
    OutboxMessage.objects.filter(ref=f"job:{lost.pk}").update(sent_at=old)  # sent, never taken
    assert jobs_reap() == 1
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.status == "failed" and "no worker took this job up within 10 min" in lost.error
    assert waiting.status == "pending"  # it runs once the broker is back


def test_a_queued_run_waiting_for_the_broker_is_not_reaped_and_blocks_nothing_else(settings, dead_broker):
    from active_learning.models import ActiveLearningConfig, TrainingRun
    from active_learning.services.training import training_run_request, training_runs_reap

    settings.AL_QUEUED_TIMEOUT_SECONDS = 60
    campaign = CampaignFactory()
    ActiveLearningConfig.objects.create(campaign=campaign, min_labels=0)
    run = training_run_request(campaign=campaign)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=5))
    assert training_runs_reap() == 0  # still waiting for the broker: it will run
    OutboxMessage.objects.filter(ref=f"run:{run.pk}").update(sent_at=timezone.now() - timedelta(hours=1))
    assert training_runs_reap() == 1  # handed over an hour ago and nobody took it: failed, the lock is free
    assert training_run_request(campaign=campaign).pk != run.pk

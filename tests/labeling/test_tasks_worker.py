"""A real Celery worker consuming from real Redis runs the task against PostgreSQL."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from annotate.celery import app
from labeling.models import Assignment
from labeling.tasks import expire_stale_leases
from tests.factories import AssignmentFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_expire_task_round_trip_through_redis_and_a_worker(settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    stale = AssignmentFactory(lease_expires_at=timezone.now() - timezone.timedelta(seconds=5))
    stale.task.taken = 1
    stale.task.save()
    # Threads pool: the worker runs in this process, but every message still
    # goes through the Redis broker and the result back through Redis.
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        result = expire_stale_leases.delay()
        assert result.get(timeout=30) == 1
    stale.refresh_from_db()
    assert stale.status == Assignment.Status.EXPIRED


def test_refresh_agreement_round_trip(settings):
    from labeling.models import AgreementSnapshot
    from labeling.tasks import refresh_agreement
    from tests.factories import SolutionFactory, TaskFactory, UserFactory, submitted_labels

    task = TaskFactory(solution=SolutionFactory())
    submitted_labels(task, UserFactory(), [1, 1, 1])
    submitted_labels(task, UserFactory(), [1, -1])
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        assert refresh_agreement.delay().get(timeout=30) == [task.campaign_id]
    snap = AgreementSnapshot.objects.get(campaign=task.campaign)
    assert snap.assignment_count == 2 and snap.data["campaign"]["step_units"] == 2


def test_a_manager_asks_for_agreement_now_and_a_worker_computes_it(settings, client):
    import time

    from labeling.models import AgreementSnapshot, Membership
    from labeling.services.agreement import agreement_refresh
    from tests.factories import SolutionFactory, TaskFactory, UserFactory, submitted_labels

    task = TaskFactory(solution=SolutionFactory())
    campaign = task.campaign
    submitted_labels(task, UserFactory(), [1, 1, 1])
    old = agreement_refresh(campaign=campaign)
    submitted_labels(task, UserFactory(), [1, -1])  # newer than the snapshot
    boss = UserFactory()
    Membership.objects.create(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/annotators/").content.decode()
    assert 'data-role="agreement-behind">(1 label since' in page and 'data-role="agreement-refresh"' in page
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        r = client.post(f"/manage/{campaign.slug}/agreement/refresh/", {"back": "overview"})
        assert r.status_code == 302 and r.url == f"/manage/{campaign.slug}/"
        deadline = time.monotonic() + 30
        while not AgreementSnapshot.objects.filter(campaign=campaign, assignment_count=2).exists():
            assert time.monotonic() < deadline, "no worker computed the requested snapshot"
            time.sleep(0.2)
    new = AgreementSnapshot.objects.filter(campaign=campaign).latest("computed_at")
    assert new.pk != old.pk and new.data["campaign"]["step_units"] == 2
    page = client.get(f"/manage/{campaign.slug}/").content.decode()
    assert 'data-role="agreement-refresh"' not in page  # up to date: nothing to offer
    r = client.post(f"/manage/{campaign.slug}/agreement/refresh/")
    assert r.status_code == 302 and r.url == f"/manage/{campaign.slug}/annotators/"


def test_repeated_recompute_requests_wait_for_the_one_already_queued(settings):
    from labeling.models import OutboxMessage
    from labeling.services.agreement import agreement_refresh_request
    from tests.factories import SolutionFactory, TaskFactory, UserFactory, submitted_labels

    settings.OUTBOX_PUBLISH_ON_COMMIT = False  # the broker "down": the first request waits in the outbox
    task = TaskFactory(solution=SolutionFactory())
    submitted_labels(task, UserFactory(), [1, 1])
    assert agreement_refresh_request(campaign=task.campaign) is True
    assert agreement_refresh_request(campaign=task.campaign) is True
    assert OutboxMessage.objects.filter(ref=f"agreement:{task.campaign_id}").count() == 1

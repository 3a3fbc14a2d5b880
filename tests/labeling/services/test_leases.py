import pytest
from django.utils import timezone

from labeling.models import Assignment, StepLabel
from labeling.services.leases import assignments_expire_stale
from tests.factories import AssignmentFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_expired_leases_return_their_slot_and_keep_drafts():
    task = TaskFactory()
    past = timezone.now() - timezone.timedelta(minutes=1)
    stale = AssignmentFactory(task=task, lease_expires_at=past)
    fresh = AssignmentFactory(task=task, annotator=UserFactory())
    StepLabel.objects.create(assignment=stale, step=task.solution.steps.first(), rating=1)
    task.taken = 2
    task.save()

    assert assignments_expire_stale() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    task.refresh_from_db()
    assert stale.status == Assignment.Status.EXPIRED
    assert fresh.status == Assignment.Status.LEASED
    assert task.taken == 1
    assert stale.step_labels.count() == 1  # the draft is not lost
    assert assignments_expire_stale() == 0  # idempotent

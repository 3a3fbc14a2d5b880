"""The database itself enforces the data model's invariants."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import Assignment, Campaign, StepLabel
from tests.factories import AssignmentFactory, CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def _fails(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_step_rating_must_be_minus_one_zero_or_one():
    a = AssignmentFactory()
    step = a.solution.steps.first()
    _fails(lambda: StepLabel.objects.create(assignment=a, step=step, rating=2))
    StepLabel.objects.create(assignment=a, step=step, rating=-1)
    # one label per (assignment, step): a double submit cannot store twice
    _fails(lambda: StepLabel.objects.create(assignment=a, step=step, rating=1))


def test_annotator_cannot_hold_two_assignments_for_one_solution():
    a = AssignmentFactory()
    _fails(lambda: AssignmentFactory(task=a.task, annotator=a.annotator))
    AssignmentFactory(task=a.task, annotator=UserFactory())  # another annotator may


def test_problem_unique_per_source_and_step_unique_index():
    sol = SolutionFactory(steps=["a"])
    from labeling.models import Problem, Step

    _fails(lambda: Problem.objects.create(source=sol.problem.source, source_id=sol.problem.source_id, text="x"))
    _fails(lambda: Step.objects.create(solution=sol, index=0, text="dup"))


@pytest.mark.parametrize(
    "changes", [{"overlap": 0}, {"qc_rate": 1.5}, {"lease_minutes": 0}, {"mode": "whatever"}]
)
def test_campaign_settings_are_checked(changes):
    c = CampaignFactory()
    for k, v in changes.items():
        setattr(c, k, v)
    _fails(c.save)


def test_assignment_status_invariants():
    task = TaskFactory()
    _fails(lambda: Assignment.objects.create(campaign=task.campaign, task=task, solution=task.solution,
                                             annotator=UserFactory(), status="submitted"))
    _fails(lambda: Assignment.objects.create(campaign=task.campaign, task=task, solution=task.solution,
                                             annotator=UserFactory(), status="leased", lease_expires_at=None))
    _fails(lambda: Assignment.objects.create(campaign=task.campaign, task=task, solution=task.solution,
                                             annotator=UserFactory(), status="submitted",
                                             submitted_at=timezone.now(), finish_reason="bored"))


def test_campaign_defaults_describe_a_usable_campaign():
    c = Campaign.objects.create(slug="x", name="X")
    assert (c.mode, c.overlap, c.show_ground_truth, c.lease_minutes) == ("first_error", 1, True, 30)

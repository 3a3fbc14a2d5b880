import pytest

from labeling.models import Campaign, Membership
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import membership_set
from labeling.services.quality import gold_set
from labeling.services.submissions import RatingIn, assignment_submit
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory

FIVE = ["Let x = 2.", "Then $x^2 = 4$.", "So 4 + 1 = 5.", "Hence 10.", "# Answer\n\n10"]


def label(user, campaign, ratings, **kw):
    """Lease the user's next task and submit `ratings` (a list, -1 ends in first-error mode)."""
    import uuid

    a = assignment_next(user=user, campaign=campaign, rng=kw.pop("rng", None))
    assert a is not None, "nothing left to label"
    n = a.solution.steps.count()
    ratings = ratings(a) if callable(ratings) else ratings
    pairs = [(i, r) for i, r in enumerate(ratings[:n])]
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                             ratings=[RatingIn(step=i, rating=r) for i, r in pairs], active_ms=5000 * len(pairs), **kw)


@pytest.fixture
def dash_world(db):
    """A first-error campaign (overlap 2, no random QC) with a manager, three annotators and five tasks."""
    return dash_world_build()


def dash_world_build() -> dict:
    """The rows of `dash_world`, for a fixture of a wider scope to build once."""
    campaign = CampaignFactory(mode=Campaign.Mode.FIRST_ERROR, overlap=2, qc_rate=0)
    manager = UserFactory(username="boss", is_staff=True)
    membership_set(campaign=campaign, user=manager, role=Membership.Role.MANAGER)
    annotators = []
    for name in ("ann", "ben", "cat"):
        u = UserFactory(username=name)
        membership_set(campaign=campaign, user=u)
        annotators.append(u)
    tasks = [TaskFactory(campaign=campaign, solution=SolutionFactory(steps=FIVE), priority=10 - i) for i in range(5)]
    return {"campaign": campaign, "manager": manager, "annotators": annotators, "tasks": tasks}


@pytest.fixture
def gold_task(dash_world):
    c = dash_world["campaign"]
    sol = SolutionFactory(steps=FIVE, answer_is_correct=False)
    return gold_set(campaign=c, solution=sol, ratings=[1, 1, -1])

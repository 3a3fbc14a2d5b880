import pytest

from active_learning.prm.data import heldout_split
from active_learning.services.datasets import majority, training_examples
from labeling.models import Assignment
from tests.active_learning.conftest import label
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_majority_breaks_ties_towards_the_lower_rating():
    assert majority([[1, 1, -1], [1, 0, None], [1, -1, None]]) == [1, -1, -1]
    assert majority([[1, 1], [1, -1]]) == [1, -1]
    assert majority([[None, 1], [None, 0]]) == [None, 0]


def test_examples_aggregate_annotators_cut_after_first_error_and_skip_bad_problems():
    campaign = CampaignFactory(overlap=3)
    sol = SolutionFactory(steps=["a", "b", "c"], answer_is_correct=False)
    task = TaskFactory(campaign=campaign, solution=sol)
    for ratings in ([1, -1, None], [1, 1, -1], [1, -1, None]):
        label(task, UserFactory(), ratings)
    other = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["x"]))
    a = label(other, UserFactory(), [1])
    Assignment.objects.filter(pk=a.pk).update(finish_reason="bad_problem")

    examples, counts = training_examples(campaign=campaign, neutral="positive", aggregation="majority")
    assert len(examples) == 1
    assert examples[0].labels == (1, 0, None)  # majority says step 1 is the first error
    assert examples[0].answer_correct is False
    assert counts["assignments"] == 3 and counts["negative_steps"] == 1

    each, counts = training_examples(campaign=campaign, neutral="positive", aggregation="each")
    assert sorted(ex.labels for ex in each) == [(1, 0, None), (1, 0, None), (1, 1, 0)]


def test_neutral_mapping_reaches_the_examples():
    campaign = CampaignFactory()
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["a", "b", "c"]))
    label(task, UserFactory(), [1, 0, 1])
    for neutral, expected in [("positive", (1, 1, 1)), ("negative", (1, 0, None)), ("ignore", (1, None, 1))]:
        examples, _ = training_examples(campaign=campaign, neutral=neutral, aggregation="majority")
        assert examples[0].labels == expected


def test_heldout_split_is_by_problem_and_stable():
    from active_learning.prm.data import SolutionExample

    ex = [SolutionExample("p", ("a",), (1,), group=str(i % 40)) for i in range(200)]
    train, test = heldout_split(ex, 0.25)
    assert {e.group for e in train}.isdisjoint({e.group for e in test})
    assert 0.1 < len(test) / len(ex) < 0.45
    assert heldout_split(ex, 0.25) == (train, test)

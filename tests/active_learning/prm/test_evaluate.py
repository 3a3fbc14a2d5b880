import pytest

from active_learning.prm.data import SolutionExample
from active_learning.prm.evaluate import metrics_from_scores


def test_metrics_from_scores_by_hand():
    examples = [
        SolutionExample("p1", ("a", "b"), (1, 0), group="1", answer_correct=False, answer="3"),
        SolutionExample("p1", ("a", "b"), (1, 1), group="1", answer_correct=True, answer="4"),
        SolutionExample("p2", ("a",), (None,), group="2", answer_correct=True, answer="5"),
    ]
    probs = [(0.9, 0.2), (0.8, 0.7), (0.6,)]
    scores = [0.18, 0.56, 0.6]
    m = metrics_from_scores(examples, probs, scores)
    # Steps: positives 0.9, 0.8, 0.7 all above the one negative 0.2.
    assert m["step_auroc"] == 1.0
    assert m["labeled_steps"] == 4
    # First errors: predicted [1, -1] vs actual [1, -1]: both right.
    assert m["first_error_f1"] == 1.0
    assert m["solution_auroc"] == 1.0
    # "3" and "4" tie: majority is a coin flip between them; weighted by score, "4" (0.56) wins.
    assert m["best_of_n"] == {"problems": 1, "prm": 1.0, "random": 0.5, "majority": pytest.approx(0.5),
                              "weighted": 1.0}
    # What each AUROC rests on: 3 correct and 1 wrong step; 2 right answers and 1 wrong.
    assert m["support"] == {"step_auroc": [3, 1], "solution_auroc": [2, 1]}

import itertools

import pytest

from active_learning.prm.metrics import auroc, best_of_n, ece, first_error_f1, predicted_first_error


def _auroc_by_pairs(labels, scores):
    """Independent computation: the share of (pos, neg) pairs ranked right, ties 1/2."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize(
    ("labels", "scores"),
    [
        ([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1]),
        ([1, 0, 1, 0, 1], [0.5, 0.5, 0.7, 0.2, 0.5]),
        ([0, 0, 1, 1, 0, 1], [0.1, 0.9, 0.9, 0.3, 0.3, 0.6]),
    ],
)
def test_auroc_matches_pairwise_count(labels, scores):
    assert auroc(labels, scores) == pytest.approx(_auroc_by_pairs(labels, scores))


def test_auroc_extremes_and_undefined():
    assert auroc([1, 0], [0.9, 0.1]) == 1.0
    assert auroc([1, 0], [0.1, 0.9]) == 0.0
    assert auroc([1, 1], [0.1, 0.9]) is None


def test_ece_hand_computed():
    # bin [0.9,1.0): probs 0.9, 0.9 with labels 1, 0 -> |1.8 - 1| / 4 = 0.2
    # bin [0.1,0.2): probs 0.1, 0.1 with labels 0, 0 -> |0.2 - 0| / 4 = 0.05
    assert ece([1, 0, 0, 0], [0.9, 0.9, 0.1, 0.1]) == pytest.approx(0.25)
    assert ece([], []) is None


def test_first_error_prediction_and_f1():
    assert predicted_first_error([0.9, 0.8, 0.3, 0.9]) == 2
    assert predicted_first_error([0.9, 0.8]) == -1
    scores = first_error_f1(predicted=[2, 1, -1, -1, 0], actual=[2, 3, -1, -1, -1])
    assert scores.error_accuracy == 0.5 and scores.correct_accuracy == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert first_error_f1([1], [1]).f1 is None  # no correct samples


def test_best_of_n_against_random_and_majority():
    groups = {
        "p1": [(0.9, True, "18"), (0.2, False, "26"), (0.1, False, "26")],
        "p2": [(0.3, False, "7"), (0.8, True, "9"), (0.5, True, "9")],
        "p3": [(0.9, True, "1")],  # single candidate: skipped
    }
    r = best_of_n(groups)
    assert r.problems == 2
    assert r.prm == 1.0
    assert r.random == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert r.majority == 0.5
    # p1: two low-scored "26" (wrong) outvote "18" in plain majority, not once weighted by score (0.3 < 0.9);
    # p2: "9" wins either way.
    assert r.weighted == 1.0
    # A truncated candidate (no answer) does not vote; with no answers at all there is no majority.
    blanks = best_of_n({"p": [(0.1, True, "9"), (0.2, False, ""), (0.3, False, "")],
                        "q": [(0.1, False, ""), (0.2, True, "")]})
    assert blanks.majority == 0.5 and blanks.prm == 0.5
    assert best_of_n({"q": [(0.1, False, ""), (0.2, True, "")]}).majority is None


def test_best_of_n_ties_do_not_depend_on_candidate_order():
    """A tie is worth the expected accuracy of a uniform pick among the tied, so reordering a
    problem's candidates (the real file lists them weakest generator first) changes nothing."""
    cands = [(0.5, False, "1"), (0.5, True, "2"), (0.2, False, "3"), (0.2, True, "2"), (0.7, False, "1")]
    # Votes: "1" x2, "2" x2 (tie, one right) -> 0.5. Mass: "1" 1.2, "2" 0.7 -> wrong. Top score 0.7 -> wrong.
    # A constant-score model gets the random pick's accuracy, not the first candidate's.
    for order in (cands, cands[::-1], cands[2:] + cands[:2]):
        r = best_of_n({"p": order, "q": [(0.3, False, "5"), (0.3, True, "6"), (0.3, True, "6")]})
        assert r.majority == pytest.approx((0.5 + 1.0) / 2)
        assert r.weighted == pytest.approx((0.0 + 1.0) / 2)
        assert r.prm == pytest.approx((0.0 + 2 / 3) / 2)

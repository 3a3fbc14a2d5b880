"""Bootstrap intervals over problems, outcome labels from verdicts, and the real GSM8K solutions reader."""

import json

import pytest

from active_learning.evalsets import eval_examples
from active_learning.prm.bootstrap import _metrics, _problems, bootstrap_intervals
from active_learning.prm.data import SolutionExample, outcome_examples
from active_learning.prm.formats import read_examples


def _ex(problem, correct, answer, labels=()):
    steps = ("a", "b", f"A: {answer}")
    return SolutionExample(problem=problem, steps=steps, labels=labels, group=problem, answer_correct=correct,
                           answer=answer)


def _set(n_problems=40):
    """Per problem: one right answer and three wrong ones, two of which agree (majority is wrong)."""
    exs = []
    for p in range(n_problems):
        exs += [_ex(f"p{p}", True, "4"), _ex(f"p{p}", False, "5"), _ex(f"p{p}", False, "5"),
                _ex(f"p{p}", False, "6")]
    return exs


def test_a_perfect_ranker_has_a_degenerate_interval_and_beats_majority():
    exs = _set()
    scores = [0.9 if ex.answer_correct else 0.1 for ex in exs]
    iv = bootstrap_intervals(exs, [()] * len(exs), scores, replicates=200)
    assert iv["problems"] == 40 and iv["replicates"] == 200
    assert iv["solution_auroc"] == {"value": 1.0, "lo": 1.0, "hi": 1.0}
    assert iv["best_of_n_prm"]["value"] == 1.0 and iv["best_of_n_majority"]["value"] == 0.0
    assert iv["best_of_n_gain"] == {"value": 1.0, "lo": 1.0, "hi": 1.0}
    assert "step_auroc" not in iv  # outcome-only data: no step labels, no step metric


def test_intervals_are_deterministic_contain_the_estimate_and_narrow_with_more_problems():
    import random

    rng = random.Random(3)
    small, big = _set(30), _set(300)

    def noisy(exs):
        return [min(1.0, max(0.0, (0.65 if ex.answer_correct else 0.45) + rng.gauss(0, 0.2))) for ex in exs]

    s_small, s_big = noisy(small), noisy(big)
    a = bootstrap_intervals(small, [()] * len(small), s_small, replicates=300, seed=7)
    b = bootstrap_intervals(small, [()] * len(small), s_small, replicates=300, seed=7)
    assert a == b
    m = a["solution_auroc"]
    assert m["lo"] < m["value"] < m["hi"]
    wide = m["hi"] - m["lo"]
    c = bootstrap_intervals(big, [()] * len(big), s_big, replicates=300, seed=7)["solution_auroc"]
    assert c["hi"] - c["lo"] < wide / 2  # 10x the problems: about a third of the width


def test_a_problem_drawn_twice_stays_two_problems():
    exs = _set(1)
    scores = [0.2, 0.9, 0.1, 0.3]  # the PRM picks a wrong answer
    (pr,) = _problems(exs, [()] * 4, scores, 0.5)
    twice = _metrics([pr, pr])
    assert twice["best_of_n_prm"] == 0.0 and twice["best_of_n_random"] == pytest.approx(0.25)


def test_step_metrics_get_intervals_when_steps_are_labeled():
    exs = [_ex(f"p{i}", i % 2 == 0, "4", labels=(1, 1, 1) if i % 2 == 0 else (1, 0, None)) for i in range(40)]
    probs = [(0.9, 0.8, 0.9) if i % 2 == 0 else (0.9, 0.2, 0.5) for i in range(40)]
    iv = bootstrap_intervals(exs, probs, [0.6 if i % 2 == 0 else 0.1 for i in range(40)], replicates=100)
    assert iv["step_auroc"]["value"] == 1.0 and iv["first_error_f1"]["value"] == 1.0
    assert 0 <= iv["ece"]["lo"] <= iv["ece"]["value"] <= iv["ece"]["hi"]


def test_outcome_labels_from_verdicts():
    exs = [_ex("p", True, "4"), _ex("p", False, "5"), _ex("q", None, "5"), _ex("r", False, "5", labels=(1, 0, None))]
    last = outcome_examples(exs, mode="last_step")
    assert [e.labels for e in last] == [(None, None, 1), (None, None, 0), (1, 0, None)]
    every = outcome_examples(exs, mode="all_steps")
    assert [e.labels for e in every] == [(1, 1, 1), (0, 0, 0), (1, 0, None)]  # step labels kept as they are
    with pytest.raises(ValueError, match="unknown outcome mode"):
        outcome_examples(exs, mode="soft")


def test_the_gsm8k_solutions_reader(tmp_path):
    rows = [{"question": "Q1?", "ground_truth": "x\nA: 4",
             "m1": {"is_correct": True, "solution": "2+2 = 4\nA: 4"},
             "m2": {"is_correct": False, "solution": "2*3 = 6\n\nA: 6"}},
            {"question": "Q2?", "ground_truth": "A: 1", "m1": {"is_correct": False, "solution": "so 2\nA: 2"}}]
    path = tmp_path / "sols.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    exs = read_examples(path)  # detected
    assert [(e.group, e.steps, e.answer, e.answer_correct) for e in exs] == [
        ("Q1?", ("2+2 = 4", "A: 4"), "4", True), ("Q1?", ("2*3 = 6", "A: 6"), "6", False),
        ("Q2?", ("so 2", "A: 2"), "2", False)]
    assert len({e.key for e in exs}) == 3 and all(e.labels == () for e in exs)


def test_the_bundled_real_set_and_held_out_problems():
    real = eval_examples("gsm8k-real")
    assert len(real) == 5276 and len({e.group for e in real}) == 1319
    # 11 solutions were cut off before their "A:" line: they have no answer to vote with.
    assert sum(e.answer_correct for e in real) == 2001 and sum(not e.answer for e in real) == 11
    first = real[0].problem
    assert len(eval_examples("gsm8k-real", exclude_problems={first})) == 5272
    with pytest.raises(KeyError, match="unknown evaluation set"):
        eval_examples("nope")

import random

import pytest

from active_learning.strategies import (
    STRATEGIES,
    Candidate,
    convincing_wrong,
    disagreement,
    ensemble,
    get_strategy,
    solution_score,
    uncertainty,
    uniform,
)


def _pool():
    # (task, problem, score, correct)
    rows = [
        (1, 1, 0.95, False), (2, 1, 0.90, False), (3, 1, 0.85, False),  # one problem, many convincing wrongs
        (4, 2, 0.80, False), (5, 3, 0.20, False), (6, 4, 0.99, True), (7, 5, 0.70, True),
        (8, 6, 0.60, None), (9, 7, 0.10, True),
    ]
    return [Candidate(task_id=t, problem_id=p, score=s, answer_correct=c) for t, p, s, c in rows]


def test_registry_names_every_strategy():
    assert set(STRATEGIES) == {"convincing_wrong", "uncertainty", "uniform", "ensemble"}
    assert get_strategy("uniform") is uniform
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("magic")


def test_convincing_wrong_ranks_high_scoring_wrong_answers_first_with_a_cap():
    sel = convincing_wrong(_pool(), k=5, wrong_fraction=0.8, per_problem_cap=2)
    assert len(sel) == 5
    wrong = [s.task_id for s in sel if s.reason == "convincing_wrong"]
    other = [s.task_id for s in sel if s.reason == "convincing_other"]
    assert wrong == [1, 2, 4, 5]  # task 3 is cut by the per-problem cap
    assert other == [6]  # the most convincing of the rest
    assert [s.rank for s in sel] == list(range(5))
    assert sel[0].task_id == 1


def test_convincing_wrong_fills_from_the_other_pool_when_one_runs_short():
    pool = [c for c in _pool() if c.answer_correct is not False]
    sel = convincing_wrong(pool, k=3)
    assert [s.task_id for s in sel] == [6, 7, 8]
    sel = convincing_wrong(_pool(), k=8, wrong_fraction=0.0, per_problem_cap=1)
    assert {s.task_id for s in sel} == {1, 4, 5, 6, 7, 8, 9}  # 7 problems, cap 1


def test_uncertainty_prefers_the_most_doubtful_step():
    pool = [
        Candidate(1, 1, 0.9, True, (0.99, 0.98)),
        Candidate(2, 2, 0.4, False, (0.99, 0.5)),
        Candidate(3, 3, 0.1, False, (0.05, 0.9)),
    ]
    assert [s.task_id for s in uncertainty(pool, k=3)] == [2, 3, 1]


def test_uniform_is_seeded_and_bounded():
    a = uniform(_pool(), k=4, rng=random.Random(1))
    b = uniform(_pool(), k=4, rng=random.Random(1))
    assert a == b and len({s.task_id for s in a}) == 4
    assert len(uniform(_pool(), k=50)) == 9


def test_solution_score_aggregations():
    assert solution_score([0.5, 0.5]) == 0.25
    assert solution_score([0.5, 0.9], how="min") == 0.5
    assert solution_score([0.9, 0.2, 0.7], how="last") == 0.7
    assert solution_score([0.9, 0.2, 0.7], how="mean") == pytest.approx(0.6)
    assert solution_score([]) == 0.0
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        solution_score([0.5], how="median")


def test_outcome_aggregates_do_not_punish_length():
    """An outcome model says about the same thing at every step; the product then ranks the
    shorter solution first, last and mean rank by the estimate itself."""
    short, long = [0.6, 0.6], [0.7] * 8
    assert solution_score(short) > solution_score(long)
    assert solution_score(long, how="last") > solution_score(short, how="last")
    assert solution_score(long, how="mean") > solution_score(short, how="mean")


def test_ensemble_ranks_by_disagreement_across_members_then_falls_back_to_entropy():
    sure_and_agreed = Candidate(1, 1, 0.9, False, step_scores=(0.9, 0.9), members=((0.9, 0.88), (0.91, 0.9)))
    one_step_split = Candidate(2, 2, 0.5, False, step_scores=(0.9, 0.2), members=((0.9, 0.8), (0.9, 0.5)))
    # Confidently wrong to a single model (low entropy) but the members disagree: ensemble picks it first.
    mild_split = Candidate(3, 3, 0.1, True, step_scores=(0.05,), members=((0.4,),))
    unseen_doubtful = Candidate(4, 4, 0.5, None, step_scores=(0.5,))
    unseen_sure = Candidate(5, 5, 0.99, True, step_scores=(0.99,))
    pool = [sure_and_agreed, one_step_split, mild_split, unseen_doubtful, unseen_sure]
    assert disagreement(one_step_split) == pytest.approx(0.06 ** 0.5)  # the second step: 0.2, 0.8, 0.5
    assert disagreement(unseen_doubtful) is None
    picks = ensemble(pool, k=5)
    assert [p.task_id for p in picks] == [2, 3, 1, 4, 5]
    assert [p.reason for p in picks] == ["ensemble_disagreement"] * 3 + ["uncertainty"] * 2
    assert picks[0].score == pytest.approx(disagreement(one_step_split))
    # The per-problem cap holds across both parts.
    twin = Candidate(6, 2, 0.5, False, step_scores=(0.1,), members=((0.9,),))
    assert [p.task_id for p in ensemble([one_step_split, twin, unseen_doubtful], k=3, per_problem_cap=1)] == [6, 4]

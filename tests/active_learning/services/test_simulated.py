import json

import pytest

from active_learning.oracle import LabeledOracle, as_submission, prm800k_ratings, reference_oracle, solution_key
from active_learning.services.simulated import annotators_simulate
from labeling.models import Assignment, StepLabel
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory, ProblemFactory, SolutionFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_reference_oracle_marks_the_first_unsupported_number():
    ref = "She has 16 - 3 = <<16-3=13>>13 eggs.\nShe makes 13 * 2 = $<<13*2=26>>26.\n#### 26"
    problem = "Ducks lay 16 eggs, she eats 3 and sells the rest at $2."
    right = ["16 - 3 = <<16-3=13>>13", "13 * 2 = <<13*2=26>>26"]
    assert reference_oracle(problem, right, answer_correct=True, reference=ref) == [1, 1]
    wrong = ["16 - 3 = <<16-3=13>>13", "13 + 2 = <<13+2=15>>15", "so 15"]
    assert reference_oracle(problem, wrong, answer_correct=False, reference=ref) == [1, -1]
    vague = ["she sells them", "for money"]
    assert reference_oracle(problem, vague, answer_correct=False, reference=ref) == [1, -1]


def test_submission_follows_the_mode():
    assert as_submission([1, -1, 1], first_error=True) == [(0, 1), (1, -1)]
    assert as_submission([1, -1, 1], first_error=False) == [(0, 1), (1, -1), (2, 1)]
    assert as_submission([1, None, 1], first_error=False) == [(0, 1)]
    # all-steps with the oracle's first error only: the error carries forward to every later step
    assert as_submission([1, -1], first_error=False, n_steps=4) == [(0, 1), (1, -1), (2, -1), (3, -1)]
    assert as_submission([1, 1], first_error=False, n_steps=4) == [(0, 1), (1, 1)]  # incomplete: not guessed


def test_labeled_oracle_reads_real_prm800k_records(prm800k_records_path):
    oracle = LabeledOracle.from_file(prm800k_records_path)
    assert len(oracle.table) == 12
    assert all(r in (-1, 0, 1, None) for ratings in oracle.table.values() for r in ratings)


def test_labeled_oracle_keeps_the_first_error_of_real_phase2_records(prm800k_records_path):
    # Real phase-2 records leave chosen_completion null on the -1 step that
    # ends the label; the oracle must still see that error.
    records = [json.loads(line) for line in prm800k_records_path.read_text().splitlines()]
    phase2 = [r for r in records if r["question"].get("pre_generated_steps")]
    assert len(phase2) == 9
    for rec in phase2:
        problem, steps, ratings = prm800k_ratings(rec)
        labeled = len(rec["label"]["steps"])
        assert steps == rec["question"]["pre_generated_steps"]
        assert ratings[labeled - 1] == -1 and -1 not in ratings[: labeled - 1]
        assert ratings[labeled:] == [None] * (len(steps) - labeled)


def test_labeled_oracle_follows_the_labelers_path_in_phase1_records(prm800k_records_path):
    records = [json.loads(line) for line in prm800k_records_path.read_text().splitlines()]
    phase1 = [r for r in records if not r["question"].get("pre_generated_steps")]
    assert [r["label"]["finish_reason"] for r in phase1] == ["solution", "give_up", "solution"]
    for rec in phase1:
        _, steps, ratings = prm800k_ratings(rec)
        # Solved paths hold no error: rejected alternatives are not the path.
        assert -1 not in ratings
        for text, step in zip(steps, rec["label"]["steps"], strict=False):
            chosen = step["chosen_completion"]
            if chosen is not None:
                assert text == step["completions"][chosen]["text"]
            elif step["human_completion"]:
                assert text == step["human_completion"]["text"]


def test_oracle_ratings_equal_what_the_import_stores(prm800k_records_path):
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=prm800k_records_path)
    oracle = LabeledOracle.from_file(prm800k_records_path)
    compared = 0
    for a in Assignment.objects.filter(campaign=campaign).select_related("solution__problem"):
        steps = list(a.solution.steps.order_by("index").values_list("text", flat=True))
        stored = dict(StepLabel.objects.filter(assignment=a).values_list("step__index", "rating"))
        expected = oracle(a.solution.problem.text, steps)
        assert expected is not None
        assert [expected[i] for i in sorted(stored)] == [stored[i] for i in sorted(stored)]
        compared += 1
    assert compared == 12


def test_simulated_annotators_label_through_the_real_services():
    campaign = CampaignFactory(mode="first_error", overlap=2)
    tasks = []
    for i in range(4):
        sol = SolutionFactory(problem=ProblemFactory(text=f"p{i}"), steps=["a", "b", "c"],
                              answer_is_correct=i % 2 == 0)
        tasks.append(TaskFactory(campaign=campaign, solution=sol))
    table = {solution_key(f"p{i}", ["a", "b", "c"]): ([1, 1, 1] if i % 2 == 0 else [1, -1, 1]) for i in range(3)}
    result = annotators_simulate(campaign=campaign, oracle=LabeledOracle(table), annotators=2, count=100)
    # 3 known solutions x overlap 2; the unknown one is skipped by both annotators.
    assert result == {"submitted": 6, "skipped": 2, "annotators": 2}
    subs = Assignment.objects.filter(campaign=campaign, status="submitted")
    assert subs.values("annotator").distinct().count() == 2
    wrong = subs.filter(solution__answer_is_correct=False).first()
    assert list(StepLabel.objects.filter(assignment=wrong).order_by("step__index").values_list("rating", flat=True)) \
        == [1, -1]  # first-error mode stops at the error
    assert wrong.finish_reason == "found_error"
    # The count is a ceiling, and pacing calls the injected sleep.
    naps = []
    again = annotators_simulate(campaign=CampaignFactory(), oracle=LabeledOracle({}), annotators=1, count=1,
                                rate_per_minute=120, sleep=naps.append)
    assert again["submitted"] == 0 and naps == []


def test_simulated_annotators_rate_every_step_in_all_steps_campaigns():
    from active_learning.oracle import reference_oracle as oracle

    campaign = CampaignFactory(mode="all_steps", overlap=1, qc_rate=0)
    for i in range(4):
        sol = SolutionFactory(problem=ProblemFactory(text=f"Tom has {i} apples and buys 2. How many?"),
                              steps=[f"Tom has {i} apples.", f"He buys 2, so {i} + 2 = {i + 2 + (i % 2)}.",
                                     f"# Answer\n\n{i + 2 + (i % 2)}"], answer_is_correct=i % 2 == 0)
        TaskFactory(campaign=campaign, solution=sol)
    result = annotators_simulate(campaign=campaign, oracle=oracle, annotators=2, count=10)
    assert result == {"submitted": 4, "skipped": 0, "annotators": 2}
    for a in Assignment.objects.filter(campaign=campaign, status="submitted"):
        ratings = list(a.step_labels.order_by("step__index").values_list("rating", flat=True))
        assert ratings == ([1, 1, 1] if a.solution.answer_is_correct else [1, -1, -1])


def test_perturb_makes_first_error_style_slips():
    import random

    from active_learning.oracle import perturb

    rng = random.Random(3)
    clean = [1, 1, -1, None, None]
    assert perturb(clean, rng=rng, error_rate=0.0) == clean
    seen = set()
    for _ in range(200):
        out = perturb(clean, rng=rng, error_rate=1.0)
        assert len(out) == len(clean)
        if -1 not in out:
            assert out == [1, 1, 1, 1, 1]  # a missed error: the rest is rated fine, so the label is complete
        fe = next((i for i, r in enumerate(out) if r == -1), None)
        # Nothing is rated after the first error.
        assert fe is None or all(r is None for r in out[fe + 1:])
        seen.add(fe)
    assert seen == {1, 3, None}  # early, late, missed
    alarms = {tuple(perturb([1, 1, 1], rng=rng, error_rate=1.0)) for _ in range(100)}
    assert alarms == {(-1, None, None), (1, -1, None), (1, 1, -1)}
    # The oracle's short list (it stops at its error) is padded to the solution's length.
    assert len(perturb([1, -1], rng=rng, error_rate=1.0, n_steps=4)) == 4

import json

import pytest

from labeling.errors import ImportFailed, ValidationFailed
from labeling.models import Assignment, Problem, Profile, Solution, Step, StepAlternative, StepLabel, Task
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def _counts():
    return (Problem.objects.count(), Solution.objects.count(), Step.objects.count(), Task.objects.count(),
            Assignment.objects.count(), StepLabel.objects.count())


def test_gsm8k_demo_import_grades_and_agrees(demo_file):
    campaign = CampaignFactory()
    result = solutions_import(campaign=campaign, path=demo_file, fmt="gsm8k", batch_size=700)
    assert result.solutions_created == 5276
    assert result.problems_created == 1319
    assert result.tasks_created == 5276
    assert (result.graded_correct, result.graded_incorrect) == (2001, 3275)
    assert result.reference_verdicts == 5276 and result.reference_agreements == 5276
    assert "5276/5276 (100.00%)" in result.summary()
    sol = Solution.objects.filter(generator="175b_verification").order_by("id").first()
    assert sol.answer_is_correct is True and sol.grader_version.startswith("math-verify")
    assert list(sol.steps.values_list("index", flat=True)) == list(range(sol.steps.count()))
    # tasks are served in import order until active learning reprioritises them
    assert list(Task.objects.filter(campaign=campaign).values_list("queue_strategy", flat=True).distinct()) == [
        "import"
    ]


def test_reimport_creates_no_duplicates(demo_file, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(open(demo_file).readlines()[:20]))
    campaign = CampaignFactory()
    first = solutions_import(campaign=campaign, path=small)
    before = _counts()
    second = solutions_import(campaign=campaign, path=small)
    assert _counts() == before
    assert first.solutions_created == 80
    assert second.solutions_created == 0 and second.solutions_existing == 80 and second.tasks_created == 0
    # another campaign reuses the solutions but gets its own tasks
    third = solutions_import(campaign=CampaignFactory(), path=small)
    assert third.solutions_created == 0 and third.tasks_created == 80


def test_prm800k_import_creates_external_labelers_and_labels(prm800k_records_path):
    campaign = CampaignFactory()
    result = solutions_import(campaign=campaign, path=prm800k_records_path)
    assert result.format == "prm800k"
    assert result.assignments_created == 12
    records = [json.loads(line) for line in open(prm800k_records_path)]
    assert result.step_labels_created == sum(len(r["label"]["steps"]) for r in records)
    labelers = {r["labeler"] for r in records}
    profiles = Profile.objects.filter(is_external=True)
    assert {str(p.labeler_uid) for p in profiles} == labelers
    assert not any(p.user.has_usable_password() or p.user.is_active for p in profiles)
    a = Assignment.objects.get(extra__timestamp_raw=records[3]["timestamp"])
    assert a.status == "submitted" and a.source == "imported"
    assert a.finish_reason == "found_error" and a.active_ms == records[3]["label"]["total_time"]
    assert a.queue_generation == 6
    assert a.task.taken == 1 and a.task.completed == 1
    ratings = list(a.step_labels.order_by("step__index").values_list("rating", flat=True))
    assert ratings == [1, 0, 1, 1, 1, 1, -1]
    # the first negative step kept its 3 alternatives
    assert StepAlternative.objects.filter(assignment=a, kind="alternative").count() == 3
    # null ratings (phase 1, never rated) are stored as null
    assert StepLabel.objects.filter(rating__isnull=True).exists()


def test_prm800k_phase1_solution_is_the_path_the_labeler_took(prm800k_records_path):
    # Record 1 (phase 1, "solution"): the last step's chosen completion is 4, and
    # record 3 replaces a rejected completion with the labeler's own step.
    records = [json.loads(line) for line in open(prm800k_records_path)]
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=prm800k_records_path)
    for rec in (records[0], records[2]):
        a = Assignment.objects.get(extra__timestamp_raw=rec["timestamp"])
        labels = list(a.step_labels.order_by("step__index").select_related("step"))
        for label, step in zip(labels, rec["label"]["steps"], strict=True):
            chosen = step["chosen_completion"]
            on_path = step["completions"][chosen] if chosen is not None else step["human_completion"]
            assert label.step.text == on_path["text"]
            assert label.rating == on_path.get("rating")
        # A solved path: the rejected alternatives' -1 ratings are not the solution's.
        assert -1 not in [lab.rating for lab in labels]
        # The path ends in the labeler's final answer, which grades as correct.
        assert a.solution.answer_is_correct is True


def test_prm800k_conflicting_label_rolls_back_everything(prm800k_records_path, write_jsonl):
    rec = json.loads(open(prm800k_records_path).readlines()[4])
    again = json.loads(json.dumps(rec))
    again["timestamp"] = "2022-12-01T10:00:00.000001"
    path = write_jsonl([rec, again])
    campaign = CampaignFactory()
    with pytest.raises(ImportFailed, match="line 2: labeler .* already labeled this solution"):
        solutions_import(campaign=campaign, path=path)
    assert _counts() == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ({"ground_truth_answer": "1", "steps": ["a"]}, "missing field 'problem'"),
        ({"problem": "p", "ground_truth_answer": "1", "steps": []}, "'steps' must be a non-empty list"),
    ],
)
def test_malformed_solutions_line_imports_nothing_and_names_the_line(write_jsonl, bad_line, reason):
    good = {"problem": "What is 1+1?", "ground_truth_answer": "2", "steps": ["1+1=2", "# Answer\n\n2"]}
    path = write_jsonl([good, good | {"generator": "b"}, bad_line, good | {"generator": "c"}])
    with pytest.raises(ImportFailed) as exc:
        solutions_import(campaign=CampaignFactory(), path=path, fmt="solutions")
    assert exc.value.error_count == 1
    assert exc.value.errors[0][0] == 3
    assert reason in str(exc.value) and "line 3:" in str(exc.value)
    assert _counts() == (0, 0, 0, 0, 0, 0)


def test_rating_2_in_prm800k_imports_nothing(prm800k_records_path, write_jsonl):
    records = [json.loads(line) for line in open(prm800k_records_path)]
    records[7]["label"]["steps"][1]["completions"][0]["rating"] = 2
    path = write_jsonl(records)
    with pytest.raises(ImportFailed, match=r"line 8: 'label.steps\[1\].completions\[0\].rating' must be -1, 0, 1"):
        solutions_import(campaign=CampaignFactory(), path=path)
    assert _counts() == (0, 0, 0, 0, 0, 0)


def test_many_bad_lines_report_first_50_and_a_count(write_jsonl):
    path = write_jsonl(["{bad"] * 75)
    with pytest.raises(ImportFailed) as exc:
        solutions_import(campaign=CampaignFactory(), path=path, fmt="solutions")
    assert exc.value.error_count == 75
    assert len(exc.value.errors) == 50
    assert "... and 25 more invalid line(s)" in str(exc.value)


def test_unknown_fields_are_kept_in_metadata(write_jsonl):
    path = write_jsonl([{"problem": "p?", "ground_truth_answer": "3", "steps": ["x", "# Answer\n\n3"],
                         "temperature": 0.2, "metadata": {"run": 7}}])
    solutions_import(campaign=CampaignFactory(), path=path)
    sol = Solution.objects.get()
    assert sol.metadata == {"run": 7, "extra_fields": {"temperature": 0.2}}
    assert sol.answer_is_correct is True


def test_bad_arguments_are_clear_errors(tmp_path):
    campaign = CampaignFactory()
    with pytest.raises(ValidationFailed, match="no such file"):
        solutions_import(campaign=campaign, path=tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ValidationFailed, match="holds no records"):
        solutions_import(campaign=campaign, path=tmp_path / "empty.jsonl")
    with pytest.raises(ValidationFailed, match="unknown format"):
        solutions_import(campaign=campaign, path=tmp_path / "empty.jsonl", fmt="csv")

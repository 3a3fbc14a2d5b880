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


@pytest.mark.parametrize(("field", "value", "message"), [
    ("problem", "What is 1 + 1?\x00", "'problem' contains a NUL character"),
    ("metadata", {"note": "bad\x00byte"}, "'metadata.note' contains a NUL character"),
    ("metadata", {"k\x00": 1}, "'metadata key' contains a NUL character"),
    ("source", "s" * 65, "'problem source' is 65 characters long; at most 64"),
    ("problem_id", "p" * 129, "'problem_id' is 129 characters long; at most 128"),
    ("generator", "g" * 129, "'generator' is 129 characters long; at most 128"),
    ("level", "l" * 33, "'level' is 33 characters long; at most 32"),
    ("generation", 2**40, "'generation' 1099511627776 is out of range"),
])
def test_what_the_database_would_refuse_is_caught_in_the_first_pass_naming_the_line(write_jsonl, field, value,
                                                                                     message):
    from labeling.errors import ImportFailed
    from labeling.models import Problem

    good = {"problem": "What is 2 + 2?", "ground_truth_answer": "4", "steps": ["2 + 2 = 4.", "# Answer\n\n4"]}
    bad = {**good, "problem": "What is 3 + 3?", field: value} if field != "problem" else {**good, field: value}
    campaign = CampaignFactory()
    with pytest.raises(ImportFailed) as err:
        solutions_import(campaign=campaign, path=write_jsonl([good, bad]))
    assert err.value.errors == [(2, pytest.approx(err.value.errors[0][1]))] and message in err.value.errors[0][1]
    assert Problem.objects.count() == 0  # nothing written


def test_one_problem_id_with_two_texts_is_refused_naming_both_lines(write_jsonl):
    from labeling.errors import ImportFailed

    a = {"problem": "What is 2 + 2?", "ground_truth_answer": "4", "steps": ["4"], "problem_id": "p1"}
    b = {**a, "problem": "What is 3 + 3?", "ground_truth_answer": "6"}
    c = {**a, "ground_truth_answer": "5"}
    with pytest.raises(ImportFailed) as err:
        solutions_import(campaign=CampaignFactory(), path=write_jsonl([a, b, a, c]))
    assert [n for n, _ in err.value.errors] == [2, 4]
    assert "another text than on line 1" in err.value.errors[0][1]
    assert "another ground_truth_answer than on line 1" in err.value.errors[1][1]


def test_a_problem_id_already_stored_with_another_text_is_refused(write_jsonl):
    from labeling.errors import ImportFailed

    first = {"problem": "What is 2 + 2?", "ground_truth_answer": "4", "steps": ["4"], "problem_id": "p1"}
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=write_jsonl([first]))
    solutions_import(campaign=campaign, path=write_jsonl([first]))  # the same again: fine, idempotent
    with pytest.raises(ImportFailed, match="already stored with another text"):
        solutions_import(campaign=campaign, path=write_jsonl([{**first, "problem": "What is 5 + 5?"}]))


@pytest.mark.django_db(transaction=True)
def test_a_web_import_with_a_bad_line_fails_at_once_naming_it(write_jsonl, settings, tmp_path):
    from labeling.models import Job
    from labeling.services.jobs import import_job_create, import_job_run

    settings.IMPORT_UPLOAD_DIR = tmp_path
    line = b'{"problem": "What is 2 + 2?\\u0000", "ground_truth_answer": "4", "steps": ["4"]}\n'
    job = import_job_create(campaign=CampaignFactory(), filename="x.jsonl", chunks=iter([line]), user=None)
    job = import_job_run(job_id=job.pk)
    assert job.status == Job.Status.FAILED and "line 1: 'problem' contains a NUL character" in job.error
    assert not list(tmp_path.glob("*.jsonl"))  # the upload is removed

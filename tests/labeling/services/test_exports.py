import io
import json
import uuid

import orjson
import pytest

from labeling.errors import ValidationFailed
from labeling.models import StepAlternative
from labeling.services.exports import export_rows, labels_export
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory, submitted_labels

pytestmark = pytest.mark.django_db

STEPS = ["Let x = 2.", "Then 2x = 5.", "So x + 1 = 3.", "# Answer\n\n3"]


def _rows(campaign, fmt, **kw):
    return list(export_rows(campaign=campaign, fmt=fmt, **kw))


def test_prm800k_round_trip_is_exact_on_all_real_records(prm800k_records_path, tmp_path, settings):
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=prm800k_records_path)
    out = tmp_path / "export.jsonl"
    result = labels_export(campaign=campaign, fmt="prm800k", output=out)
    original = [json.loads(line) for line in open(prm800k_records_path)]
    exported = [json.loads(line) for line in open(out)]
    assert result.rows == 12
    assert exported == original


def test_prm800k_round_trip_keeps_unknown_fields(prm800k_records_path, write_jsonl):
    rec = json.loads(open(prm800k_records_path).readlines()[5])
    rec["vendor"] = {"batch": 3}
    rec["label"]["steps"][0]["completions"][0]["note"] = "checked"
    rec["label"]["steps"][2]["completions"][1]["note"] = "alt"
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=write_jsonl([rec]))
    assert _rows(campaign, "prm800k") == [rec]


def _native_campaign():
    campaign = CampaignFactory()
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS, final_answer="3",
                                                                   answer_is_correct=False))
    return campaign, task


def test_prm800k_export_of_native_labels_has_phase2_shape():
    campaign, task = _native_campaign()
    annotator = UserFactory()
    a = submitted_labels(task, annotator, [1, -1])
    StepAlternative.objects.create(assignment=a, step=task.solution.steps.get(index=1), kind="human",
                                   text="Then 2x = 4.", rating=None, flagged=False, source="human")
    [row] = _rows(campaign, "prm800k")
    assert row["labeler"] == str(annotator.profile.labeler_uid)
    assert row["question"]["pre_generated_steps"] == STEPS
    assert row["question"]["pre_generated_answer"] == "3"
    steps = row["label"]["steps"]
    assert [s["completions"][0]["rating"] for s in steps] == [1, -1]
    assert [s["chosen_completion"] for s in steps] == [0, None]
    assert steps[1]["human_completion"] == {"text": "Then 2x = 4.", "rating": None, "source": "human",
                                            "flagged": False}
    assert row["label"]["finish_reason"] == "found_error"
    assert row["timestamp"] == a.submitted_at.replace(tzinfo=None).isoformat(timespec="microseconds")


def test_re_importing_an_export_of_labels_made_in_this_app_skips_them(demo_file, write_jsonl):
    from labeling.errors import ImportFailed
    from labeling.models import Assignment, Problem, Solution, Task

    # GSM8K-imported solutions, labeled in the app: the export carries no source, only the problem text.
    campaign = CampaignFactory()
    lines = open(demo_file).readlines()[:8]
    solutions_import(campaign=campaign, path=write_jsonl([json.loads(line) for line in lines]))
    tasks = list(Task.objects.filter(campaign=campaign).order_by("pk")[:2])
    made = [submitted_labels(t, UserFactory(), [1] * t.solution.steps.count()) for t in tasks]
    counts = (Problem.objects.count(), Solution.objects.count(), Task.objects.count())
    rows = _rows(campaign, "prm800k")
    assert len(rows) == 2
    result = solutions_import(campaign=campaign, path=write_jsonl(rows))
    assert (result.assignments_existing, result.assignments_created, result.problems_created) == (2, 0, 0)
    assert (Problem.objects.count(), Solution.objects.count(), Task.objects.count()) == counts
    assert sorted(Assignment.objects.filter(campaign=campaign).values_list("pk", flat=True)) == [a.pk for a in made]
    assert _rows(campaign, "prm800k") == rows
    # Another label by the same person on the same solution is still refused, naming when theirs was made.
    rows[0]["timestamp"] = "2020-01-01T00:00:00"
    with pytest.raises(ImportFailed, match=r"already labeled this solution .* in this app \(submitted 20"):
        solutions_import(campaign=campaign, path=write_jsonl(rows))
    assert Assignment.objects.filter(campaign=campaign).count() == 2


@pytest.mark.parametrize("source", ["prm800k_records", "math_demo"])
def test_labels_made_in_this_app_on_prm800k_solutions_come_back_as_themselves(source, prm800k_records_path,
                                                                             write_jsonl):
    """Phase-1 solutions too: our export writes them in the phase-2 shape, under another stand-in generator."""
    from pathlib import Path

    from labeling.models import Assignment, Problem, Solution, Task

    path = prm800k_records_path if source == "prm800k_records" else (
        Path(__file__).resolve().parents[3] / "labeling" / "demo_data" / "prm800k_math_solutions.jsonl")
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=path)
    phase1 = Task.objects.filter(campaign=campaign, solution__generator="prm800k-phase1").order_by("pk").first()
    phase2 = Task.objects.filter(campaign=campaign, solution__generator="prm800k-phase2").order_by("pk").first()
    native = UserFactory()
    for t in (phase1, phase2):
        submitted_labels(t, native, [1] * t.solution.steps.count())
    counts = (Problem.objects.count(), Solution.objects.count(), Task.objects.count(), Assignment.objects.count())
    rows = _rows(campaign, "prm800k")
    result = solutions_import(campaign=campaign, path=write_jsonl(rows))
    assert (result.assignments_created, result.problems_created, result.solutions_created) == (0, 0, 0)
    assert result.assignments_existing == len(rows)
    assert (Problem.objects.count(), Solution.objects.count(), Task.objects.count(),
            Assignment.objects.count()) == counts


def test_a_step_match_prefers_the_solution_this_campaign_queues(write_jsonl):
    from labeling.models import Assignment, Solution

    campaign = CampaignFactory()
    lines = [{"problem": "What is 1 + 1?", "ground_truth_answer": "2", "steps": ["1 + 1 = 2.", "# Answer\n\n2"],
              "generator": g} for g in ("model-a", "model-b")]
    solutions_import(campaign=CampaignFactory(), path=write_jsonl(lines[:1]))  # same steps, another campaign
    solutions_import(campaign=campaign, path=write_jsonl(lines[1:]))
    ours = Solution.objects.get(generator="model-b")
    submitted_labels(campaign.tasks.get(), UserFactory(), [1, 1])
    rows = _rows(campaign, "prm800k")
    result = solutions_import(campaign=campaign, path=write_jsonl(rows))
    assert (result.assignments_existing, result.assignments_created, result.solutions_created) == (1, 0, 0)
    assert list(Assignment.objects.filter(campaign=campaign).values_list("solution_id", flat=True)) == [ours.pk]


def test_trl_stops_at_first_negative_and_maps_neutral():
    campaign, task = _native_campaign()
    submitted_labels(task, UserFactory(), [1, 0, -1, 1], finish_reason="found_error")
    [row] = _rows(campaign, "trl")
    assert row == {"prompt": task.solution.problem.text, "completions": STEPS[:3], "labels": [True, True, False]}
    [row] = _rows(campaign, "trl", neutral_is_correct=False)
    assert row["labels"] == [True, False, False]


def test_processbench_label_is_first_negative_or_minus_one():
    campaign = CampaignFactory()
    t1 = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS))
    t2 = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS))
    t3 = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS))
    submitted_labels(t1, UserFactory(), [1, -1])
    submitted_labels(t2, UserFactory(), [1, 1, 0, 1])
    submitted_labels(t3, UserFactory(), [1, 1], finish_reason="give_up")  # neither: skipped
    stats = {}
    rows = list(export_rows(campaign=campaign, fmt="processbench", stats=stats))
    assert [r["label"] for r in rows] == [1, -1]
    assert rows[0]["steps"] == STEPS and rows[0]["final_answer_correct"] is True
    assert set(rows[0]) == {"id", "generator", "problem", "steps", "final_answer_correct", "label", "error_types"}
    assert stats == {"rows": 2, "skipped": 1,
                     "skipped_reasons": {"labeled neither to a first error nor to the end": 1}}


def test_majority_aggregation_ties_go_to_the_lower_rating():
    campaign, task = _native_campaign()
    submitted_labels(task, UserFactory(), [1, 1, 1, 1])
    submitted_labels(task, UserFactory(), [1, -1])
    submitted_labels(task, UserFactory(), [1, 1, 0, 1])
    # per annotator: three rows; by default one row per solution
    assert len(_rows(campaign, "processbench", aggregate="none")) == 3
    assert _rows(campaign, "processbench") == _rows(campaign, "processbench", aggregate="majority")
    [row] = _rows(campaign, "processbench", aggregate="majority")
    assert row["label"] == -1  # step 1: two say +1, one says -1
    [trl] = _rows(campaign, "trl", aggregate="majority")
    assert trl["labels"] == [True, True, True, True]

    campaign2, task2 = _native_campaign()
    submitted_labels(task2, UserFactory(), [1, 1, 1, 1])
    submitted_labels(task2, UserFactory(), [1, -1])
    [row] = _rows(campaign2, "processbench", aggregate="majority")
    assert row["label"] == 1  # a 1-1 tie is an error


def test_bad_problem_labels_are_not_training_data():
    campaign, task = _native_campaign()
    submitted_labels(task, UserFactory(), [1, 1, 1, 1], finish_reason="bad_problem")
    assert _rows(campaign, "trl") == []
    assert len(_rows(campaign, "prm800k")) == 1  # the raw record still exports


def test_export_order_is_by_solution_and_stable():
    campaign = CampaignFactory()
    tasks = [TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS)) for _ in range(7)]
    for task in reversed(tasks):  # labeled in the reverse of the solutions' order
        submitted_labels(task, UserFactory(), [1, 1, 1, 1])
    whole = _rows(campaign, "processbench", aggregate="majority")
    assert [r["id"] for r in whole] == [f"{campaign.slug}-{t.solution_id}" for t in tasks]
    assert _rows(campaign, "processbench", aggregate="majority") == whole


def test_export_to_stream_and_invalid_options():
    campaign, task = _native_campaign()
    submitted_labels(task, UserFactory(), [1, 1, 1, 1])
    buf = io.BytesIO()
    result = labels_export(campaign=campaign, fmt="trl", stream=buf)
    assert result.rows == 1 and orjson.loads(buf.getvalue().splitlines()[0])["labels"] == [True] * 4
    with pytest.raises(ValidationFailed, match="one line per labeler"):
        labels_export(campaign=campaign, fmt="prm800k", aggregate="majority", stream=buf)
    with pytest.raises(ValidationFailed, match="unknown export format"):
        labels_export(campaign=campaign, fmt="csv", stream=buf)


def test_file_export_is_atomic(tmp_path, monkeypatch):
    campaign, task = _native_campaign()
    submitted_labels(task, UserFactory(), [1, 1, 1, 1])
    out = tmp_path / "labels.jsonl"
    out.write_text("previous export\n")

    def boom(*args, **kwargs):
        yield {"partial": True}
        raise RuntimeError("database went away")

    monkeypatch.setattr("labeling.services.exports.export_rows", boom)
    with pytest.raises(RuntimeError):
        labels_export(campaign=campaign, fmt="trl", output=out)
    assert out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.jsonl"]


def test_app_labels_export_the_generation_and_score_of_the_queue_they_were_served_from(write_jsonl):
    from labeling.models import Task
    from labeling.services.assignments import assignment_next
    from labeling.services.submissions import RatingIn, assignment_submit
    from tests.factories import MembershipFactory

    campaign = CampaignFactory(qc_rate=0)
    lines = [{"problem": "What is 1 + 1?", "ground_truth_answer": "2", "steps": ["1 + 1 = 2.", "# Answer\n\n2"]},
             {"problem": "What is 2 + 2?", "ground_truth_answer": "4", "steps": ["2 + 2 = 4.", "# Answer\n\n4"],
              "generation": 6, "score": 0.81}]
    solutions_import(campaign=campaign, path=write_jsonl(lines))
    # a third task re-queued by a model (what the active-learning refill writes)
    queued = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS), priority=-1,
                         queue_strategy="convincing_wrong", queue_generation=3, queue_score=0.93)
    user = MembershipFactory(campaign=campaign).user
    while (a := assignment_next(user=user, campaign=campaign)) is not None:
        n = a.solution.steps.count()
        assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                          ratings=[RatingIn(step=i, rating=1) for i in range(n)])
    by_problem = {r["question"]["problem"]: r for r in _rows(campaign, "prm800k")}
    assert by_problem["What is 1 + 1?"]["generation"] == 0  # imported without one: generation 0, not null
    assert by_problem["What is 1 + 1?"]["question"]["pre_generated_verifier_score"] is None  # truly unknown
    assert by_problem["What is 2 + 2?"]["generation"] == 6
    assert by_problem["What is 2 + 2?"]["question"]["pre_generated_verifier_score"] == 0.81
    third = by_problem[queued.solution.problem.text]
    assert (third["generation"], third["question"]["pre_generated_verifier_score"]) == (3, 0.93)
    assert set(Task.objects.filter(campaign=campaign).values_list("queue_generation", flat=True)) == {0, 6, 3}

"""The training formats (math_shepherd, openrlhf, rlhflow, hf-dataset, trl alternatives), their
defaults, the export filters, and the round trips through the trl / processbench / math_shepherd
importers."""

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from labeling.errors import ValidationFailed
from labeling.exporting.filters import export_filters_parse
from labeling.models import Assignment, StepLabel
from labeling.services.exports import ExportOptions, export_options_parse, export_rows, labels_export
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory, ProblemFactory, SolutionFactory, TaskFactory, UserFactory, submitted_labels

pytestmark = pytest.mark.django_db

STEPS = ["Let x = 2.", "Then 2x = 5.", "So x + 1 = 3.", "# Answer\n\n3"]


def _rows(campaign, fmt, **kw):
    return list(export_rows(campaign=campaign, fmt=fmt, **kw))


def _campaign():
    """Three solutions of three problems: one right to the end (with a neutral step), one wrong at
    step 2, one whose only labeler gave up after one step."""
    campaign = CampaignFactory(slug="tf", overlap=2)
    tasks = []
    for i in range(3):
        problem = ProblemFactory(text=f"What is {i} + {i}?", ground_truth_answer=str(2 * i))
        tasks.append(TaskFactory(campaign=campaign, solution=SolutionFactory(problem=problem, steps=STEPS,
                                                                              answer_is_correct=i == 0)))
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    submitted_labels(tasks[0], alice, [1, 0, 1, 1])
    submitted_labels(tasks[1], alice, [1, -1])
    submitted_labels(tasks[1], bob, [1, -1])
    submitted_labels(tasks[2], bob, [1], finish_reason="give_up")
    return campaign, tasks


def test_training_formats_default_to_one_row_per_solution():
    campaign, _ = _campaign()
    assert len(_rows(campaign, "trl")) == 3  # majority by default: solution 2's two labelings are one row
    assert len(_rows(campaign, "trl", aggregate="none")) == 4
    assert len(_rows(campaign, "prm800k")) == 4  # a line per labeling by nature
    for opts in ({"aggregate": "majority"}, {"aggregate": None}):
        assert len(_rows(campaign, "math_shepherd", **opts)) == 3
    with pytest.raises(ValidationFailed, match="one line per labeler"):
        _rows(campaign, "critique", aggregate="majority")


def test_math_shepherd_openrlhf_and_rlhflow_rows_stop_at_the_first_error():
    campaign, _ = _campaign()
    ms = _rows(campaign, "math_shepherd")
    assert ms[0]["input"] == ("What is 0 + 0? Step 1: Let x = 2. ки\nStep 2: Then 2x = 5. ки\n"
                              "Step 3: So x + 1 = 3. ки\nStep 4: # Answer\n\n3 ки")
    assert ms[0]["label"] == ms[0]["input"].replace("ки", "+")  # neutral counts as correct by default
    assert ms[1]["input"].count("ки") == 2 and ms[1]["label"].endswith("Step 2: Then 2x = 5. -")
    strict = _rows(campaign, "math_shepherd", neutral_is_correct=False)
    assert strict[0]["label"].split("\n")[1] == "Step 2: Then 2x = 5. -"
    orl = _rows(campaign, "openrlhf")
    assert [r["value"] for r in orl] == [["+", "+", "+", "+"], ["+", "-"], ["+"]]
    assert orl[1]["input"] == ms[1]["input"]
    flow = _rows(campaign, "rlhflow")
    assert flow[1]["conversations"] == [
        {"role": "user", "content": "What is 1 + 1?\n\nLet x = 2."}, {"role": "assistant", "content": "+"},
        {"role": "user", "content": "Then 2x = 5."}, {"role": "assistant", "content": "-"},
    ]


def test_a_step_holding_the_tag_is_skipped_and_counted():
    campaign = CampaignFactory()
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["x ки y", "done"]))
    submitted_labels(task, UserFactory(), [1, 1])
    stats = {}
    assert _rows(campaign, "math_shepherd", stats=stats) == []
    assert stats["skipped_reasons"] == {"the text holds the step tag ки": 1}


def test_processbench_never_writes_a_null_verdict():
    campaign, tasks = _campaign()
    tasks[2].solution.__class__.objects.filter(pk=tasks[1].solution_id).update(answer_is_correct=None)
    stats = {}
    rows = _rows(campaign, "processbench", stats=stats)
    assert [r["label"] for r in rows] == [-1]
    assert all(isinstance(r["final_answer_correct"], bool) for r in rows)
    assert stats["skipped_reasons"] == {"final answer not graded": 1,
                                        "labeled neither to a first error nor to the end": 1}


def _rated_alternatives(record) -> int:
    """Rated completions other than the path's, at steps whose path so far has no wrong or unrated
    step (a labeler's own written step counts as correct), each distinct (step, text) once."""
    pre = record["question"].get("pre_generated_steps")
    ok, seen = True, set()
    for i, step in enumerate(record["label"]["steps"]):
        chosen, human = step["chosen_completion"], step["human_completion"]
        if pre is not None:
            text, rating = pre[i], step["completions"][0]["rating"]
        elif chosen is not None:
            text, rating = step["completions"][chosen]["text"], step["completions"][chosen]["rating"]
        elif human:
            text, rating = human["text"], 1
        else:
            text, rating = None, None
        if ok:
            seen |= {(i, c["text"]) for c in step["completions"] if c["rating"] is not None and c["text"] != text}
        ok = ok and rating not in (None, -1)
    return len(seen)


def test_trl_writes_a_row_for_each_rated_phase1_alternative(prm800k_records_path):
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=prm800k_records_path)
    plain = _rows(campaign, "trl", options=ExportOptions(fmt="trl", aggregate="none", alternatives=False))
    rows = _rows(campaign, "trl", aggregate="none")
    assert len(plain) == 11  # the 12 records less one whose first step is unrated
    records = [json.loads(line) for line in open(prm800k_records_path)]
    expected = sum(_rated_alternatives(r) for r in records)
    assert expected == 149
    # With alternatives, a phase-1 step the labeler wrote counts as correct, so all 12 paths are rows.
    assert len(rows) == 12 + expected
    # An alternative row: a correct prefix of the labeler's path, then the alternative with its own label.
    alts = {(rec["question"]["problem"], c["text"]): c["rating"]
            for rec in records for s in rec["label"]["steps"] for c in s["completions"] if c["rating"] is not None}
    checked = 0
    for row in rows:
        key = (row["prompt"], row["completions"][-1])
        if key in alts and all(row["labels"][:-1]):
            assert row["labels"][-1] == (alts[key] >= 0)
            checked += 1
    assert checked >= expected


def test_filters_select_labelings():
    campaign, tasks = _campaign()
    a = Assignment.objects.filter(campaign=campaign)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    a.filter(annotator__username="bob").update(submitted_at=old)
    a.filter(task=tasks[1], annotator__username="alice").update(queue_generation=3, is_quality_control=True)
    tasks[0].__class__.objects.filter(pk=tasks[0].pk).update(is_gold=True)

    def ids(**params):
        opts = export_options_parse({"format": "trl", "aggregate": "none", **params})
        return sorted((r["prompt"][8], len(r["completions"])) for r in _rows(campaign, "trl", options=opts))

    assert ids() == [("0", 4), ("1", 2), ("1", 2), ("2", 1)]
    assert ids(annotator=["bob"]) == [("1", 2), ("2", 1)]
    assert ids(annotators="alice") == [("0", 4), ("1", 2)]
    with pytest.raises(ValidationFailed, match="no one is called 'nobody'"):  # a typo is named, not dropped
        ids(annotators="alice,nobody")
    assert ids(submitted_before="2026-06-01") == [("1", 2), ("2", 1)]
    assert ids(submitted_after=(old + timedelta(days=1)).isoformat()) == [("0", 4), ("1", 2)]
    assert ids(generation=["3"]) == [("1", 2)]
    assert ids(gold="exclude") == [("1", 2), ("1", 2), ("2", 1)]
    assert ids(gold="only") == [("0", 4)]
    assert ids(qc="exclude") == [("0", 4), ("1", 2), ("2", 1)]
    assert ids(finish_reason=["give_up"]) == [("2", 1)]
    # Majority over only the filtered labelings.
    opts = export_options_parse({"format": "processbench", "annotator": "bob"})
    assert [r["label"] for r in _rows(campaign, "processbench", options=opts)] == [1]


@pytest.mark.parametrize("params, message", [
    ({"submitted_after": "yesterday"}, "not a date"),
    ({"submitted_after": "2026-02-01", "submitted_before": "2026-01-01"}, "must be before"),
    ({"generation": ["x"]}, "not a whole number"),
    ({"gold": "maybe"}, "include, exclude or only"),
    ({"finish_reason": ["done"]}, "not one of"),
    ({"annotator": "ali\x00ce"}, "no NUL"),
    ({"submitted_after": "0275-12-17T23:31:58+19:16"}, "beyond"),
])
def test_bad_filters_are_named(params, message):
    with pytest.raises(ValidationFailed, match=message):
        export_filters_parse(params)


@pytest.mark.parametrize("params, message", [
    ({"format": "csv"}, "unknown export format"),
    ({"format": "trl", "aggregate": "mean"}, "unknown aggregation"),
    ({"format": "trl", "neutral": "maybe"}, "neutral"),
    ({"format": "trl", "alternatives": "perhaps"}, "true or false"),
    ({"format": "hf-dataset", "test_fraction": "1.5"}, "test_fraction"),
    ({"format": "hf-dataset", "seed": "-1"}, "seed"),
    ({"format": "hf-dataset", "license": "mit; rm -rf"}, "license"),
])
def test_bad_options_are_named(params, message):
    with pytest.raises(ValidationFailed, match=message):
        export_options_parse(params)


def _reimport(tmp_path, campaign, fmt, **kw):
    out = tmp_path / f"{fmt}.jsonl"
    labels_export(campaign=campaign, fmt=fmt, output=out, **kw)
    again = CampaignFactory()
    result = solutions_import(campaign=again, path=out, fmt="auto")
    return again, result


def _labels(campaign):
    """(problem text, steps, ratings) per imported labeling."""
    out = []
    for a in Assignment.objects.filter(campaign=campaign).select_related("solution__problem"):
        ratings = list(StepLabel.objects.filter(assignment=a).order_by("step__index").values_list("rating", flat=True))
        steps = list(a.solution.steps.order_by("index").values_list("text", flat=True))
        out.append((a.solution.problem.text, steps, ratings))
    return sorted(out)


@pytest.mark.parametrize("fmt", ["trl", "processbench", "math_shepherd"])
def test_round_trip_through_the_importers(fmt, tmp_path):
    campaign, _ = _campaign()
    again, result = _reimport(tmp_path, campaign, fmt, neutral_is_correct=True)
    assert result.format == fmt and result.assignments_created == (3 if fmt != "processbench" else 2)
    got = _labels(again)
    if fmt == "processbench":
        # The whole solution is stored; the label runs to the first error (or to the end as +1s).
        assert got == [("What is 0 + 0?", STEPS, [1, 1, 1, 1]), ("What is 1 + 1?", STEPS, [1, -1])]
        verdicts = dict(Assignment.objects.filter(campaign=again).values_list("solution__problem__text",
                                                                               "solution__answer_is_correct"))
        assert verdicts == {"What is 0 + 0?": True, "What is 1 + 1?": False}
    else:
        # Labels true/false (or +/-): the neutral step comes back as +1.
        assert got == [("What is 0 + 0?", STEPS, [1, 1, 1, 1]), ("What is 1 + 1?", STEPS[:2], [1, -1]),
                       ("What is 2 + 2?", STEPS[:1], [1])]
    labelers = set(Assignment.objects.filter(campaign=again).values_list("annotator__profile__external_id",
                                                                          flat=True))
    assert labelers == {fmt.replace("_", "-")}
    # Importing the same file again adds nothing.
    out = tmp_path / f"{fmt}.jsonl"
    assert solutions_import(campaign=again, path=out).assignments_created == 0


def test_trl_rows_with_ratings_keep_the_neutral_step(tmp_path, write_jsonl):
    path = write_jsonl([{"prompt": "What is 1 + 1?", "completions": ["1 + 1 = 2", "So 2"], "labels": [True, True],
                         "ratings": [0, 1], "final_answer_correct": True, "labeler": "lab-7"}])
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=path, fmt="trl")
    assert _labels(campaign) == [("What is 1 + 1?", ["1 + 1 = 2", "So 2"], [0, 1])]
    assert Assignment.objects.get(campaign=campaign).annotator.profile.external_id == "lab-7"


@pytest.mark.parametrize("row, message", [
    ({"prompt": "p", "completions": ["a"], "labels": [True, False]}, "2 labels for 1 completions"),
    ({"prompt": "p", "completions": [], "labels": []}, "non-empty list"),
    ({"prompt": "p", "completions": ["a"], "labels": ["yes"]}, "true/false"),
    ({"problem": "p", "steps": ["a"], "label": 3}, "step index"),
    ({"problem": "p", "steps": ["a"], "label": 0, "final_answer_correct": "no"}, "final_answer_correct"),
    ({"input": "p Step 1: a ки", "label": "p Step 1: a ?"}, "need one \\+ or -"),
    ({"input": "p Step 1: a", "label": "p Step 1: a"}, "no step tag"),
    ({"input": "p Step 1: a ки", "value": ["+", "+"]}, "need one \\+ or -"),
])
def test_bad_training_rows_are_refused_by_line(row, message, write_jsonl):
    from labeling.errors import ImportFailed

    path = write_jsonl([row])
    with pytest.raises(ImportFailed) as err:
        solutions_import(campaign=CampaignFactory(), path=path)
    assert err.value.errors[0][0] == 1
    import re

    assert re.search(message, err.value.errors[0][1]), err.value.errors


def test_an_openrlhf_file_imports_like_math_shepherd(write_jsonl):
    path = write_jsonl([{"input": "What is 2 + 2? Step 1: 2 + 2 = 5 ки\nStep 2: So 5 ки", "value": ["-", "-"]}])
    campaign = CampaignFactory()
    solutions_import(campaign=campaign, path=path)
    assert _labels(campaign) == [("What is 2 + 2?", ["2 + 2 = 5", "So 5"], [-1, -1])]


def test_hf_dataset_directory_loads_with_datasets(tmp_path):
    from datasets import load_dataset

    campaign = CampaignFactory(slug="hf", name="HF demo", overlap=1)
    for i in range(30):
        problem = ProblemFactory(text=f"Problem {i}: what is {i} * 2?", ground_truth_answer=str(2 * i))
        task = TaskFactory(campaign=campaign, solution=SolutionFactory(problem=problem, steps=STEPS,
                                                                        answer_is_correct=i % 3 != 0))
        submitted_labels(task, UserFactory(), [1, 1, 1, 1] if i % 3 else [1, 0, -1])
    out = tmp_path / "ds"
    result = labels_export(campaign=campaign, fmt="hf-dataset", output=out,
                           options=ExportOptions(fmt="hf-dataset", test_fraction=0.3, seed=7, license="cc-by-4.0"))
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "test.jsonl", "train.jsonl"]
    assert result.rows == 30 and sum(result.splits.values()) == 30 and result.splits["test"] > 0
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    assert "- split: train\n    path: train.jsonl" in card and f"num_examples: {result.splits['test']}" in card
    assert "counts as **correct**" in card and "first wrong step" in card
    ds = load_dataset(str(out))
    assert ds["train"].num_rows + ds["test"].num_rows == 30
    assert set(ds["train"]["problem_id"]).isdisjoint(ds["test"]["problem_id"])
    row = next(r for r in ds["train"] if r["ratings"] == [1, 0, -1]) if any(
        r["ratings"] == [1, 0, -1] for r in ds["train"]) else next(r for r in ds["test"] if r["ratings"] == [1, 0, -1])
    assert row["labels"] == [True, True, False] and row["completions"] == STEPS[:3]
    assert row["final_answer_correct"] is False
    # The same seed puts every problem on the same side; another seed moves some.
    again = tmp_path / "again"
    labels_export(campaign=campaign, fmt="hf-dataset", output=again,
                  options=ExportOptions(fmt="hf-dataset", test_fraction=0.3, seed=7))
    assert (again / "test.jsonl").read_bytes() == (out / "test.jsonl").read_bytes()
    with pytest.raises(ValidationFailed, match="writes a directory"):
        labels_export(campaign=campaign, fmt="hf-dataset", stream=open(tmp_path / "x", "wb"))
    lines = [orjson.loads(x) for x in (out / "train.jsonl").read_bytes().splitlines()]
    assert set(lines[0]) == {"id", "problem_id", "prompt", "completions", "labels", "ratings",
                             "final_answer_correct", "generator", "labelers"}


def test_a_value_the_database_refuses_surfaces_as_a_data_error():
    """The export's raw COPY cursor reports through Django's error classes (the API's 400), and a
    failed statement inside a transaction does not turn into a second, unrelated error."""
    from datetime import timezone as tz

    from django.db import DataError

    from labeling.exporting.filters import ExportFilters

    campaign, _ = _campaign()
    odd = datetime(275, 12, 17, 23, 31, tzinfo=tz(timedelta(hours=19, minutes=16)))
    with pytest.raises(DataError, match="time zone displacement"):
        _rows(campaign, "trl", options=ExportOptions(fmt="trl", filters=ExportFilters(submitted_after=odd)))


def test_a_labeler_id_filter_matches_in_any_spelling_it_accepts():
    from labeling.exporting.selectors import unknown_annotators
    from tests.factories import UserFactory

    uid = str(UserFactory().profile.labeler_uid)
    assert unknown_annotators([uid, uid.upper(), uid.replace("-", "")]) == []
    assert unknown_annotators(["5a1d6c1e-0000-4000-8000-00000000ffff"]) == ["5a1d6c1e-0000-4000-8000-00000000ffff"]

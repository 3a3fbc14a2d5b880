import json

import pytest

from labeling.importing.formats import (
    detect_format,
    get_parser,
    parse_gsm8k,
    parse_prm800k,
    split_rule,
)
from labeling.importing.records import RecordError


def _records(path):
    return [json.loads(line) for line in open(path)]


def test_prm800k_phase2_record_uses_pre_generated_steps(prm800k_records_path):
    rec = _records(prm800k_records_path)[3]
    [sol] = parse_prm800k(rec)
    assert sol.steps == rec["question"]["pre_generated_steps"]
    assert sol.final_answer == "7200"
    assert sol.generation == 6
    assert sol.verifier_score == rec["question"]["pre_generated_verifier_score"]
    assert sol.label.labeler == rec["labeler"]
    assert len(sol.label.steps) == 7
    assert sol.label.steps[6].completions[0].rating == -1
    assert sol.label.finish_reason == "found_error"


def test_prm800k_phase1_record_keeps_alternatives_and_human_steps(prm800k_records_path):
    rec = _records(prm800k_records_path)[0]
    [sol] = parse_prm800k(rec)
    assert sol.generation is None
    assert len(sol.steps) == len(rec["label"]["steps"])
    step1 = sol.label.steps[1]
    assert len(step1.completions) == 5
    assert step1.human_completion["source"] == "human"
    assert sol.label.question_keys == ["problem", "ground_truth_answer"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["label"]["steps"][0]["completions"][0].update(rating=2), "must be -1, 0, 1 or null"),
        (lambda r: r.pop("labeler"), "missing field 'labeler'"),
        (lambda r: r["label"].update(finish_reason="bored"), "finish_reason"),
        (lambda r: r["label"]["steps"][0].update(completions=[]), "non-empty list"),
        (lambda r: r["label"]["steps"][0].update(chosen_completion=9), "out of range"),
        (lambda r: r.update(timestamp="yesterday"), "ISO"),
    ],
)
def test_prm800k_rejects_invalid_records(prm800k_records_path, mutate, message):
    rec = _records(prm800k_records_path)[0]
    mutate(rec)
    with pytest.raises(RecordError, match=message):
        parse_prm800k(rec)


def test_prm800k_unknown_fields_are_kept(prm800k_records_path):
    rec = _records(prm800k_records_path)[4]
    rec["vendor_batch"] = "b7"
    rec["question"]["difficulty"] = 3
    [sol] = parse_prm800k(rec)
    assert sol.label.unknown == {"record": {"vendor_batch": "b7"}, "question": {"difficulty": 3}}


def test_solutions_format_splits_and_keeps_unknown_fields():
    parse = get_parser("solutions", "blank")
    [sol] = parse(
        {"problem": "1+1?", "ground_truth_answer": 2, "solution": "One and one.\n\nMakes two.\n\n# Answer\n\n2",
         "generator": "m", "id": "s1", "temperature": 0.7}
    )
    assert sol.steps == ["One and one.", "Makes two.", "# Answer\n\n2"]
    assert sol.final_answer == "2"
    assert sol.problem.ground_truth_answer == "2"
    assert sol.metadata == {"id": "s1", "extra_fields": {"temperature": 0.7}}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"ground_truth_answer": "2", "steps": ["a"]}, "missing field 'problem'"),
        ({"problem": "p", "ground_truth_answer": "2", "steps": []}, "non-empty list"),
        ({"problem": "p", "ground_truth_answer": "2", "steps": ["a", ""]}, "steps\\[1\\]"),
        ({"problem": "p", "ground_truth_answer": "2"}, "'steps'"),
        ({"problem": "p", "steps": ["a"]}, "ground_truth_answer"),
    ],
)
def test_solutions_format_rejects_invalid_records(record, message):
    with pytest.raises(RecordError, match=message):
        get_parser("solutions")(record)


def test_split_rules():
    assert split_rule("newline")("a\nb\n\nc") == ["a", "b", "c"]
    assert split_rule("blank")("a\nb\n\nc") == ["a\nb", "c"]
    assert split_rule("regex:;")("a; b;c") == ["a", "b", "c"]
    with pytest.raises(ValueError, match="unknown split rule"):
        split_rule("sentences")


def test_gsm8k_model_solutions_give_four_graded_candidates(demo_file):
    obj = json.loads(open(demo_file).readline())
    sols = parse_gsm8k(obj)
    assert [s.generator for s in sols] == ["6b_finetuning", "6b_verification", "175b_finetuning",
                                           "175b_verification"]
    assert sols[0].problem.ground_truth_answer == "18"
    assert sols[3].final_answer == "18"
    assert sols[3].metadata["is_correct"] is True
    assert sols[0].steps[-1] == "A: 26"


def test_gsm8k_reference_line():
    [sol] = parse_gsm8k({"question": "q?", "answer": "Half of 48 is <<48/2=24>>24.\n#### 24"})
    assert sol.final_answer == "24"
    assert sol.steps == ["Half of 48 is <<48/2=24>>24.", "The answer is 24"]
    assert sol.problem.ground_truth_solution.endswith("#### 24")


def test_detect_format(prm800k_records_path):
    assert detect_format(_records(prm800k_records_path)[0]) == "prm800k"
    assert detect_format({"question": "q", "answer": "#### 1"}) == "gsm8k"
    assert detect_format({"problem": "p", "steps": ["a"]}) == "solutions"
    with pytest.raises(RecordError):
        detect_format([1, 2])

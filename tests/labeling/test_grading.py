from pathlib import Path

import orjson
import pytest

from labeling.grading import GRADER_VERSION, extract_final_answer, grade_answer
from labeling.importing.formats import parse_gsm8k


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We add.\n\n# Answer\n\n7200", "7200"),
        ("So x = 3.\n# Answer\n\n\\boxed{\\frac{1}{9}}", "\\frac{1}{9}"),
        ("Natalia sold 72 clips.\n#### 72", "72"),
        ("She makes 9 * 2 = $18.\nA: 18", "18"),
        ("Thus the answer is $\\boxed{\\frac{a}{\\sqrt{b+1}}}$.", "\\frac{a}{\\sqrt{b+1}}"),
        ("I am not sure what to do next", None),
        ("", None),
    ],
)
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    ("answer", "truth", "expected"),
    [
        ("18", "18", True),
        ("18.00", "18", True),
        ("$18", "18", True),
        ("1,000", "1000", True),
        ("0.5", "\\frac12", True),
        ("3R^2", "3R^2", True),
        ("b^2+a^2", "a^2+b^2", True),
        ("\\frac{1}{9}", "\\frac{1}{2}", False),
        ("2016", "504", False),
        (None, "504", False),  # a solution that states no answer is wrong
        ("504", "", None),  # no ground truth: cannot grade
    ],
)
def test_grade_answer(answer, truth, expected):
    assert grade_answer(answer, truth) is expected


def test_grader_version_names_math_verify():
    assert GRADER_VERSION.startswith("math-verify-")


def test_grader_agrees_with_every_gsm8k_model_verdict(demo_file):
    """The acceptance figure: 5,276 real model solutions, the file's own is_correct."""
    total = agree = 0
    disagreements = []
    with open(demo_file, "rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            for sol in parse_gsm8k(obj):
                verdict = grade_answer(sol.final_answer, sol.problem.ground_truth_answer)
                total += 1
                if verdict is obj[sol.generator]["is_correct"]:
                    agree += 1
                else:
                    disagreements.append((sol.final_answer, sol.problem.ground_truth_answer))
    assert total == 5276
    assert agree == total, disagreements[:10]


def test_grading_works_off_the_main_thread():
    """math-verify's alarm-based timeout cannot run in threads; we must still grade."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda args: grade_answer(*args), [("0.5", "\\frac12"), ("3", "4")]))
    assert results == [True, False]


def _gsm8k_pairs():
    import json

    from labeling.grading import extract_final_answer

    path = Path(__file__).resolve().parents[2] / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl"
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        truth = rec["ground_truth"].rsplit("A:", 1)[-1].strip()
        for value in rec.values():
            if isinstance(value, dict) and "solution" in value:
                yield extract_final_answer(value["solution"]), truth


def test_the_plain_number_path_agrees_with_math_verify_on_every_gsm8k_pair():
    """The exact fast path may decide an answer only where math-verify decides the same."""
    from labeling.grading import _fast_verdict, _math_verify

    decided = agree = 0
    pairs = [(a, t) for a, t in _gsm8k_pairs() if a]
    assert len(pairs) > 5000
    for answer, truth in pairs:
        fast = _fast_verdict(answer, truth)
        if fast is None:
            continue
        decided += 1
        agree += fast == _math_verify(answer, truth)
    assert decided > 0.99 * len(pairs)
    assert agree == decided


@pytest.mark.parametrize("answer, truth, verdict", [
    ("1,000", "1000", True), ("18.00", "18", True), ("-3", "-3.0", True), ("+5", "5", True),
    ("3.14159", "3.1416", False), ("7", "8", False), ("$18", "18", True),
])
def test_plain_numbers_are_decided_exactly(answer, truth, verdict):
    from labeling.grading import _fast_verdict, grade_answer

    assert _fast_verdict(answer, truth) is verdict
    assert grade_answer(answer, truth) is verdict


def test_close_plain_numbers_and_latex_go_to_math_verify():
    from labeling.grading import _fast_verdict

    assert _fast_verdict("0.3333333", "0.33333333") is None  # within math-verify's tolerance band
    assert _fast_verdict("\\frac{1}{2}", "0.5") is None


def test_grade_many_grades_each_pair_once_in_processes_and_falls_back_in_process(monkeypatch):
    from labeling import grading

    pairs = [("\\frac{1}{2}", "0.5"), ("\\sqrt{4}", "2"), ("x^2", "x^3"), ("7", "7"), (None, "3"), ("4", "")] * 3
    monkeypatch.setattr(grading, "PARALLEL_MIN_PAIRS", 2)
    grading.stats_reset()
    verdicts = grading.grade_many(pairs, processes=2)
    assert verdicts == {("\\frac{1}{2}", "0.5"): True, ("\\sqrt{4}", "2"): True, ("x^2", "x^3"): False,
                        ("7", "7"): True, (None, "3"): False, ("4", ""): None}
    assert grading.stats()["parallel"] == 3  # the three LaTeX pairs, once each, in grading processes

    class NoChildren:
        def __init__(self, *a, **k):
            raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(grading, "ProcessPoolExecutor", NoChildren)
    grading.stats_reset()
    assert grading.grade_many(pairs, processes=2) == verdicts
    assert "parallel" not in grading.stats() and grading.stats()["math_verify"] == 3

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

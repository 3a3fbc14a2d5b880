"""Parsers for step-labeled training files: TRL stepwise, ProcessBench and Math-Shepherd.

Their step labels are imported as the labels of an external labeler, as PRM800K labels are:
the row's `labeler` if it has one, else one labeler per format ("trl", "processbench",
"math-shepherd"). None of them carries a ground-truth answer, so problems are keyed by their
text; ProcessBench's `final_answer_correct` becomes the solution's verdict.

- trl: {"prompt", "completions", "labels": [bool]} (optionally our exports' "ratings",
  "final_answer_correct", "id", "generator"). true is +1, false is -1.
- processbench: {"id", "problem", "steps", "label", "final_answer_correct"}: steps before
  `label` are +1, step `label` is -1 and the label stops there; -1 means every step is +1.
- math_shepherd: {"input" with " ки" after each step, "label" with + or - in their place};
  OpenRLHF's {"input", "value": ["+", "-", ...]} too. Every step keeps its mark.
"""

from __future__ import annotations

from datetime import UTC, datetime

from labeling.grading import extract_final_answer
from labeling.importing.records import (
    ParsedCompletion,
    ParsedLabel,
    ParsedLabelStep,
    ParsedProblem,
    ParsedSolution,
    RecordError,
    text_key,
)

MS_TAG = "ки"
# Imported labels carry no time: all get this one, so a re-import finds them (timestamp_raw "").
NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _text(value, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"'{name}' must be non-empty text")
    return value


def _steps(value, name: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RecordError(f"'{name}' must be a non-empty list of strings")
    return [_text(s, f"{name}[{i}]") for i, s in enumerate(value)]


def _labeler(obj: dict, default: str) -> str:
    value = obj.get("labeler")
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise RecordError("'labeler' must be text of at most 200 characters")
    return value


def _verdict(obj: dict) -> bool | None:
    value = obj.get("final_answer_correct")
    if value is not None and not isinstance(value, bool):
        raise RecordError("'final_answer_correct' must be true, false or null")
    return value


def _solution(*, fmt: str, problem: str, steps: list[str], ratings: list[int], labeler: str, obj: dict,
              answer_correct: bool | None = None, generator: str = "") -> ParsedSolution:
    label_steps = [
        ParsedLabelStep(completions=[ParsedCompletion(text=t, rating=r, flagged=False)], human_completion=None,
                        chosen_completion=None if r == -1 else 0)
        for t, r in zip(steps, ratings, strict=True)
    ]
    label = ParsedLabel(
        labeler=labeler, timestamp=NO_TIME, timestamp_raw="", generation=None, is_quality_control=False,
        is_screening=False, steps=label_steps, total_time=None,
        finish_reason="found_error" if -1 in ratings else "solution", question_keys=[],
    )
    meta = {"format": fmt}
    if "id" in obj:
        meta["id"] = obj["id"]
    return ParsedSolution(
        problem=ParsedProblem(source=fmt.replace("_", "-"), source_id=text_key(problem), text=problem),
        steps=steps, generator=generator, final_answer=extract_final_answer(steps[-1]) or "", metadata=meta,
        label=label, answer_correct=answer_correct,
    )


def parse_trl(obj: dict) -> list[ParsedSolution]:
    if not isinstance(obj, dict):
        raise RecordError("a record must be a JSON object")
    problem = _text(obj.get("prompt"), "prompt")
    steps = _steps(obj.get("completions"), "completions")
    if obj.get("ratings") is not None:
        raw = obj["ratings"]
        if not isinstance(raw, list) or any(r not in (-1, 0, 1) or isinstance(r, bool) for r in raw):
            raise RecordError("'ratings' must be a list of -1, 0 and 1")
        ratings = list(raw)
    else:
        raw = obj.get("labels")
        if not isinstance(raw, list) or not all(isinstance(x, bool) for x in raw):
            raise RecordError("'labels' must be a list of true/false, one per completion")
        ratings = [1 if x else -1 for x in raw]
    if len(ratings) != len(steps):
        raise RecordError(f"{len(ratings)} labels for {len(steps)} completions")
    generator = obj.get("generator") or ""
    if not isinstance(generator, str):
        raise RecordError("'generator' must be text")
    return [_solution(fmt="trl", problem=problem, steps=steps, ratings=ratings, labeler=_labeler(obj, "trl"),
                      obj=obj, answer_correct=_verdict(obj), generator=generator)]


def parse_processbench(obj: dict) -> list[ParsedSolution]:
    if not isinstance(obj, dict):
        raise RecordError("a record must be a JSON object")
    problem = _text(obj.get("problem"), "problem")
    steps = _steps(obj.get("steps"), "steps")
    label = obj.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
        raise RecordError(f"'label' must be -1 (no error) or a step index 0..{len(steps) - 1}")
    ratings = [1] * len(steps) if label == -1 else [1] * label + [-1]
    generator = obj.get("generator") or ""
    if not isinstance(generator, str):
        raise RecordError("'generator' must be text")
    # The label covers the steps up to the first error; the solution keeps every step.
    sol = _solution(fmt="processbench", problem=problem, steps=steps[: len(ratings)], ratings=ratings,
                    labeler=_labeler(obj, "processbench"), obj=obj, answer_correct=_verdict(obj),
                    generator=generator)
    sol.steps = steps
    sol.final_answer = extract_final_answer(steps[-1]) or ""
    return [sol]


def math_shepherd_split(text: str, marks) -> tuple[str, list[str], list[int]]:
    """(problem, steps, ratings) from Math-Shepherd's tagged text and its marks (the label text,
    or OpenRLHF's list of "+"/"-")."""
    pieces = text.split(MS_TAG)
    if len(pieces) < 2:
        raise RecordError(f"'input' has no step tag {MS_TAG!r}")
    if pieces[-1].strip():
        raise RecordError(f"'input' has text after the last step tag {MS_TAG!r}")
    if isinstance(marks, str):
        found, pos = [], 0
        for piece in pieces[:-1]:
            if not marks.startswith(piece, pos):
                raise RecordError("'label' must be 'input' with each step tag replaced by + or -")
            pos += len(piece)
            found.append(marks[pos: pos + 1])
            pos += 1
        marks = found
    if not isinstance(marks, list) or len(marks) != len(pieces) - 1 or any(m not in ("+", "-") for m in marks):
        raise RecordError(f"need one + or - per step tag ({len(pieces) - 1})")
    first = pieces[0]
    at = first.find("Step 1:")
    if at >= 0:
        problem, first_step = first[:at], first[at:]
    elif "\n" in first.strip():
        problem, _, first_step = first.strip().rpartition("\n")
    else:
        raise RecordError("cannot tell the problem from the first step (no 'Step 1:' and no line break)")
    steps = []
    for k, raw in enumerate([first_step, *pieces[1:-1]], start=1):
        step = raw.strip()
        prefix = f"Step {k}:"
        if step.startswith(prefix):
            step = step[len(prefix):].strip()
        if not step:
            raise RecordError(f"step {k} is empty")
        steps.append(step)
    if not problem.strip():
        raise RecordError("the problem before 'Step 1:' is empty")
    return problem.strip(), steps, [1 if m == "+" else -1 for m in marks]


def parse_math_shepherd(obj: dict) -> list[ParsedSolution]:
    if not isinstance(obj, dict):
        raise RecordError("a record must be a JSON object")
    text = _text(obj.get("input"), "input")
    marks = obj.get("label") if "label" in obj else obj.get("value")
    if marks is None:
        raise RecordError("missing 'label' (Math-Shepherd) or 'value' (OpenRLHF)")
    problem, steps, ratings = math_shepherd_split(text, marks)
    sol = _solution(fmt="math_shepherd", problem=problem, steps=steps, ratings=ratings,
                    labeler=_labeler(obj, "math-shepherd"), obj=obj)
    task = obj.get("task")
    if isinstance(task, str) and task:
        sol.metadata["task"] = task
    return [sol]

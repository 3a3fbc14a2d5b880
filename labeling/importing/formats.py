"""Format parsers: one JSON object in, ParsedSolution records out.

Each parser validates strictly and raises RecordError naming the field, so
that an import can list every bad line before it writes anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from labeling.grading import extract_final_answer
from labeling.importing.records import (
    PRM800K_GENERATORS,
    PRM800K_SOURCE,
    ParsedCompletion,
    ParsedLabel,
    ParsedLabelStep,
    ParsedProblem,
    ParsedSolution,
    RecordError,
    text_key,
)
from labeling.importing.training_formats import parse_math_shepherd, parse_processbench, parse_trl

FINISH_REASONS = {"solution", "found_error", "give_up", "bad_problem"}
RATINGS = {-1, 0, 1}

# --- small validators -----------------------------------------------------------


def _require(obj: dict, key: str, where: str = ""):
    if key not in obj:
        raise RecordError(f"missing field '{where}{key}'")
    return obj[key]


def _str(value, name: str, *, allow_empty: bool = False, allow_number: bool = False) -> str:
    if allow_number and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(f"'{name}' must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RecordError(f"'{name}' must not be empty")
    return value


def _opt_int(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"'{name}' must be an integer or null, got {value!r}")
    return value


def _opt_float(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"'{name}' must be a number or null, got {value!r}")
    return float(value)


def _rating(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or value not in RATINGS:
        raise RecordError(f"'{name}' must be -1, 0, 1 or null, got {value!r}")
    return int(value)


def _opt_bool(value, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RecordError(f"'{name}' must be true, false or null, got {value!r}")


def _dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise RecordError(f"'{name}' must be an object, got {type(value).__name__}")
    return value


def _unknown(obj: dict, known: set[str]) -> dict:
    return {k: v for k, v in obj.items() if k not in known}


# --- step splitting ---------------------------------------------------------------

SplitRule = Callable[[str], list[str]]
_ANSWER_HEADING = re.compile(r"^#\s*Answer\s*$", re.IGNORECASE)


def split_rule(spec: str) -> SplitRule:
    """`blank` (paragraphs), `newline` (lines) or `regex:PATTERN`."""
    if spec == "blank":
        pattern = re.compile(r"\n\s*\n")
    elif spec == "newline":
        pattern = re.compile(r"\n")
    elif spec.startswith("regex:"):
        try:
            pattern = re.compile(spec[len("regex:"):])
        except re.error as exc:
            raise ValueError(f"invalid split regex: {exc}") from exc
    else:
        raise ValueError(f"unknown split rule {spec!r} (use blank, newline or regex:PATTERN)")

    def split(text: str) -> list[str]:
        parts = [part.strip() for part in pattern.split(text) if part.strip()]
        # PRM800K-style "# Answer" headings belong with the answer below them.
        merged: list[str] = []
        for part in parts:
            if merged and _ANSWER_HEADING.match(merged[-1]):
                merged[-1] = f"{merged[-1]}\n\n{part}"
            else:
                merged.append(part)
        return merged

    return split


# --- PRM800K ------------------------------------------------------------------------

_PRM_TOP = {
    "labeler", "timestamp", "generation", "is_quality_control_question",
    "is_initial_screening_question", "question", "label",
}
_PRM_QUESTION = {
    "problem", "ground_truth_answer", "ground_truth_solution", "pre_generated_steps",
    "pre_generated_answer", "pre_generated_verifier_score",
}
_PRM_LABEL = {"steps", "total_time", "finish_reason"}
_PRM_STEP = {"completions", "human_completion", "chosen_completion"}
_PRM_COMPLETION = {"text", "rating", "flagged"}


def _parse_timestamp(raw) -> datetime:
    raw = _str(raw, "timestamp")
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise RecordError(f"'timestamp' is not an ISO date-time: {raw!r}") from exc
    # PRM800K timestamps carry no zone; they are UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _check_critique(obj: dict, where: str) -> None:
    # Our own prm800k export writes these on a rated completion; they become the step label's.
    if "critique" in obj:
        _str(obj["critique"], f"{where}.critique", allow_empty=True)
    if "error_types" in obj:
        types = obj["error_types"]
        if not isinstance(types, list) or len(types) > 9 or not all(
                isinstance(t, str) and 1 <= len(t) <= 32 for t in types):
            raise RecordError(f"'{where}.error_types' must be a list of at most 9 keys of 1 to 32 characters")


def _parse_completion(obj, where: str) -> ParsedCompletion:
    obj = _dict(obj, where)
    _check_critique(obj, where)
    return ParsedCompletion(
        text=_str(_require(obj, "text", f"{where}."), f"{where}.text", allow_empty=True),
        rating=_rating(obj.get("rating"), f"{where}.rating"),
        flagged=_opt_bool(obj.get("flagged"), f"{where}.flagged"),
        extra=_unknown(obj, _PRM_COMPLETION),
    )


def _parse_label_step(obj, i: int) -> ParsedLabelStep:
    where = f"label.steps[{i}]"
    obj = _dict(obj, where)
    completions_raw = _require(obj, "completions", f"{where}.")
    if not isinstance(completions_raw, list) or not completions_raw:
        raise RecordError(f"'{where}.completions' must be a non-empty list")
    completions = [_parse_completion(c, f"{where}.completions[{j}]") for j, c in enumerate(completions_raw)]
    human = obj.get("human_completion")
    if human is not None:
        human = _dict(human, f"{where}.human_completion")
        _str(_require(human, "text", f"{where}.human_completion."), f"{where}.human_completion.text",
             allow_empty=True)
        _rating(human.get("rating"), f"{where}.human_completion.rating")
        _opt_bool(human.get("flagged"), f"{where}.human_completion.flagged")
    chosen = _opt_int(obj.get("chosen_completion"), f"{where}.chosen_completion")
    if chosen is not None and not 0 <= chosen < len(completions):
        raise RecordError(f"'{where}.chosen_completion' = {chosen} is out of range")
    return ParsedLabelStep(
        completions=completions, human_completion=human, chosen_completion=chosen,
        extra=_unknown(obj, _PRM_STEP),
    )


def parse_prm800k(obj: dict) -> list[ParsedSolution]:
    obj = _dict(obj, "record")
    question = _dict(_require(obj, "question"), "question")
    label = _dict(_require(obj, "label"), "label")
    labeler = _str(_require(obj, "labeler"), "labeler")
    problem_text = _str(_require(question, "problem", "question."), "question.problem")
    gt_answer = question.get("ground_truth_answer")
    gt_answer = "" if gt_answer is None else _str(gt_answer, "question.ground_truth_answer",
                                                  allow_empty=True, allow_number=True)
    steps_raw = _require(label, "steps", "label.")
    if not isinstance(steps_raw, list):
        raise RecordError("'label.steps' must be a list")
    label_steps = [_parse_label_step(s, i) for i, s in enumerate(steps_raw)]
    finish = label.get("finish_reason")
    if finish is not None and finish not in FINISH_REASONS:
        raise RecordError(f"'label.finish_reason' must be one of {sorted(FINISH_REASONS)}, got {finish!r}")
    total_time = _opt_int(label.get("total_time"), "label.total_time")
    if total_time is not None and total_time < 0:
        raise RecordError("'label.total_time' must not be negative")

    pre = question.get("pre_generated_steps")
    if pre is not None:
        # Phase 2: the pre-generated solution is the solution; labels may stop early.
        if not isinstance(pre, list) or not pre or not all(isinstance(s, str) for s in pre):
            raise RecordError("'question.pre_generated_steps' must be a non-empty list of strings")
        if len(label_steps) > len(pre):
            raise RecordError(
                f"label has {len(label_steps)} steps but question.pre_generated_steps has only {len(pre)}"
            )
        steps = list(pre)
        final_answer = question.get("pre_generated_answer")
        final_answer = None if final_answer is None else _str(
            final_answer, "question.pre_generated_answer", allow_empty=True, allow_number=True)
    else:
        # Phase 1: the labeler built the solution step by step, so the
        # solution is the path they took (chosen completion, else their own
        # step); the other completions are rated alternatives.
        if not label_steps:
            raise RecordError("'label.steps' is empty and there are no pre_generated_steps")
        for ls in label_steps:
            if ls.chosen_completion is not None:
                ls.on_path = ls.completions[ls.chosen_completion]
            elif ls.human_completion is not None and ls.human_completion.get("text"):
                hc = ls.human_completion
                ls.on_path = ParsedCompletion(text=hc["text"], rating=hc.get("rating"), flagged=hc.get("flagged"))
        steps = [s.path.text for s in label_steps]
        final_answer = None
    if not any(s.strip() for s in steps):
        raise RecordError("solution steps are all empty")
    if final_answer is None:
        final_answer = extract_final_answer(steps[-1])

    generation = _opt_int(obj.get("generation"), "generation")
    parsed_label = ParsedLabel(
        labeler=labeler,
        timestamp=_parse_timestamp(_require(obj, "timestamp")),
        timestamp_raw=obj["timestamp"],
        generation=generation,
        is_quality_control=bool(_opt_bool(obj.get("is_quality_control_question"), "is_quality_control_question")),
        is_screening=bool(_opt_bool(obj.get("is_initial_screening_question"), "is_initial_screening_question")),
        steps=label_steps,
        total_time=total_time,
        finish_reason=finish,
        question_keys=list(question.keys()),
        unknown={
            k: v
            for k, v in {
                "record": _unknown(obj, _PRM_TOP),
                "question": _unknown(question, _PRM_QUESTION),
                "label": _unknown(label, _PRM_LABEL),
            }.items()
            if v
        },
    )
    return [
        ParsedSolution(
            problem=ParsedProblem(
                source=PRM800K_SOURCE,
                source_id=text_key(problem_text),
                text=problem_text,
                ground_truth_answer=gt_answer,
                ground_truth_solution=question.get("ground_truth_solution") or "",
            ),
            steps=steps,
            generator=PRM800K_GENERATORS[1] if pre is not None else PRM800K_GENERATORS[0],
            final_answer=final_answer,
            generation=generation,
            verifier_score=_opt_float(question.get("pre_generated_verifier_score"),
                                      "question.pre_generated_verifier_score"),
            metadata={"format": "prm800k", "phase": 2 if pre is not None else 1},
            label=parsed_label,
        )
    ]


# --- plain solutions --------------------------------------------------------------

_SOLUTION_KNOWN = {
    "problem", "ground_truth_answer", "steps", "solution", "answer", "generator", "id", "metadata",
    "problem_id", "ground_truth_solution", "subject", "level", "source", "generation", "score",
    "step_prelabels", "prelabel_source",
}


def _prelabel(value, where: str) -> tuple[int | None, float | None]:
    """One entry of `step_prelabels`: an integer rating (-1, 0, 1), a probability that the step is
    correct (a number with a decimal point, 0.0 to 1.0), an object {"rating": r, "score": p}, or null."""
    if isinstance(value, dict):
        unknown = set(value) - {"rating", "score"}
        if unknown:
            raise RecordError(f"'{where}': unknown key(s) {', '.join(sorted(unknown))} (use rating and score)")
        rating, score = value.get("rating"), value.get("score")
        if rating is not None and (isinstance(rating, bool) or rating not in (-1, 0, 1)
                                   or not isinstance(rating, int)):
            raise RecordError(f"'{where}.rating' must be -1, 0 or 1")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)
                                  or not 0 <= score <= 1):
            raise RecordError(f"'{where}.score' must be a probability from 0 to 1")
        return rating, None if score is None else float(score)
    if value is None:
        return None, None
    if isinstance(value, bool):
        raise RecordError(f"'{where}' is a rating (-1, 0, 1) or a probability (0.0 to 1.0), not true/false")
    if isinstance(value, int):
        if value not in (-1, 0, 1):
            raise RecordError(f"'{where}': a rating is -1, 0 or 1 (write a probability with a point: 0.7)")
        return value, None
    if isinstance(value, float):
        if not 0 <= value <= 1:  # NaN fails too
            raise RecordError(f"'{where}': a probability is from 0.0 to 1.0")
        return None, value
    raise RecordError(f"'{where}' must be a rating (-1, 0, 1), a probability (0.0 to 1.0), "
                      "an object with rating and score, or null")


def _prelabels(obj: dict, n_steps: int) -> tuple[list[tuple[int | None, float | None]] | None, str]:
    raw = obj.get("step_prelabels")
    source = _str(obj.get("prelabel_source") or "imported", "prelabel_source")
    if len(source) > 64:
        raise RecordError("'prelabel_source' is longer than 64 characters")
    if raw is None:
        return None, source
    if not isinstance(raw, list) or len(raw) != n_steps:
        raise RecordError(f"'step_prelabels' must be a list with one entry per step ({n_steps}, null for none)")
    return [_prelabel(v, f"step_prelabels[{i}]") for i, v in enumerate(raw)], source


def make_solutions_parser(split: SplitRule) -> Callable[[dict], list[ParsedSolution]]:
    def parse_solutions(obj: dict) -> list[ParsedSolution]:
        obj = _dict(obj, "record")
        problem_text = _str(_require(obj, "problem"), "problem")
        gt = _str(_require(obj, "ground_truth_answer"), "ground_truth_answer", allow_number=True)
        if "steps" in obj:
            steps = obj["steps"]
            if not isinstance(steps, list) or not steps:
                raise RecordError("'steps' must be a non-empty list of strings")
            for i, s in enumerate(steps):
                _str(s, f"steps[{i}]")
        elif "solution" in obj:
            steps = split(_str(obj["solution"], "solution"))
            if not steps:
                raise RecordError("'solution' splits into no steps")
        else:
            raise RecordError("missing field 'steps' (a list) or 'solution' (text)")
        answer = obj.get("answer")
        answer = (
            _str(answer, "answer", allow_number=True) if answer is not None else extract_final_answer(steps[-1])
        )
        metadata = dict(_dict(obj.get("metadata") or {}, "metadata"))
        if "id" in obj:
            metadata["id"] = obj["id"]
        extra = _unknown(obj, _SOLUTION_KNOWN)
        if extra:
            metadata["extra_fields"] = extra
        problem_id = obj.get("problem_id")
        prelabels, prelabel_source = _prelabels(obj, len(steps))
        return [
            ParsedSolution(
                problem=ParsedProblem(
                    source=_str(obj.get("source") or "custom", "source"),
                    source_id=str(problem_id) if problem_id is not None else text_key(problem_text),
                    text=problem_text,
                    ground_truth_answer=gt,
                    ground_truth_solution=_str(obj.get("ground_truth_solution") or "", "ground_truth_solution",
                                               allow_empty=True),
                    subject=_str(obj.get("subject") or "", "subject", allow_empty=True),
                    level=_str(obj.get("level") or "", "level", allow_empty=True, allow_number=True),
                ),
                steps=list(steps),
                generator=_str(obj.get("generator") or "", "generator", allow_empty=True),
                final_answer=answer,
                generation=_opt_int(obj.get("generation"), "generation"),
                verifier_score=_opt_float(obj.get("score"), "score"),
                metadata=metadata,
                prelabels=prelabels,
                prelabel_source=prelabel_source,
            )
        ]

    return parse_solutions


# --- GSM8K --------------------------------------------------------------------------

_GSM8K_REF = {"question", "answer"}


def _gsm8k_answer(reference: str) -> str:
    answer = extract_final_answer(reference)
    if answer is None:
        raise RecordError("reference solution has no final answer ('#### x' or 'A: x')")
    return answer


def _gsm8k_steps(text: str) -> list[str]:
    """Lines are steps; the `#### x` marker line becomes the answer step."""
    steps = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("####"):
            line = "The answer is " + line[4:].strip()
        if line:
            steps.append(line)
    return steps


def parse_gsm8k(obj: dict) -> list[ParsedSolution]:
    """GSM8K train/test lines, or example_model_solutions lines (4 solutions each)."""
    obj = _dict(obj, "record")
    question = _str(_require(obj, "question"), "question")
    problem_meta = {"dataset": "gsm8k"}
    if "ground_truth" in obj:
        reference = _str(obj["ground_truth"], "ground_truth")
        problem = ParsedProblem(
            source="gsm8k", source_id=text_key(question), text=question,
            ground_truth_answer=_gsm8k_answer(reference), ground_truth_solution=reference,
            metadata=problem_meta,
        )
        out = []
        for key, value in obj.items():
            if key in {"question", "ground_truth"}:
                continue
            entry = _dict(value, key)
            text = _str(_require(entry, "solution", f"{key}."), f"{key}.solution")
            steps = _gsm8k_steps(text)
            if not steps:
                raise RecordError(f"'{key}.solution' has no steps")
            meta = {"format": "gsm8k", "model": key, **_unknown(entry, {"solution"})}
            out.append(
                ParsedSolution(
                    problem=problem, steps=steps, generator=key,
                    final_answer=extract_final_answer(text), metadata=meta,
                )
            )
        if not out:
            raise RecordError("no model solutions in record")
        return out
    reference = _str(_require(obj, "answer"), "answer")
    problem = ParsedProblem(
        source="gsm8k", source_id=text_key(question), text=question,
        ground_truth_answer=_gsm8k_answer(reference), ground_truth_solution=reference,
        metadata=problem_meta,
    )
    extra = _unknown(obj, _GSM8K_REF)
    return [
        ParsedSolution(
            problem=problem, steps=_gsm8k_steps(reference), generator="gsm8k-reference",
            final_answer=problem.ground_truth_answer,
            metadata={"format": "gsm8k", **({"extra_fields": extra} if extra else {})},
        )
    ]


TRAINING_PARSERS = {"trl": parse_trl, "processbench": parse_processbench, "math_shepherd": parse_math_shepherd}
FORMATS = ("auto", "prm800k", "solutions", "gsm8k", "trl", "processbench", "math_shepherd")


def detect_format(obj) -> str:
    """Guess the format from the first record."""
    if isinstance(obj, dict):
        if isinstance(obj.get("question"), dict) and "label" in obj:
            return "prm800k"
        if "prompt" in obj and "completions" in obj:
            return "trl"
        if "input" in obj and ("label" in obj or "value" in obj):
            return "math_shepherd"
        if "problem" in obj and "steps" in obj and "label" in obj and "ground_truth_answer" not in obj:
            return "processbench"
        if "question" in obj and ("answer" in obj or "ground_truth" in obj):
            return "gsm8k"
        if "problem" in obj:
            return "solutions"
    raise RecordError("cannot detect the format of this file; choose its format (the Format menu, or --format)")


def get_parser(fmt: str, split: str = "blank") -> Callable[[dict], list[ParsedSolution]]:
    if fmt == "prm800k":
        return parse_prm800k
    if fmt == "gsm8k":
        return parse_gsm8k
    if fmt == "solutions":
        return make_solutions_parser(split_rule(split))
    if fmt in TRAINING_PARSERS:
        return TRAINING_PARSERS[fmt]
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")

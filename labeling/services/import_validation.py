"""The import's first pass: parse and check every line before anything is written.

Reads the file (and, to spot a problem id stored with another text, the
problems table) but writes nothing. Every error names its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from labeling.errors import ImportFailed, ValidationFailed
from labeling.importing.checks import ProblemConflicts, db_errors
from labeling.importing.formats import detect_format, get_parser
from labeling.importing.records import RecordError
from labeling.models import Problem


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if raw.strip():
                yield lineno, raw


def parse_line(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc}") from exc


def validate(path: Path, fmt: str, split: str, *, answers: set | None = None
             ) -> tuple[str, int, list[tuple[int, str]], int]:
    """Pass 1: parse and check every line, also against what the database would refuse
    (labeling.importing.checks) and against problems already stored under the same id.
    Returns (format, line count, first errors, error count). `answers`, if given, collects every
    (final answer, ground truth) pair the grader will be asked about."""
    errors: list[tuple[int, str]] = []
    error_count = 0
    parser = None if fmt == "auto" else get_parser(fmt, split)
    conflicts = ProblemConflicts()
    lines = 0

    def fail(lineno: int, reason: str) -> None:
        nonlocal error_count
        error_count += 1
        if len(errors) < ImportFailed.MAX_REPORTED:
            errors.append((lineno, reason))

    for lineno, raw in iter_lines(path):
        lines += 1
        try:
            obj = parse_line(raw)
            if parser is None:
                fmt = detect_format(obj)
                parser = get_parser(fmt, split)
            for parsed in parser(obj):
                problems = db_errors(parsed)
                if problems:
                    raise RecordError("; ".join(problems))
                clash = conflicts.check(lineno, parsed)
                if clash:
                    raise RecordError(clash)
                if answers is not None and (parsed.problem.ground_truth_answer or parsed.answer_correct is None):
                    answers.add((parsed.final_answer, parsed.problem.ground_truth_answer))
        except RecordError as exc:
            fail(lineno, str(exc))
    if lines == 0:
        raise ValidationFailed(f"{path} holds no records")
    for lineno, reason in _stored_conflicts(conflicts.keys()):
        fail(lineno, reason)
    errors.sort()
    return fmt, lines, errors, error_count


def _stored_conflicts(seen: dict[tuple[str, str], tuple[int, str, str]]) -> Iterator[tuple[int, str]]:
    """Lines whose problem id is already stored with another text or answer (reads only)."""
    keys = list(seen)
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for prob in Problem.objects.filter(source_id__in={k[1] for k in chunk}).only(
            "source", "source_id", "text", "ground_truth_answer"
        ):
            key = (prob.source, prob.source_id)
            if key not in seen:
                continue
            lineno, text, answer = seen[key]
            if " ".join(prob.text.split()) != text:
                yield lineno, f"problem '{key[1]}' is already stored with another text (problem {prob.pk})"
            elif prob.ground_truth_answer.strip() != answer:
                yield lineno, (f"problem '{key[1]}' is already stored with the ground-truth answer "
                               f"{prob.ground_truth_answer!r}, not {answer!r}")

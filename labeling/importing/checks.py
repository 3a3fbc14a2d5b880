"""What the database would refuse, checked in the import's first pass, so the error names its line.

Pure: lengths of the columns a parsed record fills, NUL characters (PostgreSQL
text and jsonb refuse them), integers past their column's range, and two
lines that give one problem id different texts or answers.
"""

from __future__ import annotations

from collections.abc import Iterator

from labeling.importing.records import ParsedSolution

# Column limits (labeling.models): CharField max_length, integer ranges.
MAX = {"problem source": 64, "problem_id": 128, "subject": 64, "level": 32, "generator": 128, "labeler": 200}
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
INT16 = (-(2**15), 2**15 - 1)
MAX_STEPS = 10_000


def _strings(value, where: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value (keys too), with where it sits."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield f"{where} key", str(k)
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def _texts(p: ParsedSolution) -> Iterator[tuple[str, str]]:
    prob = p.problem
    yield "problem", prob.text
    yield "ground_truth_answer", prob.ground_truth_answer
    yield "ground_truth_solution", prob.ground_truth_solution
    yield "problem source", prob.source
    yield "problem_id", prob.source_id
    yield "subject", prob.subject
    yield "level", prob.level
    yield "generator", p.generator
    yield "answer", p.final_answer or ""
    for i, s in enumerate(p.steps):
        yield f"steps[{i}]", s
    yield from _strings(prob.metadata, "problem metadata")
    yield from _strings(p.metadata, "metadata")
    if p.label is not None:
        lab = p.label
        yield "labeler", lab.labeler
        yield "timestamp", lab.timestamp_raw
        yield from _strings(lab.unknown, "unknown fields")
        for i, st in enumerate(lab.steps):
            for j, c in enumerate(st.completions):
                yield f"label.steps[{i}].completions[{j}].text", c.text
                yield from _strings(c.extra, f"label.steps[{i}].completions[{j}]")
            if st.human_completion is not None:
                yield from _strings(st.human_completion, f"label.steps[{i}].human_completion")
            yield from _strings(st.extra, f"label.steps[{i}]")


def _range(name: str, value, bounds) -> str | None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        return f"'{name}' {value} is out of range ({bounds[0]} to {bounds[1]})"
    return None


def db_errors(p: ParsedSolution) -> list[str]:
    """Reasons the database would refuse this record (empty when it would take it)."""
    errors = []
    for where, text in _texts(p):
        if "\x00" in text:
            errors.append(f"'{where}' contains a NUL character (\\u0000), which the database cannot store")
    for name, limit in MAX.items():
        value = {"problem source": p.problem.source, "problem_id": p.problem.source_id, "subject": p.problem.subject,
                 "level": p.problem.level, "generator": p.generator,
                 "labeler": p.label.labeler if p.label else ""}[name]
        if len(value) > limit:
            errors.append(f"'{name}' is {len(value)} characters long; at most {limit}")
    if len(p.steps) > MAX_STEPS:
        errors.append(f"{len(p.steps)} steps; at most {MAX_STEPS}")
    errors += filter(None, [_range("generation", p.generation, INT32)])
    if p.label is not None:
        errors += filter(None, [_range("generation", p.label.generation, INT32),
                                _range("label.total_time", p.label.total_time, INT64)])
        for i, st in enumerate(p.label.steps):
            errors += filter(None, [_range(f"label.steps[{i}].chosen_completion", st.chosen_completion, INT16)])
            if len(st.completions) > INT16[1]:
                errors.append(f"label.steps[{i}] has {len(st.completions)} completions; at most {INT16[1]}")
    return errors


class ProblemConflicts:
    """Within one file: a problem id must mean one problem (same text and answer) on every line."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[int, str, str]] = {}

    def check(self, lineno: int, p: ParsedSolution) -> str | None:
        key = (p.problem.source, p.problem.source_id)
        mine = (" ".join(p.problem.text.split()), p.problem.ground_truth_answer.strip())
        first = self.seen.setdefault(key, (lineno, *mine))
        if first[1:] == mine:
            return None
        what = "text" if first[1] != mine[0] else "ground_truth_answer"
        return (f"problem '{key[1]}' (source '{key[0]}') has another {what} than on line {first[0]}: "
                f"one problem id must be one problem")

    def keys(self) -> dict[tuple[str, str], tuple[int, str, str]]:
        return self.seen

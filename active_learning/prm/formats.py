"""Readers for the step-labeled formats ML engineers bring: plain data in, SolutionExample out.

- trl: TRL stepwise supervision, {"prompt", "completions", "labels": [bool]} (trl-lib/prm800k,
  and our trl and hf-dataset exports). Rows of our exports also carry "ratings" (-1/0/+1), which
  let the neutral mapping be chosen at training time instead of at export time.
- prm800k: PRM800K records (phase 1 and 2); ratings go through `ratings_to_labels`.
- math_shepherd: {"input": text with " ки" after each step, "label": the same text with "+"/"-"
  in place of each tag}, as in peiyi9979/Math-Shepherd; OpenRLHF's {"input", "value": ["+"/"-"]}
  reads the same way.
- processbench: {"id", "problem", "steps", "label", "final_answer_correct"}: steps before `label`
  are correct, step `label` is the first error, -1 means none (ProcessBench, and our export).
- pool (score only): {"problem", "steps"}, labels optional.

A reader never guesses silently: a row it cannot read raises FormatError naming the line.
Neutral handling follows TrainConfig.neutral: "positive" is the paper's choice (neutral counts
as correct), "negative" the trl-lib/prm800k one, "ignore" drops those steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from active_learning.prm.data import SolutionExample, ratings_to_labels

FORMATS = ("auto", "trl", "prm800k", "math_shepherd", "processbench", "pool", "gsm8k_solutions")
MS_TAG = "ки"
_MS_STEP = re.compile(r"^\s*Step \d+:\s*")
_MS_MARKS = {"+": 1, "-": 0}


class FormatError(ValueError):
    """A row of a step-labeled file cannot be read; the message names the file and line."""


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    """JSONL, or a JSON array (ProcessBench ships its splits as JSON files)."""
    with open(path, encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if head == "[":
            for i, row in enumerate(json.load(fh), start=1):
                yield i, row
            return
        for i, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield i, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FormatError(f"{path}:{i}: not JSON ({exc.msg})") from None


def detect(row: dict) -> str:
    if not isinstance(row, dict):
        raise FormatError("a row is not a JSON object")
    if "prompt" in row and "completions" in row:
        return "trl"
    if isinstance(row.get("question"), dict) and "label" in row:
        return "prm800k"
    if "input" in row and ("label" in row or "value" in row):
        return "math_shepherd"
    if "steps" in row and "label" in row and "problem" in row:
        return "processbench"
    if "problem" in row and "steps" in row:
        return "pool"
    if isinstance(row.get("question"), str) and any(isinstance(v, dict) and "is_correct" in v for v in row.values()):
        return "gsm8k_solutions"
    raise FormatError("cannot tell the format of this file from its first row; pass --format")


def _split_files(path: Path) -> list[tuple[str, Path]]:
    """A file, or a dataset directory of split files (*.jsonl / *.json), each named by its stem."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".jsonl", ".json"} and p.is_file())
        if not files:
            raise FormatError(f"{path} holds no .jsonl or .json files")
        return [(p.stem, p) for p in files]
    if not path.is_file():
        raise FormatError(f"no such file or directory: {path}")
    return [("", path)]


def read_examples(path: str | Path, *, fmt: str = "auto", neutral: str = "positive",
                  splits: Iterable[str] | None = None) -> list[SolutionExample]:
    """Every example in a file or dataset directory; `splits` keeps only those split names."""
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    wanted = set(splits) if splits else None
    out: list[SolutionExample] = []
    for split, file in _split_files(Path(path)):
        if wanted is not None and split not in wanted:
            continue
        kind = fmt
        for lineno, row in _rows(file):
            where = f"{file}:{lineno}"
            try:
                if kind == "auto":
                    kind = detect(row)
                got = _READERS[kind](row, neutral)
            except FormatError as exc:
                raise FormatError(f"{where}: {exc}") from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise FormatError(f"{where}: not a {kind} row ({type(exc).__name__}: {exc})") from None
            if isinstance(got, list):  # several solutions per row: keys by line and solution name
                out.extend(_with(ex, split=split, key=f"{split or file.stem}:{lineno}:{ex.key}") for ex in got)
            else:
                out.append(_with(got, split=got.split or split, key=got.key or f"{split or file.stem}:{lineno}"))
    if wanted is not None and not out:
        raise FormatError(f"{path}: no rows in split(s) {', '.join(sorted(wanted))}")
    return out


def _with(ex: SolutionExample, **changes) -> SolutionExample:
    return replace(ex, **changes)


def _answer_correct(row: dict) -> bool | None:
    value = row.get("final_answer_correct")
    if value is not None and not isinstance(value, bool):
        raise FormatError("'final_answer_correct' must be true, false or null")
    return value


def _trl(row: dict, neutral: str) -> SolutionExample:
    prompt, completions = row["prompt"], row["completions"]
    if not isinstance(prompt, str) or not isinstance(completions, list) or not completions:
        raise FormatError("'prompt' must be text and 'completions' a non-empty list")
    if "ratings" in row and row["ratings"] is not None:
        labels = ratings_to_labels(row["ratings"], neutral=neutral)
    else:
        raw = row["labels"]
        if not isinstance(raw, list) or not all(isinstance(x, bool) or x in (0, 1) for x in raw):
            raise FormatError("'labels' must be a list of true/false")
        labels = tuple(int(bool(x)) for x in raw)
    if len(labels) != len(completions):
        raise FormatError(f"{len(labels)} labels for {len(completions)} completions")
    return SolutionExample(
        problem=prompt, steps=tuple(map(str, completions)), labels=labels,
        group=str(row.get("problem_id") or prompt), answer_correct=_answer_correct(row),
        answer=str(row.get("answer") or ""), key=str(row.get("id") or ""),
    )


def _prm800k(row: dict, neutral: str) -> SolutionExample:
    question, label = row["question"], row["label"]
    steps_raw = label["steps"]
    pre = question.get("pre_generated_steps")
    steps, ratings = [], []
    for i, step in enumerate(steps_raw):
        completions = step["completions"]
        chosen = step.get("chosen_completion")
        human = step.get("human_completion")
        if pre is not None:
            comp = completions[0]
            text = pre[i]
        elif chosen is not None:
            comp = completions[chosen]
            text = comp["text"]
        elif human and human.get("text"):
            comp, text = human, human["text"]
        else:
            comp = completions[0]
            text = comp["text"]
        steps.append(text)
        ratings.append(comp.get("rating"))
    if pre is not None:
        steps = list(pre)
        ratings += [None] * (len(pre) - len(ratings))
    if not steps:
        raise FormatError("the record has no steps")
    return SolutionExample(
        problem=question["problem"], steps=tuple(steps), labels=ratings_to_labels(ratings, neutral=neutral),
        group=question["problem"], answer=str(question.get("pre_generated_answer") or ""),
    )


def math_shepherd_parse(text: str, marks: list[str] | str) -> tuple[str, list[str], list[int]]:
    """(problem, steps, labels) from Math-Shepherd's tagged input and its marks.

    `marks` is either the label text (the input with each tag replaced by + or -) or a list of
    "+"/"-" (OpenRLHF). The problem is the text before the first "Step 1:" (or before the first
    step's line when there is no such prefix).
    """
    pieces = text.split(MS_TAG)
    if len(pieces) < 2:
        raise FormatError(f"'input' has no step tag {MS_TAG!r}")
    if pieces[-1].strip():
        raise FormatError(f"text after the last step tag {MS_TAG!r}")
    n = len(pieces) - 1
    if isinstance(marks, str):
        found, pos = [], 0
        for piece in pieces[:-1]:
            if not marks.startswith(piece, pos):
                raise FormatError("'label' is not 'input' with each tag replaced by + or -")
            pos += len(piece)
            found.append(marks[pos: pos + 1])
            pos += 1
        marks = found
    if len(marks) != n or any(m not in _MS_MARKS for m in marks):
        raise FormatError(f"need one + or - per step tag ({n})")
    first = pieces[0]
    m = re.search(r"Step 1:", first)
    if m:
        problem, first_step = first[: m.start()], first[m.start():]
    elif "\n" in first.strip():
        problem, _, first_step = first.strip().rpartition("\n")
    else:
        raise FormatError("cannot tell the problem from the first step (no 'Step 1:' and no line break)")
    raw_steps = [first_step, *pieces[1:-1]]
    steps = [_MS_STEP.sub("", s).strip() for s in raw_steps]
    if not problem.strip() or not all(steps):
        raise FormatError("an empty problem or step")
    return problem.strip(), steps, [_MS_MARKS[m] for m in marks]


def _math_shepherd(row: dict, neutral: str) -> SolutionExample:
    marks = row["label"] if "label" in row else row["value"]
    problem, steps, labels = math_shepherd_parse(row["input"], marks)
    # Math-Shepherd marks come from rollouts, not from a reader stopping at the first error:
    # every step keeps its mark, as Math-Shepherd and OpenRLHF train them.
    return SolutionExample(problem=problem, steps=tuple(steps), labels=tuple(labels), group=problem,
                           split=str(row.get("task") or ""), key=str(row.get("id") or ""))


def _processbench(row: dict, neutral: str) -> SolutionExample:
    steps, label = row["steps"], row["label"]
    if not isinstance(steps, list) or not steps or isinstance(label, bool) or not isinstance(label, int):
        raise FormatError("'steps' must be a non-empty list and 'label' an integer")
    if not -1 <= label < len(steps):
        raise FormatError(f"'label' {label} is outside -1..{len(steps) - 1}")
    labels = tuple(1 if label == -1 or i < label else (0 if i == label else None) for i in range(len(steps)))
    return SolutionExample(
        problem=row["problem"], steps=tuple(map(str, steps)), labels=labels, group=row["problem"],
        answer_correct=_answer_correct(row), answer=str(row.get("answer") or ""), key=str(row.get("id") or ""),
        split=str(row.get("split") or ""),
    )


def _pool(row: dict, neutral: str) -> SolutionExample:
    steps = row["steps"]
    if not isinstance(steps, list) or not steps:
        raise FormatError("'steps' must be a non-empty list")
    ratings = row.get("ratings")
    if row.get("labels") is not None:
        # Exact training labels (1 / 0 / null per step), as the training worker writes them.
        labels = tuple(None if x is None else int(bool(x)) for x in row["labels"])
    else:
        labels = ratings_to_labels(ratings, neutral=neutral) if ratings else ()
    return SolutionExample(
        problem=row["problem"], steps=tuple(map(str, steps)),
        labels=labels,
        group=str(row.get("problem_id") or row["problem"]), answer_correct=_answer_correct(row),
        answer=str(row.get("answer") or ""), key=str(row.get("id") or ""),
    )


def _gsm8k_solutions(row: dict, neutral: str) -> list[SolutionExample]:
    """OpenAI's GSM8K sample solutions (grade-school-math `example_model_solutions.jsonl`): one row per
    problem, several models' solutions each with `is_correct`, so outcome labels only: for solution
    AUROC and best-of-N against majority vote over the "A: ..." answers, not for step metrics."""
    question = row["question"]
    out = []
    for name, value in row.items():
        if not isinstance(value, dict) or "is_correct" not in value:
            continue
        steps = tuple(s.strip() for s in str(value["solution"]).split("\n") if s.strip())
        if not steps:
            raise FormatError(f"solution {name!r} has no steps")
        last = steps[-1]
        answer = last.split("A:", 1)[1].strip() if last.startswith("A:") else ""
        out.append(SolutionExample(problem=question, steps=steps, labels=(), group=question,
                                   answer_correct=bool(value["is_correct"]), answer=answer, key=name))
    if not out:
        raise FormatError("no solutions with is_correct")
    return out


_READERS = {"gsm8k_solutions": _gsm8k_solutions, "trl": _trl, "prm800k": _prm800k, "math_shepherd": _math_shepherd,
            "processbench": _processbench, "pool": _pool}

"""Exporting a campaign's labels for PRM training.

Reads are streamed chunk by chunk (constant memory); a file export is
written to a temporary file and renamed into place, so a reader never sees a
half-written export. A directory export (hf-dataset) is built in a temporary
directory and renamed into place the same way.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from labeling.errors import ValidationFailed
from labeling.exporting import selectors
from labeling.exporting.filters import LIST_PARAMS, ExportFilters, export_filters_parse
from labeling.exporting.formats import (
    AGGREGATIONS,
    DIRECTORY_FORMATS,
    EXPORT_FORMATS,
    PER_LABELING_FORMATS,
    LabeledSolution,
    critique_row,
    majority_ratings,
    prm800k_record,
    processbench_row,
    ratings_list,
    trl_row,
)
from labeling.exporting.hf_dataset import SPLITS, dataset_card, dataset_row, split_of
from labeling.exporting.training_formats import (
    alternative_rows,
    labeled_prefix,
    math_shepherd_row,
    openrlhf_row,
    rlhflow_row,
    with_human_steps,
)
from labeling.models import Campaign

Progress = Callable[[int, int], None]  # (labelings or solutions read, total)


@dataclass
class ExportResult:
    format: str
    aggregate: str
    rows: int
    skipped: int
    path: str | None = None
    skipped_reasons: dict = field(default_factory=dict)
    splits: dict = field(default_factory=dict)

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped_reasons.items()))
        text = f"exported {self.rows} rows ({self.skipped} skipped{': ' + reasons if reasons else ''})"
        if self.splits:
            text += " in splits " + ", ".join(f"{k} {v}" for k, v in self.splits.items())
        return text


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how. `aggregate` None means the format's default (none for the
    per-labeling formats prm800k and critique, majority for every training format).
    alternatives: trl only, one extra row per rated phase-1 alternative completion.
    test_fraction / seed / license: hf-dataset only."""

    fmt: str
    aggregate: str | None = None
    neutral_is_correct: bool = True
    alternatives: bool = True
    filters: ExportFilters = field(default_factory=ExportFilters)
    test_fraction: float = 0.1
    seed: int = 0
    license: str = "other"

    @property
    def resolved_aggregate(self) -> str:
        if self.aggregate:
            return self.aggregate
        return "none" if self.fmt in PER_LABELING_FORMATS else "majority"


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _flag(raw, name: str, default: bool) -> bool:
    if raw in (None, ""):
        return default
    text = str(raw).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValidationFailed(f"{name}: use true or false, not {raw!r}")


EXPORT_PARAMS = frozenset({"format", "aggregate", "neutral", "alternatives", "test_fraction", "seed", "license",
                           "submitted_after", "submitted_before", "gold", "qc", *LIST_PARAMS})


def export_options_parse(params: Mapping) -> ExportOptions:
    """ExportOptions from text values (query parameters, form fields, a job's stored params):
    format, aggregate, neutral (positive|negative), alternatives, test_fraction, seed, license and
    the filters of export_filters_parse. Raises ValidationFailed naming the parameter, an unknown
    one included: a misspelt filter (submitted-after) must not export everything unfiltered."""
    unknown = sorted(set(params) - EXPORT_PARAMS - {"csrfmiddlewaretoken"})
    if unknown:
        raise ValidationFailed(f"unknown export parameter(s): {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(EXPORT_PARAMS))}", details={k: ["unknown"] for k in unknown})
    fmt = str(params.get("format") or "").strip()
    aggregate = str(params.get("aggregate") or "").strip() or None
    neutral = str(params.get("neutral") or "positive").strip()
    if neutral not in ("positive", "negative"):
        raise ValidationFailed(f"neutral: choose positive (neutral counts as correct) or negative, not {neutral!r}")
    try:
        test_fraction = float(params.get("test_fraction") or 0.1)
        seed = int(params.get("seed") or 0)
    except (TypeError, ValueError):
        raise ValidationFailed("test_fraction must be a number and seed a whole number") from None
    if not 0 <= test_fraction < 1 or test_fraction != test_fraction:
        raise ValidationFailed("test_fraction must be at least 0 and below 1")
    if not 0 <= seed < 2**31:
        raise ValidationFailed("seed must be between 0 and 2147483647")
    license_ = str(params.get("license") or "other").strip()
    if not license_ or len(license_) > 64 or not all(c.isalnum() or c in "-._+" for c in license_):
        raise ValidationFailed("license: a license identifier such as cc-by-4.0, mit or other")
    options = ExportOptions(
        fmt=fmt, aggregate=aggregate, neutral_is_correct=neutral == "positive",
        alternatives=_flag(params.get("alternatives"), "alternatives", True),
        filters=export_filters_parse(params), test_fraction=test_fraction, seed=seed, license=license_,
    )
    _check(options)
    # A misspelt name would otherwise be an empty export that looks like "no labels yet".
    unknown = selectors.unknown_annotators(options.filters.annotators)
    if unknown:
        raise ValidationFailed(f"annotator: no one is called {', '.join(map(repr, unknown))} (give usernames or "
                               "labeler ids)", details={"annotator": [f"unknown: {n}" for n in unknown]})
    return options


def export_options_params(options: ExportOptions) -> dict:
    """The options as the text values export_options_parse reads back (a job stores these)."""
    return {"format": options.fmt, "aggregate": options.resolved_aggregate,
            "neutral": "positive" if options.neutral_is_correct else "negative",
            "alternatives": "true" if options.alternatives else "false", "test_fraction": str(options.test_fraction),
            "seed": str(options.seed), "license": options.license, **options.filters.describe()}


def export_params_check(fmt: str, aggregate: str | None) -> str:
    """Refuse an unknown format or aggregation, and an aggregated per-labeling export; return the
    aggregation to use."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    resolved = ExportOptions(fmt=fmt, aggregate=aggregate or None).resolved_aggregate
    if resolved not in AGGREGATIONS:
        raise ValidationFailed(f"unknown aggregation {aggregate!r}; choose from {', '.join(AGGREGATIONS)}")
    if fmt in PER_LABELING_FORMATS and resolved != "none":
        raise ValidationFailed(f"the {fmt} format has one line per labeler and solution; use the aggregation 'none'")
    return resolved


def _check(options: ExportOptions) -> str:
    aggregate = export_params_check(options.fmt, options.aggregate)
    if not 0 <= options.test_fraction < 1:
        raise ValidationFailed("test_fraction must be at least 0 and below 1")
    return aggregate


class _Stats:
    def __init__(self, stats: dict):
        self.d = stats
        stats.update(rows=0, skipped=0, skipped_reasons={})

    def row(self, n: int = 1) -> None:
        self.d["rows"] += n

    def skip(self, why: str) -> None:
        self.d["skipped"] += 1
        self.d["skipped_reasons"][why] = self.d["skipped_reasons"].get(why, 0) + 1


def export_rows(
    *, campaign: Campaign, fmt: str, aggregate: str | None = None, neutral_is_correct: bool = True,
    stats: dict | None = None, options: ExportOptions | None = None, progress: Progress | None = None,
) -> Iterator[dict]:
    """Yield export rows as dicts. `stats` (if given) gets 'rows', 'skipped' and 'skipped_reasons'.

    hf-dataset rows are yielded with their split under the key "_split" (labels_export writes
    them to their files without it).
    """
    options = options or ExportOptions(fmt=fmt, aggregate=aggregate, neutral_is_correct=neutral_is_correct)
    agg = _check(options)
    st = _Stats(stats if stats is not None else {})
    f = options.filters
    by_solution = agg != "none"
    total = selectors.export_size(campaign, f, by_solution=by_solution) if progress else 0
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress and (done % 1000 == 0 or done == total):
            progress(done, total)

    if not by_solution:
        for ls in selectors.labeled_solutions(campaign, filters=f):
            tick()
            if options.fmt != "prm800k" and ls.finish_reason == "bad_problem":
                st.skip("reported as a bad problem")
                continue
            row_id = f"{campaign.slug}-{ls.solution_id}-{ls.labeler}"
            yield from _rows_for(options, st, ls, [ls], ratings_list(ls), row_id)
        if progress:
            progress(done, total)
        return
    resolved = selectors.adjudicated_ratings(campaign) if agg == "adjudicated" else {}
    for group in selectors.labeled_solutions_by_solution(campaign, filters=f):
        tick()
        usable = [ls for ls in group if ls.finish_reason != "bad_problem"]
        if not usable:
            st.skip("reported as a bad problem")
            continue
        ratings = resolved.get(usable[0].solution_id) or majority_ratings(usable)
        yield from _rows_for(options, st, usable[0], usable, ratings, f"{campaign.slug}-{usable[0].solution_id}")
    if progress:
        progress(done, total)


def _rows_for(options: ExportOptions, st: _Stats, ls: LabeledSolution, labels: list[LabeledSolution],
              ratings: list[int | None], row_id: str) -> Iterator[dict]:
    fmt, neutral = options.fmt, options.neutral_is_correct
    if fmt == "prm800k":
        st.row()
        yield prm800k_record(ls)
        return
    if fmt == "critique":
        row = critique_row(row_id=row_id, ls=ls)
        if row is None:
            st.skip("no first error with a critique, and not rated to the end")
            return
        st.row()
        yield row
        return
    if fmt == "processbench":
        if ls.answer_is_correct is None:
            # ProcessBench's final_answer_correct is a boolean; a guess would be a wrong label.
            st.skip("final answer not graded")
            return
        row = processbench_row(row_id=row_id, ls=ls, ratings=ratings, labels=labels)
    elif fmt == "trl" and options.alternatives:
        # TRL's PRM800K converter: a step the labeler wrote themselves (phase 1) is correct, and each
        # rated alternative along the path is a row of its own.
        alts = [a for one in labels for a in one.alternatives]
        ratings = with_human_steps(ls.steps, ratings, alts)
        row = trl_row(ls.problem, ls.steps, ratings, neutral_is_correct=neutral)
        if row is not None:
            extra = alternative_rows(problem=ls.problem, steps=ls.steps, ratings=ratings, alternatives=alts,
                                     neutral_is_correct=neutral)
            if extra:
                st.row(len(extra))
                yield from extra
    elif fmt == "trl":
        row = trl_row(ls.problem, ls.steps, ratings, neutral_is_correct=neutral)
    elif fmt == "hf-dataset":
        steps, bools, raw = labeled_prefix(ls.steps, ratings, neutral_is_correct=neutral)
        row = None
        if steps:
            row = dataset_row(row_id=row_id, problem_id=ls.problem_key, problem=ls.problem, steps=steps,
                              labels=bools, ratings=raw, answer_correct=ls.answer_is_correct,
                              generator=ls.generator, labelers=len(labels))
            row["_split"] = split_of(ls.problem_key, test_fraction=options.test_fraction, seed=options.seed)
    else:
        make = {"math_shepherd": math_shepherd_row, "openrlhf": openrlhf_row, "rlhflow": rlhflow_row}[fmt]
        row = make(row_id=row_id, problem=ls.problem, steps=ls.steps, ratings=ratings, neutral_is_correct=neutral)
        if row is None and ratings and ratings[0] is not None:
            st.skip("the text holds the step tag ки")
            return
    if row is None:
        st.skip("labeled neither to a first error nor to the end" if fmt == "processbench" else "no rated step")
        return
    st.row()
    yield row


def export_lines(**kwargs) -> Iterator[bytes]:
    """JSONL lines (bytes, newline-terminated) for streaming responses."""
    for row in export_rows(**kwargs):
        yield orjson.dumps(row) + b"\n"


def _tmp_beside(output: Path) -> Path:
    # Not mkstemp: its files are 0600, and an export is read by other users and containers (the
    # web process serves what the worker wrote); open() gives the umask's mode. The random name
    # keeps concurrent exports apart.
    return output.parent / f".{output.name}.{uuid.uuid4().hex}"


def labels_export(
    *, campaign: Campaign, fmt: str, output: Path | None = None, stream: BinaryIO | None = None,
    aggregate: str | None = None, neutral_is_correct: bool = True, options: ExportOptions | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the export to `output` (atomically) or to an open binary `stream`.

    Invariant: a file (or, for hf-dataset, a directory) at `output` is either the previous one
    or the complete new export, never a partial one.
    """
    options = options or ExportOptions(fmt=fmt, aggregate=aggregate, neutral_is_correct=neutral_is_correct)
    agg = _check(options)
    stats: dict = {}
    rows = export_rows(campaign=campaign, fmt=options.fmt, options=options, stats=stats, progress=progress)

    def result(path=None, splits=None) -> ExportResult:
        return ExportResult(options.fmt, agg, stats["rows"], stats["skipped"], path, stats["skipped_reasons"],
                            splits or {})

    if options.fmt in DIRECTORY_FORMATS:
        if output is None:
            raise ValidationFailed(f"the {options.fmt} format writes a directory: give an output path")
        output = Path(output)
        splits = _write_dataset(campaign, options, agg, rows, stats, output)
        return result(str(output), splits)
    if output is None:
        if stream is None:
            raise ValidationFailed("give an output path or a stream")
        for row in rows:
            stream.write(orjson.dumps(row) + b"\n")
        return result()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(output)
    try:
        with open(tmp, "xb") as fh:
            for row in rows:
                fh.write(orjson.dumps(row) + b"\n")
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result(str(output))


def _write_dataset(campaign: Campaign, options: ExportOptions, agg: str, rows, stats: dict, output: Path
                   ) -> dict[str, int]:
    if output.exists() and not output.is_dir():
        raise ValidationFailed(f"{output} exists and is not a directory")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(output)
    tmp.mkdir()
    counts = dict.fromkeys(SPLITS, 0)
    problems = {s: set() for s in SPLITS}
    answers = {"answer correct": 0, "answer wrong": 0, "answer ungraded": 0}
    negatives = steps = 0
    try:
        files = {s: open(tmp / f"{s}.jsonl", "xb") for s in SPLITS}  # noqa: SIM115 - closed below
        try:
            for row in rows:
                split = row.pop("_split")
                files[split].write(orjson.dumps(row) + b"\n")
                counts[split] += 1
                problems[split].add(row["problem_id"])
                key = {True: "answer correct", False: "answer wrong", None: "answer ungraded"}[
                    row["final_answer_correct"]]
                answers[key] += 1
                negatives += (not row["labels"][-1])
                steps += len(row["labels"])
        finally:
            for fh in files.values():
                fh.close()
        for s in SPLITS:
            if not counts[s]:
                (tmp / f"{s}.jsonl").unlink()  # an empty split file would not load
        total = sum(counts.values())
        card = dataset_card(
            name=f"{campaign.name} step labels", license=options.license, aggregate=agg,
            neutral_is_correct=options.neutral_is_correct, mode=campaign.mode, overlap=campaign.overlap,
            test_fraction=options.test_fraction, seed=options.seed, filters=options.filters.describe(),
            splits=counts,
            counts={"solutions": total, "problems": len(problems["train"] | problems["test"]),
                    "labeled steps": steps, "solutions with a wrong step": negatives, **answers,
                    "skipped": stats["skipped"]},
        )
        (tmp / "README.md").write_text(card, encoding="utf-8")
        if output.exists():
            old = _tmp_beside(output)
            os.replace(output, old)
            os.replace(tmp, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {s: n for s, n in counts.items() if n}

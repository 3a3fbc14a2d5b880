"""Exporting a campaign's labels as JSONL for PRM training.

Reads are streamed chunk by chunk (constant memory); a file export is
written to a temporary file and renamed into place, so a reader never sees a
half-written export.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson
from django.conf import settings

from labeling.errors import ValidationFailed
from labeling.exporting import selectors
from labeling.exporting.formats import (
    AGGREGATIONS,
    EXPORT_FORMATS,
    critique_row,
    majority_ratings,
    prm800k_record,
    processbench_row,
    ratings_list,
    trl_row,
)
from labeling.models import Campaign


@dataclass
class ExportResult:
    format: str
    aggregate: str
    rows: int
    skipped: int
    path: str | None = None


def export_params_check(fmt: str, aggregate: str) -> None:
    """Refuse an unknown format or aggregation, and an aggregated prm800k export."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    if aggregate not in AGGREGATIONS:
        raise ValidationFailed(f"unknown aggregation {aggregate!r}; choose from {', '.join(AGGREGATIONS)}")
    if fmt in ("prm800k", "critique") and aggregate != "none":
        raise ValidationFailed(f"the {fmt} format has one line per labeler and solution; use the aggregation 'none'")


def export_rows(
    *, campaign: Campaign, fmt: str, aggregate: str = "none", neutral_is_correct: bool = True,
    stats: dict | None = None,
) -> Iterator[dict]:
    """Yield export rows as dicts. `stats` (if given) gets 'rows' and 'skipped' counts."""
    export_params_check(fmt, aggregate)
    stats = stats if stats is not None else {}
    stats.update(rows=0, skipped=0)
    chunk = settings.EXPORT_CHUNK_SIZE

    def emit(row):
        if row is None:
            stats["skipped"] += 1
            return False
        stats["rows"] += 1
        return True

    if fmt == "prm800k":
        for ls in selectors.labeled_solutions(campaign, chunk=chunk):
            row = prm800k_record(ls)
            emit(row)
            yield row
        return
    if fmt == "critique":
        for ls in selectors.labeled_solutions(campaign, chunk=chunk):
            row = None if ls.finish_reason == "bad_problem" else critique_row(
                row_id=f"{campaign.slug}-{ls.solution_id}-{ls.labeler}", ls=ls)
            if emit(row):
                yield row
        return
    if aggregate == "none":
        for ls in selectors.labeled_solutions(campaign, chunk=chunk):
            if ls.finish_reason == "bad_problem":
                emit(None)
                continue
            row = _derived(fmt, ls, ratings_list(ls), f"{campaign.slug}-{ls.solution_id}-{ls.labeler}",
                           neutral_is_correct)
            if emit(row):
                yield row
        return
    resolved = selectors.adjudicated_ratings(campaign) if aggregate == "adjudicated" else {}
    for group in selectors.labeled_solutions_by_solution(campaign, chunk=chunk):
        usable = [ls for ls in group if ls.finish_reason != "bad_problem"]
        if not usable:
            emit(None)
            continue
        ratings = resolved.get(usable[0].solution_id) or majority_ratings(usable)
        row = _derived(fmt, usable[0], ratings, f"{campaign.slug}-{usable[0].solution_id}", neutral_is_correct,
                       usable)
        if emit(row):
            yield row


def _derived(fmt, ls, ratings, row_id, neutral_is_correct, labels=None):
    if fmt == "trl":
        return trl_row(ls.problem, ls.steps, ratings, neutral_is_correct=neutral_is_correct)
    return processbench_row(row_id=row_id, ls=ls, ratings=ratings, labels=labels)


def export_lines(**kwargs) -> Iterator[bytes]:
    """JSONL lines (bytes, newline-terminated) for streaming responses."""
    for row in export_rows(**kwargs):
        yield orjson.dumps(row) + b"\n"


def labels_export(
    *, campaign: Campaign, fmt: str, output: Path | None = None, stream: BinaryIO | None = None,
    aggregate: str = "none", neutral_is_correct: bool = True,
) -> ExportResult:
    """Write the export to `output` (atomically) or to an open binary `stream`.

    Invariant: a file at `output` is either the previous file or the complete
    new export, never a partial one.
    """
    export_params_check(fmt, aggregate)
    stats: dict = {}
    lines = export_lines(campaign=campaign, fmt=fmt, aggregate=aggregate,
                         neutral_is_correct=neutral_is_correct, stats=stats)
    if output is None:
        if stream is None:
            raise ValidationFailed("give an output path or a stream")
        for line in lines:
            stream.write(line)
        return ExportResult(fmt, aggregate, stats["rows"], stats["skipped"])
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are 0600, and an export is read by other users and containers (the
    # web process serves what the worker wrote); open() gives the umask's mode. "x" never
    # overwrites, and the random name keeps concurrent exports apart.
    tmp = output.parent / f".{output.name}.{uuid.uuid4().hex}"
    try:
        with open(tmp, "xb") as fh:
            for line in lines:
                fh.write(line)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportResult(fmt, aggregate, stats["rows"], stats["skipped"], str(output))

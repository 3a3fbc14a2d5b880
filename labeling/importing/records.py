"""Plain data produced by the format parsers and consumed by the import service.

Parsers never touch the database: they turn one JSON object into
ParsedSolution records or raise RecordError with a human-readable reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


class RecordError(ValueError):
    """One input line is invalid; the message says why."""


@dataclass
class ParsedProblem:
    source: str
    source_id: str
    text: str
    ground_truth_answer: str = ""
    ground_truth_solution: str = ""
    subject: str = ""
    level: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class ParsedCompletion:
    text: str
    rating: int | None
    flagged: bool | None
    extra: dict = field(default_factory=dict)


@dataclass
class ParsedLabelStep:
    completions: list[ParsedCompletion]
    human_completion: dict | None
    chosen_completion: int | None
    extra: dict = field(default_factory=dict)
    # The completion that is the solution's step here, with the rating that
    # step gets: completions[0] for pre-generated (phase 2) solutions; in a
    # phase-1 record the labeler's path: the chosen completion, else their
    # own written step, else completions[0] (where the label stopped).
    on_path: ParsedCompletion | None = None

    @property
    def path(self) -> ParsedCompletion:
        return self.on_path if self.on_path is not None else self.completions[0]


@dataclass
class ParsedLabel:
    """A PRM800K label: who labeled which steps how."""

    labeler: str
    timestamp: datetime
    timestamp_raw: str
    generation: int | None
    is_quality_control: bool
    is_screening: bool
    steps: list[ParsedLabelStep]
    total_time: int | None
    finish_reason: str | None
    # Keys of `question` as given (phase 1 has fewer), unknown fields by level.
    question_keys: list[str]
    unknown: dict = field(default_factory=dict)


@dataclass
class ParsedSolution:
    problem: ParsedProblem
    steps: list[str]
    generator: str = ""
    final_answer: str | None = None
    generation: int | None = None
    verifier_score: float | None = None
    metadata: dict = field(default_factory=dict)
    label: ParsedLabel | None = None
    # Automatic step labels (`step_prelabels`): (rating, probability) per step, either may be None.
    prelabels: list[tuple[int | None, float | None]] | None = None
    prelabel_source: str = "imported"
    # A verdict on the final answer that the file states (ProcessBench's final_answer_correct):
    # used when the problem has no ground truth to grade against.
    answer_correct: bool | None = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.generator, self.steps)


def content_hash(generator: str, steps: list[str]) -> str:
    """What identifies a solution within its problem: who wrote it and its steps, in order."""
    h = hashlib.sha256()
    h.update(generator.encode())
    for step in steps:
        h.update(b"\x00")
        h.update(step.encode())
    return h.hexdigest()


TEXT_KEY_PREFIX = "sha1:"
# The PRM800K format names no source or generator: its parser stands these in. A
# problem under this source is found by its text key, and a solution under one of
# these generators by its steps, in whatever format they first came.
PRM800K_SOURCE = "prm800k"
PRM800K_GENERATORS = ("prm800k-phase1", "prm800k-phase2")


def text_key(text: str) -> str:
    """Stable id for a problem known only by its text."""
    normalised = " ".join(text.split())
    return TEXT_KEY_PREFIX + hashlib.sha1(normalised.encode(), usedforsecurity=False).hexdigest()[:20]

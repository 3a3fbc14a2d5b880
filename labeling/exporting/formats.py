"""Export formats as pure functions over plain data (no database access).

- prm800k: the PRM800K line schema, one line per labeled solution.
- trl: TRL stepwise supervision rows {"prompt", "completions", "labels"}.
- processbench: {"id", "generator", "problem", "steps", "final_answer_correct", "label"}, plus
  "error_types" of the labeled first error.
- math_shepherd, openrlhf, rlhflow: see training_formats.py; hf-dataset: see hf_dataset.py.
- critique: generative-verifier rows: the steps up to the first error, its index, the critique
  and the rating (solutions rated to the end with no error are rows too, with no critique).

Critiques and error types travel in every format that can carry them: prm800k puts them in
the rated completion (only when there are some, so records without them stay byte-exact),
processbench and critique carry them as fields, and trl (a fixed three-column schema) drops them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

EXPORT_FORMATS = ("prm800k", "trl", "processbench", "critique", "math_shepherd", "openrlhf", "rlhflow", "hf-dataset")
# Written as a directory (JSONL splits and a dataset card), not one JSONL stream.
DIRECTORY_FORMATS = ("hf-dataset",)
# One line per labeling by nature; every training format defaults to one row per solution.
PER_LABELING_FORMATS = ("prm800k", "critique")
# none: one row per labeling; majority: per-step majority vote per solution;
# adjudicated: a resolved adjudication where there is one, else majority
# (which for a single labeling is that labeling).
AGGREGATIONS = ("none", "majority", "adjudicated")
QUESTION_ORDER = (
    "problem", "ground_truth_solution", "ground_truth_answer", "pre_generated_steps",
    "pre_generated_answer", "pre_generated_verifier_score",
)


@dataclass
class StepRating:
    index: int
    rating: int | None
    flagged: bool | None = False
    chosen_completion: int | None = None
    critique: str = ""
    error_types: list[str] = field(default_factory=list)


@dataclass
class Alternative:
    step_index: int
    kind: str  # "alternative" | "human"
    position: int
    text: str
    rating: int | None
    flagged: bool | None
    source: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class LabeledSolution:
    """One annotator's submitted labels for one solution, with everything an export needs."""

    assignment_id: int
    solution_id: int
    labeler: str
    submitted_at: datetime
    problem: str
    ground_truth_answer: str
    ground_truth_solution: str
    steps: list[str]
    final_answer: str
    answer_is_correct: bool | None
    generator: str
    # Per rated step: [index, rating, flagged, chosen_completion, critique, error_types], as the
    # database sends them; `ratings` gives them as StepRating objects when a format needs those.
    label_rows: list[list] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    generation: int | None = None
    verifier_score: float | None = None
    is_quality_control: bool = False
    is_screening: bool = False
    total_time: int = 0
    finish_reason: str | None = None
    extra: dict = field(default_factory=dict)
    problem_key: str = ""  # "source:source_id": the problem's id across databases

    @cached_property
    def ratings(self) -> list[StepRating]:
        return [StepRating(index=i, rating=r, flagged=f, chosen_completion=c, critique=cr or "",
                           error_types=list(t or [])) for i, r, f, c, cr, t in self.label_rows]


def _timestamp(ls: LabeledSolution) -> str:
    raw = ls.extra.get("timestamp_raw")
    if raw:
        return raw
    return ls.submitted_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def prm800k_record(ls: LabeledSolution) -> dict:
    """The PRM800K line for one labeled solution; imported records come back unchanged."""
    unknown = ls.extra.get("unknown", {})
    values = {
        "problem": ls.problem,
        "ground_truth_solution": ls.ground_truth_solution,
        "ground_truth_answer": ls.ground_truth_answer,
        "pre_generated_steps": ls.steps,
        "pre_generated_answer": ls.final_answer,
        "pre_generated_verifier_score": ls.verifier_score,
    }
    keys = ls.extra.get("question_keys")
    if keys is None:
        question = {k: values[k] for k in QUESTION_ORDER}
    else:
        question = {k: values[k] for k in keys if k in values}
    question.update(unknown.get("question", {}))

    by_step: dict[int, list[Alternative]] = {}
    for alt in ls.alternatives:
        by_step.setdefault(alt.step_index, []).append(alt)
    texts = ls.steps
    steps = []
    # label_rows, not StepRating objects: this loop runs once per step label of the campaign.
    for index, rating, flagged, chosen, critique, error_types in ls.label_rows:
        alts = by_step.get(index)
        if not alts:
            first = {"text": texts[index], "rating": rating, "flagged": flagged}
            if critique:
                first["critique"] = critique
            if error_types:
                first["error_types"] = list(error_types)
            steps.append({"completions": [first], "human_completion": None, "chosen_completion": chosen})
            continue
        override = next((a for a in alts if a.kind == "alternative" and a.position == 0), None)
        if override is not None:
            first = {"text": override.text, "rating": override.rating, "flagged": override.flagged}
            first.update(override.extra.get("completion", {}))
            step_extra = override.extra.get("step", {})
        else:
            first = {"text": texts[index], "rating": rating, "flagged": flagged}
            if critique:
                first["critique"] = critique
            if error_types:
                first["error_types"] = list(error_types)
            step_extra = {}
        completions = [first]
        for a in sorted((a for a in alts if a.kind == "alternative" and a.position > 0), key=lambda a: a.position):
            completions.append({"text": a.text, "rating": a.rating, "flagged": a.flagged, **a.extra})
        human = next((a for a in alts if a.kind == "human"), None)
        steps.append(
            {
                "completions": completions,
                "human_completion": _human(human) if human else None,
                "chosen_completion": chosen,
                **step_extra,
            }
        )
    label = {"steps": steps, "total_time": ls.total_time, "finish_reason": ls.finish_reason}
    label.update(unknown.get("label", {}))
    record = {
        "labeler": ls.labeler,
        "timestamp": _timestamp(ls),
        "generation": ls.generation,
        "is_quality_control_question": ls.is_quality_control,
        "is_initial_screening_question": ls.is_screening,
        "question": question,
        "label": label,
    }
    record.update(unknown.get("record", {}))
    return record


def _human(a: Alternative) -> dict:
    values = {"text": a.text, "rating": a.rating, "source": a.source or "human", "flagged": a.flagged}
    extra = dict(a.extra)
    keys = extra.pop("keys", None) or ["text", "rating", "source", "flagged"]
    out = {k: values[k] if k in values else extra.get(k) for k in keys}
    return out


# --- aggregation and the derived training formats --------------------------------


def majority_ratings(labels: list[LabeledSolution]) -> list[int | None]:
    """Per step, the most common rating among annotators who rated it.

    Ties go to the lower rating: a step that half the annotators call wrong is
    not safe to train on as correct. Steps nobody rated are None.
    """
    if len(labels) == 1:
        return ratings_list(labels[0])
    columns = zip(*(ratings_list(ls) for ls in labels), strict=True)
    out: list[int | None] = []
    for column in columns:
        votes = [r for r in column if r is not None]
        if not votes:
            out.append(None)
        elif votes.count(votes[0]) == len(votes):  # unanimous: nearly every step of a campaign
            out.append(votes[0])
        else:
            counts = {r: votes.count(r) for r in set(votes)}
            top = max(counts.values())
            out.append(min(r for r, c in counts.items() if c == top))
    return out


def ratings_list(ls: LabeledSolution) -> list[int | None]:
    out: list[int | None] = [None] * len(ls.steps)
    n = len(out)
    for row in ls.label_rows:
        if row[0] < n:
            out[row[0]] = row[1]
    return out


def trl_row(problem: str, steps: list[str], ratings: list[int | None], *, neutral_is_correct: bool = True):
    """TRL stepwise supervision: steps up to and including the first negative.

    Stops before the first unrated step. Returns None when no step is usable.
    """
    completions, labels = [], []
    for text, rating in zip(steps, ratings, strict=False):
        if rating is None:
            break
        completions.append(text)
        labels.append(rating == 1 or (rating == 0 and neutral_is_correct))
        if rating == -1:
            break
    if not completions:
        return None
    return {"prompt": problem, "completions": completions, "labels": labels}


def first_error_label(ratings: list[int | None]) -> int | None:
    """0-based index of the first negative step, -1 if every step is rated and none is
    negative, None if the solution was labeled neither to its first error nor to the end."""
    for i, rating in enumerate(ratings):
        if rating == -1:
            return i
        if rating is None:
            return None
    return -1


def error_types_at(labels: list[LabeledSolution], index: int) -> list[str]:
    """The error types the labelings give step `index`, most often given first (ties by name)."""
    counts: Counter = Counter()
    for ls in labels:
        for row in ls.label_rows:
            if row[0] == index and row[1] == -1:
                counts.update(dict.fromkeys(row[5] or (), 1))
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def processbench_row(*, row_id: str, ls: LabeledSolution, ratings: list[int | None],
                     labels: list[LabeledSolution] | None = None) -> dict | None:
    label = first_error_label(ratings)
    if label is None:
        return None
    return {
        "id": row_id,
        "generator": ls.generator,
        "problem": ls.problem,
        "steps": ls.steps,
        "final_answer_correct": ls.answer_is_correct,
        "label": label,
        "error_types": error_types_at(labels or [ls], label) if label >= 0 else [],
    }


def critique_row(*, row_id: str, ls: LabeledSolution) -> dict | None:
    """One labeling as a generative-verifier training row, or None when it has no use as one.

    A labeling with a first error gives the steps up to and including it, its 0-based index,
    the critique and the error step's rating (-1); one rated to the end with no negative gives
    every step, error_step -1 and an empty critique (a verifier must also learn to accept).
    A first error without a critique is skipped: there is nothing to learn to write.
    """
    ratings = ratings_list(ls)
    label = first_error_label(ratings)
    if label is None:
        return None
    by_index = {r.index: r for r in ls.ratings}
    if label >= 0:
        err = by_index[label]
        if not err.critique:
            return None
        steps, critique, types, rating = ls.steps[: label + 1], err.critique, list(err.error_types), -1
    else:
        steps, critique, types, rating = ls.steps, "", [], 1
    return {
        "id": row_id,
        "problem": ls.problem,
        "steps": steps,
        "step_ratings": ratings[: len(steps)],
        "error_step": label,
        "critique": critique,
        "error_types": types,
        "rating": rating,
        "final_answer_correct": ls.answer_is_correct,
        "generator": ls.generator,
        "labeler": ls.labeler,
    }

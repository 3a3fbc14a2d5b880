"""The assignment engine's labeling half: drafts and submits.

Invariants every function here keeps:
- after a draft save returns, a reload shows exactly that state: ratings,
  flags (also on steps not rated yet), the undo history and the cursor;
- a submit writes the labels, their summary and the QC consequences in one
  transaction; a replay (same submission id) is answered from what is
  stored and writes nothing;
- nothing is written for an assignment that is submitted, skipped or whose
  lease lapsed (the page keeps its copy and says why).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from labeling.errors import Conflict, ValidationFailed
from labeling.models import Assignment, Campaign, Step, StepAlternative, StepLabel, Task
from labeling.services.after_submit import submit_consequences
from labeling.services.assignments import lease_until, own_locked, own_locked_as_member, require_live_lease
from labeling.services.prelabels import step_hints
from labeling.services.segments import assignment_segments_apply
from labeling.services.summaries import assignments_summarize

FINISH_REASONS = set(Assignment.FinishReason.values)
# Undo entries kept in a draft; older ones drop off the bottom of the stack.
MAX_HISTORY = 200


# `segments` left out of a draft save or submit: keep the segmentation the draft has.
UNCHANGED = object()

# A critique is a paragraph or two; past this it is a paste gone wrong.
MAX_CRITIQUE = 10000


@dataclass(frozen=True)
class RatingIn:
    step: int
    rating: int
    flagged: bool = False
    # Only on a negative step (a submit refuses them elsewhere; a draft keeps them, so changing
    # a rating and back does not lose what was written).
    critique: str = ""
    error_types: tuple[str, ...] = ()


def _step_ids(a: Assignment) -> dict[int, int]:
    return dict(Step.objects.filter(solution_id=a.solution_id).values_list("index", "pk"))


def _check_step(step, n_steps: int, what: str) -> int:
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < n_steps:
        raise ValidationFailed(f"{what}: step {step!r} does not exist (the solution has {n_steps} steps)")
    return step


def taxonomy_keys(campaign: Campaign) -> list[str]:
    return [t["key"] for t in campaign.error_taxonomy or []]


def _clean_ratings(ratings: list[RatingIn], n_steps: int, campaign: Campaign) -> list[RatingIn]:
    seen = set()
    keys = set(taxonomy_keys(campaign))
    out = []
    for r in ratings:
        _check_step(r.step, n_steps, "ratings")
        if r.rating not in (-1, 0, 1):
            raise ValidationFailed(f"rating of step {r.step} must be -1, 0 or 1")
        if r.step in seen:
            raise ValidationFailed(f"step {r.step} is rated twice")
        seen.add(r.step)
        critique = r.critique or ""
        if not isinstance(critique, str) or len(critique) > MAX_CRITIQUE or "\x00" in critique:
            raise ValidationFailed(
                f"critique of step {r.step} must be text of at most {MAX_CRITIQUE:,} characters, without NUL")
        types = tuple(dict.fromkeys(r.error_types or ()))  # order kept, repeats dropped
        if types and campaign.error_types == Campaign.Ask.OFF:
            raise ValidationFailed("this campaign does not take error types")
        unknown = [t for t in types if t not in keys]
        if unknown:
            raise ValidationFailed(
                f"error type(s) {', '.join(map(repr, unknown))} of step {r.step} are not in this campaign's "
                f"taxonomy ({', '.join(sorted(keys)) or 'empty'})")
        if critique.strip() and campaign.critique == Campaign.Ask.OFF:
            raise ValidationFailed("this campaign does not take critiques")
        out.append(RatingIn(step=r.step, rating=r.rating, flagged=r.flagged, critique=critique.strip(),
                            error_types=types))
    return sorted(out, key=lambda r: r.step)


def validate_critiques(*, campaign: Campaign, ratings: list[RatingIn], finish_reason: str) -> None:
    """On submit: critiques and types sit on negative steps only, and what the campaign requires is there."""
    for r in ratings:
        if r.rating != -1 and (r.critique or r.error_types):
            raise ValidationFailed(
                f"step {r.step} is rated {r.rating:+d}: only a negative step carries a critique or error types")
    negatives = [r for r in ratings if r.rating == -1]
    if finish_reason != "found_error" or not negatives:
        return
    first = negatives[0]
    if campaign.critique == Campaign.Ask.REQUIRED and not first.critique:
        raise ValidationFailed(
            f"this campaign asks for a critique of the first error: say what is wrong with step {first.step + 1}")
    if campaign.error_types == Campaign.Ask.REQUIRED and not first.error_types:
        raise ValidationFailed(
            f"this campaign asks for the error type of the first error: pick one for step {first.step + 1}")


def clean_ui(ui: dict | None, n_steps: int) -> dict:
    """The page's own state kept with a draft: cursor, flags on unrated steps, undo history.

    `history` is a stack of entries, each the list of step states a change
    replaced ({"step", "rating": -1|0|1|null, "flagged"}), so undo restores
    every step one key changed (a negative in first-error mode clears later ones).
    """
    ui = ui or {}
    cursor = ui.get("cursor", 0)
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        raise ValidationFailed("ui.cursor must be a step index")
    flags = sorted({_check_step(i, n_steps, "ui.flags") for i in ui.get("flags", [])})
    history = []
    for entry in list(ui.get("history", []))[-MAX_HISTORY:]:
        states = []
        for s in entry:
            rating = s.get("rating")
            if rating not in (-1, 0, 1, None):
                raise ValidationFailed("ui.history: a rating must be -1, 0, 1 or null")
            states.append({"step": _check_step(s.get("step"), n_steps, "ui.history"), "rating": rating,
                           "flagged": bool(s.get("flagged", False))})
        history.append(states)
    return {"cursor": min(cursor, max(n_steps - 1, 0)), "flags": flags, "history": history}


def _replace_labels(a: Assignment, ratings: list[RatingIn], step_ids: dict[int, int], *, final: bool) -> None:
    keep = [step_ids[r.step] for r in ratings]
    hints = step_hints(a)
    StepLabel.objects.filter(assignment=a).exclude(step_id__in=keep).delete()
    StepLabel.objects.bulk_create(
        [
            StepLabel(assignment=a, step_id=step_ids[r.step], rating=r.rating, flagged=r.flagged,
                      chosen_completion=None if r.rating == -1 else 0, final=final, critique=r.critique,
                      error_types=list(r.error_types),
                      hint=hints[r.step] if r.step < len(hints) else None)
            for r in ratings
        ],
        update_conflicts=True,
        unique_fields=["assignment", "step"],
        update_fields=["rating", "flagged", "chosen_completion", "final", "critique", "error_types", "hint",
                       "labeled_at"],
    )


@transaction.atomic
def assignment_save_draft(
    *, assignment_id: int, user, ratings: list[RatingIn], active_ms: int = 0,
    corrected_step: str = "", note: str = "", ui: dict | None = None, segments=UNCHANGED,
) -> Assignment:
    """Store the labeling so far (the whole current state) and renew the lease.

    Invariant: after it returns, a reload shows exactly these ratings, this
    page state (`ui`, see `clean_ui`) and this segmentation (`segments`, see
    services.segments; ratings index its steps). Drafts are not validated
    against the mode (the annotator is mid-way).
    """
    a = own_locked(assignment_id=assignment_id, user=user)
    require_live_lease(a)
    if segments is not UNCHANGED:
        assignment_segments_apply(assignment=a, segments=segments)
    step_ids = _step_ids(a)
    ratings = _clean_ratings(ratings, len(step_ids), a.campaign)
    ui = clean_ui(ui, len(step_ids))
    _replace_labels(a, ratings, step_ids, final=False)
    a.active_ms = max(a.active_ms, int(active_ms or 0))
    a.lease_expires_at = lease_until(a.campaign, shown=a.shown_at is not None)
    a.extra = {**a.extra, "draft": {"corrected_step": corrected_step or "", "note": note or "", "ui": ui}}
    a.save(update_fields=["active_ms", "lease_expires_at", "extra", "solution", "edited_from", "updated_at"])
    return a


def validate_submission(
    *, mode: str, n_steps: int, ratings: list[RatingIn], finish_reason: str | None, note: str
) -> str:
    """Check ratings against the campaign mode; return the finish reason to store.

    `solution` / `found_error` are derived from the ratings when the client
    sends none (or `auto`); a contradicting one is refused.
    """
    if finish_reason in (None, "", "auto"):
        finish_reason = "found_error" if any(r.rating == -1 for r in ratings) else "solution"
    if finish_reason not in FINISH_REASONS:
        raise ValidationFailed(f"finish_reason must be one of {', '.join(sorted(FINISH_REASONS))}")
    if finish_reason == "bad_problem" and not note.strip():
        raise ValidationFailed("say what is wrong with the problem (a reason is required for bad_problem)")
    steps = [r.step for r in ratings]
    negatives = [r.step for r in ratings if r.rating == -1]
    if mode == Campaign.Mode.FIRST_ERROR:
        if steps != list(range(len(steps))):
            raise ValidationFailed("in first-error mode steps are rated in order, without gaps")
        if negatives and negatives[0] != steps[-1]:
            raise ValidationFailed(
                f"step {negatives[0]} is negative: in first-error mode no step after the first negative is rated"
            )
        if finish_reason == "found_error" and not negatives:
            raise ValidationFailed("found_error needs a negative step")
        if finish_reason == "solution" and (negatives or len(steps) != n_steps):
            raise ValidationFailed("rate every step (with no negative) to finish as 'solution'")
    else:
        if finish_reason in ("solution", "found_error") and len(steps) != n_steps:
            missing = sorted(set(range(n_steps)) - set(steps))
            raise ValidationFailed(f"every step must be rated in this campaign; unrated: {missing}")
        if finish_reason == "solution" and negatives:
            raise ValidationFailed("a negative step was rated: finish as 'found_error'")
        if finish_reason == "found_error" and not negatives:
            raise ValidationFailed("found_error needs a negative step")
    return finish_reason


@transaction.atomic
def assignment_submit(
    *, assignment_id: int, user, submission_id: uuid.UUID, ratings: list[RatingIn],
    finish_reason: str | None = None, note: str = "", corrected_step: str = "", active_ms: int = 0,
    segments=UNCHANGED,
) -> Assignment:
    """Submit the final labels. Idempotent per `submission_id`.

    A replay (same submission id) returns the stored assignment and writes
    nothing. A submitted one (another tab) is refused with AlreadySubmitted,
    an expired one with LeaseExpired, a foreign one with Forbidden; the
    client keeps its draft. Ratings must fit the campaign mode; critiques and
    error types sit on negative steps only, with types from the campaign's
    taxonomy, and what the campaign requires of the first error is there; with
    `segments` the labels are of that re-segmentation (services.segments). In the same
    transaction the label summary is written and the QC consequences are
    applied (gold score, screening verdict, auto-pause, adjudication queue).
    """
    # The QC consequences lock the membership: take it first, as next and open do (no deadlock).
    a = own_locked_as_member(assignment_id=assignment_id, user=user)
    if a.submission_id == submission_id and a.status == Assignment.Status.SUBMITTED:
        return a
    if Assignment.objects.filter(submission_id=submission_id).exclude(pk=a.pk).exists():
        raise Conflict("this submission id was already used for another task")
    require_live_lease(a)
    campaign = a.campaign
    if segments is not UNCHANGED:
        assignment_segments_apply(assignment=a, segments=segments)
    step_ids = _step_ids(a)
    ratings = _clean_ratings(ratings, len(step_ids), campaign)
    reason = validate_submission(
        mode=campaign.mode, n_steps=len(step_ids), ratings=ratings, finish_reason=finish_reason, note=note
    )
    validate_critiques(campaign=campaign, ratings=ratings, finish_reason=reason)
    corrected_step = (corrected_step or "").strip()
    negatives = [r.step for r in ratings if r.rating == -1]
    if corrected_step:
        if not campaign.allow_corrections:
            raise ValidationFailed("this campaign does not take corrected steps")
        if not negatives:
            raise ValidationFailed("a corrected step replaces a negative step; rate one negative first")
    _replace_labels(a, ratings, step_ids, final=True)
    StepAlternative.objects.filter(assignment=a, kind=StepAlternative.Kind.HUMAN).delete()
    if corrected_step:
        StepAlternative.objects.create(
            assignment=a, step_id=step_ids[negatives[0]], kind=StepAlternative.Kind.HUMAN, position=0,
            text=corrected_step, rating=None, flagged=False, source="human",
        )
    now = timezone.now()
    a.status = Assignment.Status.SUBMITTED
    a.submitted_at = now
    a.finish_reason = reason
    a.finish_note = note.strip()
    a.active_ms = max(a.active_ms, int(active_ms or 0))
    a.submission_id = submission_id
    a.lease_expires_at = None
    a.extra = {k: v for k, v in a.extra.items() if k != "draft"}
    try:
        with transaction.atomic():
            a.save()
    except IntegrityError as exc:  # the same submission id raced in on another row
        raise Conflict("this submission id was already used") from exc
    Task.objects.filter(pk=a.task_id).update(completed=F("completed") + 1)
    assignments_summarize(assignment_ids=[a.pk])
    a.refresh_from_db(fields=["rated_steps", "positive_steps", "neutral_steps", "negative_steps", "first_error_index"])
    submit_consequences(assignment=a)
    return a

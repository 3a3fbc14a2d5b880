"""The assignment engine: leasing tasks to annotators, drafts, heartbeats, submit, skip.

Invariants every function here keeps:
- a task never has more leased + submitted assignments than the campaign's
  overlap (`Task.taken`, moved only under the task's row lock);
- an annotator never holds two assignments for one solution in a campaign
  (database unique constraint), so never sees a solution twice;
- every write happens in one transaction; a replayed submit is answered from
  what is stored and writes nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from labeling.errors import Conflict, Forbidden, LeaseExpired, NotFound, ValidationFailed
from labeling.models import Assignment, Campaign, Membership, Step, StepAlternative, StepLabel, Task
from labeling.services.quality import quality_after_submit
from labeling.services.summaries import assignments_summarize

FINISH_REASONS = set(Assignment.FinishReason.values)


@dataclass(frozen=True)
class RatingIn:
    step: int
    rating: int
    flagged: bool = False


def _membership(*, user, campaign: Campaign, lock: bool = False) -> Membership:
    qs = Membership.objects.filter(campaign=campaign, user=user)
    # Locking the membership row serialises one annotator's requests (a
    # double click, two tabs) without touching anyone else's.
    membership = (qs.select_for_update() if lock else qs).first()
    if membership is None:
        raise Forbidden(f"you are not a member of campaign '{campaign.slug}'")
    if membership.status == Membership.Status.PAUSED:
        raise Forbidden(
            "your labeling in this campaign is paused"
            + (f": {membership.status_reason}" if membership.status_reason else "")
            + "; your submitted work is kept. Contact the campaign manager."
        )
    if campaign.status != Campaign.Status.ACTIVE:
        raise Forbidden(f"campaign '{campaign.slug}' is {campaign.status}")
    return membership


def _lease_until(campaign: Campaign):
    return timezone.now() + timedelta(minutes=campaign.lease_minutes)


def _take_slot(task_id: int, overlap: int) -> None:
    # SET clauses read the old row: after the increment the task stays open
    # only if taken + 1 < overlap. Gold items stay open: every annotator gets them.
    Task.objects.filter(pk=task_id).update(
        taken=F("taken") + 1,
        is_open=Case(When(Q(is_gold=True) | Q(taken__lt=overlap - 1), then=Value(True)), default=Value(False)),
    )


def _free_slot(task_id: int) -> None:
    Task.objects.filter(pk=task_id).update(taken=F("taken") - 1, is_open=True)


@transaction.atomic
def assignment_next(
    *, user, campaign: Campaign, exclude_id: int | None = None, rng: random.Random | None = None
) -> Assignment | None:
    """The annotator's next assignment in `campaign`, leased until now + lease minutes.

    Order: an unfinished lease of theirs (renewed), else one of theirs that
    expired while the task still has room (re-leased, drafts intact), else a
    new task: a gold item with probability qc_rate (falling back to normal
    work when no gold is left), else the highest-priority open task (import
    order breaks ties); gold is never served in place of normal work. A member
    in screening gets only gold items (screening ones first) until they have
    submitted the screening set, then nothing until it is scored. Tasks are
    picked with SELECT ... FOR UPDATE SKIP LOCKED, so concurrent callers never
    block on or double-assign a task. `exclude_id` (the task on screen) lets
    the page fetch one task ahead. Returns None when nothing is left.
    """
    membership = _membership(user=user, campaign=campaign, lock=True)
    now = timezone.now()
    # of=self: the expired-lease lookup joins the task, whose row must not be locked here.
    mine = Assignment.objects.select_for_update(of=("self",)).filter(campaign=campaign, annotator=user)
    leased = list(mine.filter(status=Assignment.Status.LEASED).exclude(pk=exclude_id).order_by("leased_at", "pk"))
    if leased:
        a = leased[0]
        a.lease_expires_at = _lease_until(campaign)
        a.save(update_fields=["lease_expires_at", "updated_at"])
        return a

    # An expired lease of ours whose task still has room: give it back with its drafts.
    expired = (
        mine.filter(status=Assignment.Status.EXPIRED, task__is_open=True)
        .exclude(pk=exclude_id)
        .order_by("-updated_at")
        .first()
    )
    if expired is not None:
        task = Task.objects.select_for_update(skip_locked=True).filter(pk=expired.task_id, is_open=True).first()
        if task is not None:
            _take_slot(task.pk, campaign.overlap)
            expired.status = Assignment.Status.LEASED
            expired.leased_at = now
            expired.lease_expires_at = _lease_until(campaign)
            expired.save(update_fields=["status", "leased_at", "lease_expires_at", "updated_at"])
            return expired

    screening = membership.status == Membership.Status.SCREENING
    if screening:
        task = _next_screening_task(campaign, user)
    else:
        rng = rng or random.Random()
        want_gold = campaign.qc_rate > 0 and rng.random() < campaign.qc_rate
        task = (_pick(campaign, user, gold=True) if want_gold else None) or _pick(campaign, user, gold=False)
    if task is None:
        return None
    _take_slot(task.pk, campaign.overlap)
    return Assignment.objects.create(
        campaign=campaign, task=task, solution_id=task.solution_id, annotator=user,
        status=Assignment.Status.LEASED, leased_at=now, lease_expires_at=_lease_until(campaign),
        queue_strategy=task.queue_strategy, queue_model_version=task.queue_model_version,
        queue_score=task.queue_score, queue_generation=task.queue_generation,
        is_quality_control=task.is_gold, is_screening=screening,
    )


def _next_screening_task(campaign: Campaign, user) -> Task | None:
    done = Assignment.objects.filter(
        campaign=campaign, annotator=user, is_screening=True, status=Assignment.Status.SUBMITTED
    ).count()
    if done >= campaign.screening_size:
        return None
    task = _pick(campaign, user, gold=True, order=("-is_screening", "id"))
    if task is None and done == 0 and not Task.objects.filter(campaign=campaign, is_gold=True).exists():
        raise Conflict(
            "your screening cannot start: this campaign has no gold items yet. The campaign manager has to add them."
        )
    return task


def _pick(campaign: Campaign, user, *, gold: bool, order=("-priority", "id")) -> Task | None:
    seen = Assignment.objects.filter(task_id=OuterRef("pk"), annotator=user)
    return (
        Task.objects.filter(campaign=campaign, is_gold=gold, is_open=True)
        .filter(~Exists(seen))
        .order_by(*order)
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def _own_locked(*, assignment_id: int, user) -> Assignment:
    # of=self: locking the joined campaign row too would serialise every submit
    # and deadlock against inserts that take a key-share lock on it.
    a = (
        Assignment.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=assignment_id).first()
    )
    if a is None:
        raise NotFound(f"no assignment {assignment_id}")
    if a.annotator_id != user.pk:
        raise Forbidden("this assignment belongs to another annotator")
    return a


def _require_live_lease(a: Assignment) -> None:
    if a.status == Assignment.Status.SUBMITTED:
        raise Conflict("this assignment was already submitted")
    if a.status != Assignment.Status.LEASED or a.lease_expires_at <= timezone.now():
        raise LeaseExpired(
            "your lease on this task expired, so it may have gone to someone else. Your ratings are kept in "
            "this browser: press 'Resume' to get the task back if it is still open."
        )


def _step_ids(a: Assignment) -> dict[int, int]:
    return dict(Step.objects.filter(solution_id=a.solution_id).values_list("index", "pk"))


def _clean_ratings(ratings: list[RatingIn], n_steps: int) -> list[RatingIn]:
    seen = set()
    for r in ratings:
        if not 0 <= r.step < n_steps:
            raise ValidationFailed(f"step {r.step} does not exist (the solution has {n_steps} steps)")
        if r.rating not in (-1, 0, 1):
            raise ValidationFailed(f"rating of step {r.step} must be -1, 0 or 1")
        if r.step in seen:
            raise ValidationFailed(f"step {r.step} is rated twice")
        seen.add(r.step)
    return sorted(ratings, key=lambda r: r.step)


def _replace_labels(a: Assignment, ratings: list[RatingIn], step_ids: dict[int, int]) -> None:
    keep = [step_ids[r.step] for r in ratings]
    StepLabel.objects.filter(assignment=a).exclude(step_id__in=keep).delete()
    StepLabel.objects.bulk_create(
        [
            StepLabel(assignment=a, step_id=step_ids[r.step], rating=r.rating, flagged=r.flagged,
                      chosen_completion=None if r.rating == -1 else 0)
            for r in ratings
        ],
        update_conflicts=True,
        unique_fields=["assignment", "step"],
        update_fields=["rating", "flagged", "chosen_completion", "labeled_at"],
    )


@transaction.atomic
def assignment_save_draft(
    *, assignment_id: int, user, ratings: list[RatingIn], active_ms: int = 0,
    corrected_step: str = "", note: str = "",
) -> Assignment:
    """Store the ratings so far (the whole current state) and extend the lease.

    Invariant: after it returns, a reload shows exactly these ratings.
    Drafts are not validated against the mode (the annotator is mid-way).
    """
    a = _own_locked(assignment_id=assignment_id, user=user)
    _require_live_lease(a)
    step_ids = _step_ids(a)
    ratings = _clean_ratings(ratings, len(step_ids))
    _replace_labels(a, ratings, step_ids)
    a.active_ms = max(a.active_ms, int(active_ms or 0))
    a.lease_expires_at = _lease_until(a.campaign)
    a.extra = {**a.extra, "draft": {"corrected_step": corrected_step or "", "note": note or ""}}
    a.save(update_fields=["active_ms", "lease_expires_at", "extra", "updated_at"])
    return a


@transaction.atomic
def assignment_heartbeat(*, assignment_id: int, user, active_ms: int = 0) -> Assignment:
    """Extend a live lease by the campaign's lease time and record active time."""
    a = _own_locked(assignment_id=assignment_id, user=user)
    _require_live_lease(a)
    a.active_ms = max(a.active_ms, int(active_ms or 0))
    a.lease_expires_at = _lease_until(a.campaign)
    a.save(update_fields=["active_ms", "lease_expires_at", "updated_at"])
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
) -> Assignment:
    """Submit the final labels. Idempotent per `submission_id`.

    A replay (same submission id) returns the stored assignment and writes
    nothing. An expired or foreign assignment is refused (the client keeps
    its draft). Ratings must fit the campaign mode. In the same transaction
    the label summary is written and the QC consequences are applied (gold
    score, screening verdict, auto-pause, adjudication queue).
    """
    a = _own_locked(assignment_id=assignment_id, user=user)
    if a.submission_id == submission_id and a.status == Assignment.Status.SUBMITTED:
        return a
    if Assignment.objects.filter(submission_id=submission_id).exclude(pk=a.pk).exists():
        raise Conflict("this submission id was already used for another task")
    _require_live_lease(a)
    campaign = a.campaign
    step_ids = _step_ids(a)
    ratings = _clean_ratings(ratings, len(step_ids))
    reason = validate_submission(
        mode=campaign.mode, n_steps=len(step_ids), ratings=ratings, finish_reason=finish_reason, note=note
    )
    corrected_step = (corrected_step or "").strip()
    negatives = [r.step for r in ratings if r.rating == -1]
    if corrected_step:
        if not campaign.allow_corrections:
            raise ValidationFailed("this campaign does not take corrected steps")
        if not negatives:
            raise ValidationFailed("a corrected step replaces a negative step; rate one negative first")
    _replace_labels(a, ratings, step_ids)
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
    quality_after_submit(assignment=a)
    return a


@transaction.atomic
def assignment_skip(*, assignment_id: int, user, note: str = "") -> Assignment:
    """Give a leased task back without labels; it goes to another annotator, never to this one."""
    a = _own_locked(assignment_id=assignment_id, user=user)
    if a.status == Assignment.Status.SKIPPED:
        return a
    if a.status != Assignment.Status.LEASED:
        raise Conflict(f"only a leased task can be skipped (this one is {a.status})")
    a.status = Assignment.Status.SKIPPED
    a.finish_note = note.strip()
    a.lease_expires_at = None
    a.save(update_fields=["status", "finish_note", "lease_expires_at", "updated_at"])
    _free_slot(a.task_id)
    return a

"""Quality control: gold items, scoring against gold, screening and auto-pause.

Invariants every function here keeps:
- gold status is never visible to annotators: it lives on the task and the
  assignment, which the annotator payload does not expose;
- scoring and status changes happen in the transaction of the submit that
  caused them, so a label is never stored without its QC consequences;
- a pause only stops new work: submitted labels are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from labeling.errors import NotFound, ValidationFailed
from labeling.models import (
    Assignment,
    Campaign,
    GoldScore,
    GoldStepLabel,
    Membership,
    Solution,
    Step,
    StepLabel,
    Task,
)
from labeling.quality.metrics import gold_compare

SCORED_REASONS = {Assignment.FinishReason.SOLUTION, Assignment.FinishReason.FOUND_ERROR}


def ratings_validate(*, mode: str, ratings: list[int | None], n_steps: int) -> list[int | None]:
    """Check a full reference labeling (gold or adjudicated) against the campaign mode.

    Returns the ratings padded with None to `n_steps`. In first-error mode the
    rated steps are a prefix that ends at the first negative step, or covers
    every step when none is negative.
    """
    if len(ratings) > n_steps:
        raise ValidationFailed(f"{len(ratings)} ratings given for a solution with {n_steps} steps")
    ratings = list(ratings) + [None] * (n_steps - len(ratings))
    for i, r in enumerate(ratings):
        if r not in (-1, 0, 1, None):
            raise ValidationFailed(f"rating of step {i} must be -1, 0, 1 or empty")
    rated = [i for i, r in enumerate(ratings) if r is not None]
    if not rated:
        raise ValidationFailed("rate at least one step")
    if mode == Campaign.Mode.FIRST_ERROR:
        if rated != list(range(len(rated))):
            gap = next(i for i in range(len(rated)) if ratings[i] is None)
            raise ValidationFailed(f"in first-error mode steps are rated in order, without gaps: step {gap} "
                                   f"(row {gap + 1}) is unrated while a later one is rated")
        negatives = [i for i in rated if ratings[i] == -1]
        if negatives and negatives[0] != rated[-1]:
            raise ValidationFailed(f"step {negatives[0]} is negative: no step after the first error is rated")
        if not negatives and len(rated) != n_steps:
            raise ValidationFailed("with no negative step, every step must be rated")
    elif len(rated) != n_steps:
        unrated = sorted(set(range(n_steps)) - set(rated))
        raise ValidationFailed(f"every step must be rated in this campaign; unrated: {unrated}")
    return ratings


@transaction.atomic
def _gold_types(campaign: Campaign, ratings: list[int | None], error_types: dict[int, list[str]] | None,
                kept: dict[int, list[str]]) -> dict[int, list[str]]:
    keys = {t["key"] for t in campaign.error_taxonomy or []}
    if error_types is None:  # not given: a step that stays negative keeps its types
        return {i: t for i, t in kept.items() if i < len(ratings) and ratings[i] == -1}
    out = {}
    for i, types in error_types.items():
        types = list(dict.fromkeys(types))
        if not types:
            continue
        if not isinstance(i, int) or not 0 <= i < len(ratings) or ratings[i] != -1:
            raise ValidationFailed(f"gold error types on step {i}: only a negative gold step carries error types")
        unknown = [t for t in types if t not in keys]
        if unknown:
            raise ValidationFailed(f"gold error type(s) {', '.join(map(repr, unknown))} are not in this campaign's "
                                   f"taxonomy")
        out[i] = types
    return out


@transaction.atomic
def gold_set(
    *, campaign: Campaign, solution: Solution, ratings: list[int | None], user=None, note: str = "",
    screening: bool = False, error_types: dict[int, list[str]] | None = None,
) -> Task:
    """Make `solution` a gold item of `campaign` with these reference step ratings.

    Invariants: the solution's gold labels are exactly `ratings` afterwards
    (earlier gold labels are replaced); its task in the campaign exists, is
    gold and open (gold items are served to every annotator, so they never
    close on overlap). Labels already submitted on it are not re-scored.
    `error_types` (step index -> keys of the campaign's taxonomy) sits on
    negative gold steps only; when it is not given, a step that stays
    negative keeps the types it had.
    """
    steps = list(Step.objects.filter(solution=solution).order_by("index").values_list("index", "pk"))
    ratings = ratings_validate(mode=campaign.mode, ratings=ratings, n_steps=len(steps))
    kept = dict(GoldStepLabel.objects.filter(solution=solution).values_list("step__index", "error_types"))
    types = _gold_types(campaign, ratings, error_types, kept)
    GoldStepLabel.objects.filter(solution=solution).delete()
    GoldStepLabel.objects.bulk_create(
        [
            GoldStepLabel(step_id=pk, solution=solution, rating=ratings[idx], note=note, created_by=user,
                          error_types=types.get(idx, []))
            for idx, pk in steps
            if ratings[idx] is not None
        ]
    )
    task, _ = Task.objects.get_or_create(campaign=campaign, solution=solution)
    task.is_gold = True
    task.is_screening = screening or task.is_screening
    task.is_open = True
    task.queue_strategy = "gold"
    task.save(update_fields=["is_gold", "is_screening", "is_open", "queue_strategy"])
    return task


@transaction.atomic
def gold_unset(*, campaign: Campaign, solution: Solution) -> Task:
    """Return a gold item to the normal pool (its reference labels are kept for the record)."""
    task = Task.objects.select_for_update().get(campaign=campaign, solution=solution)
    task.is_gold = False
    task.is_screening = False
    task.is_open = task.taken < campaign.overlap
    task.save(update_fields=["is_gold", "is_screening", "is_open"])
    return task


def _ratings_by_index(qs) -> dict[int, int | None]:
    return dict(qs.values_list("step__index", "rating"))


def gold_for_segments(gold: dict[int, int | None], segments) -> dict[int, int | None]:
    """Gold by served step index -> gold by labeled step index of a re-segmentation."""
    out = {}
    for k, pieces in enumerate(segments):
        refs = [gold[i] for i in dict.fromkeys(p[0] for p in pieces) if gold.get(i) is not None]
        if refs:
            out[k] = min(refs)
    return out


def gold_score_record(*, assignment: Assignment) -> GoldScore | None:
    """Score a submitted gold labeling against the reference labels (in the caller's transaction).

    Give-ups and bad-problem reports are not scored: they say nothing about
    the annotator's step judgement. Returns None when nothing was scored.
    """
    if assignment.finish_reason not in SCORED_REASONS:
        return None
    served = assignment.edited_from_id or assignment.solution_id
    gold = _ratings_by_index(GoldStepLabel.objects.filter(solution_id=served))
    if not gold:
        return None
    mine = _ratings_by_index(StepLabel.objects.filter(assignment=assignment))
    if assignment.edited_from_id:
        # Re-segmented: each labeled step is scored against the lowest gold rating of the served
        # steps it is made of (a half of a wrong step is held to "wrong"; a merge that swallows the
        # gold error is negative), so splitting or merging never takes a step out of QC.
        gold = gold_for_segments(gold, assignment.extra.get("segments") or [])
    n = max([*gold, *mine]) + 1
    cmp = gold_compare([gold.get(i) for i in range(n)], [mine.get(i) for i in range(n)])
    score, _ = GoldScore.objects.update_or_create(
        assignment=assignment,
        defaults=dict(
            campaign_id=assignment.campaign_id, annotator_id=assignment.annotator_id,
            is_screening=assignment.is_screening, compared=cmp.compared, matches=cmp.matches,
            misses=cmp.misses, gold_negatives=cmp.gold_negatives, false_alarms=cmp.false_alarms,
            gold_fine=cmp.gold_fine, first_error_exact=cmp.first_error_exact,
            first_error_within_one=cmp.first_error_within_one, gold_first_error=cmp.gold_first_error,
            label_first_error=cmp.label_first_error,
        ),
    )
    return score


@dataclass(frozen=True)
class Accuracy:
    matches: int
    compared: int
    items: int

    @property
    def value(self) -> float | None:
        return self.matches / self.compared if self.compared else None

    def describe(self) -> str:
        if self.value is None:
            return "no comparable steps"
        return f"{self.value:.0%} ({self.matches}/{self.compared} steps over {self.items} gold item(s))"


def _accuracy(scores) -> Accuracy:
    # Works on a sliced queryset too (the auto-pause window).
    rows = list(scores.values_list("matches", "compared"))
    return Accuracy(sum(m for m, _ in rows), sum(c for _, c in rows), len(rows))


def screening_status(*, campaign: Campaign, user) -> dict:
    """Where an annotator stands in screening: items needed, done, and the accuracy so far."""
    needed = min(campaign.screening_size, Task.objects.filter(campaign=campaign, is_gold=True).count())
    scores = GoldScore.objects.filter(campaign=campaign, annotator=user, is_screening=True)
    done = Assignment.objects.filter(
        campaign=campaign, annotator=user, is_screening=True, status=Assignment.Status.SUBMITTED
    ).count()
    return {"needed": needed, "done": done, "accuracy": _accuracy(scores)}


def _set_status(membership: Membership, status: str, reason: str, by=None) -> None:
    membership.status = status
    membership.status_reason = reason
    membership.status_changed_at = timezone.now()
    membership.status_changed_by = by
    membership.save(update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"])


def membership_quality_update(*, campaign: Campaign, user) -> Membership | None:
    """After a gold submit: finish screening, or auto-pause on low recent QC accuracy.

    Screening ends once the annotator has submitted the screening set
    (min(screening_size, gold items)); they become active when their step
    accuracy against gold reaches the threshold, else paused with the figure.
    Auto-pause looks at the last `autopause_window` scored QC items only, so
    an annotator who improves is judged on recent work. Runs in the caller's
    transaction with the membership row locked.
    """
    membership = Membership.objects.select_for_update().filter(campaign=campaign, user=user).first()
    if membership is None or membership.role != Membership.Role.ANNOTATOR:
        return membership
    if membership.status == Membership.Status.SCREENING:
        st = screening_status(campaign=campaign, user=user)
        if st["needed"] == 0 or st["done"] < st["needed"]:
            return membership
        acc: Accuracy = st["accuracy"]
        passed = acc.value is not None and acc.value >= campaign.screening_threshold
        verdict = "passed" if passed else "failed"
        _set_status(
            membership, Membership.Status.ACTIVE if passed else Membership.Status.PAUSED,
            f"{verdict} screening: agreement with gold {acc.describe()}; threshold "
            f"{campaign.screening_threshold:.0%}",
        )
        return membership
    window = campaign.autopause_window
    if membership.status != Membership.Status.ACTIVE or window == 0:
        return membership
    recent = GoldScore.objects.filter(campaign=campaign, annotator=user, is_screening=False).order_by(
        "-created_at", "-pk"
    )[:window]
    acc = _accuracy(recent)
    if acc.items >= window and acc.value is not None and acc.value < campaign.autopause_threshold:
        _set_status(
            membership, Membership.Status.PAUSED,
            f"auto-paused: QC accuracy {acc.describe()} over the last {window} gold items is below "
            f"{campaign.autopause_threshold:.0%}",
        )
    return membership


@transaction.atomic
def membership_status_set(*, campaign: Campaign, member_id: int, status: str, by, reason: str = "") -> Membership:
    """A manager's override of an annotator's status (e.g. pass a failed screening, lift a pause).

    Invariant: the reason shown to the annotator says who changed it; work
    already submitted is untouched.
    """
    if status not in Membership.Status.values:
        raise ValidationFailed(f"status must be one of {', '.join(Membership.Status.values)}")
    membership = Membership.objects.select_for_update().filter(campaign=campaign, user_id=member_id).first()
    if membership is None:
        raise NotFound(f"user {member_id} is not a member of '{campaign.slug}'")
    text = reason.strip() or f"set to {status} by a campaign manager"
    _set_status(membership, status, f"{text} ({by.username}, {timezone.now():%Y-%m-%d %H:%M})", by=by)
    return membership


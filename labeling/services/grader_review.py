"""Grader review: solutions where a person should decide whether the final answer is right.

The grader (math-verify over the extracted answer) misjudges some MATH answers: intervals, sets,
`.05` against `1/20`. A solution is queued, once per campaign, when
- an annotator finishes it as `solution` (every step fine) while the grader says the answer is wrong;
- an annotator finds no error but flags the answer step (the last one);
- the grader could not decide (unparsable, a timeout) or extracted no answer at all.

Invariants:
- a resolution sets `Solution.answer_is_correct` (what exports and training read) and keeps the
  grader's own verdict in `Solution.grader_is_correct`; who and when are stored on the review;
- a solution is queued once per campaign; a resolved review is not reopened by later labels;
- only campaign managers, designated experts and admins resolve.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from labeling.errors import Forbidden, NotFound, ValidationFailed
from labeling.models import Assignment, Campaign, GraderReview, Solution, StepLabel, Task
from labeling.services.adjudication import can_adjudicate
from labeling.services.segments import solution_family

Reason = GraderReview.Reason


def _unsure(sol: Solution) -> bool:
    # The grader calls a solution stating no answer wrong (a truncated sample did not solve the
    # problem), but an extraction that found nothing is as often the extractor's miss.
    return sol.answer_is_correct is None or not sol.final_answer.strip()


def _reason_for(assignment: Assignment) -> str | None:
    sol = assignment.solution
    if _unsure(sol):
        return Reason.GRADER_UNSURE
    if assignment.finish_reason != Assignment.FinishReason.SOLUTION:
        return None
    if sol.answer_is_correct is False:
        return Reason.ANNOTATOR_DISAGREES
    last = StepLabel.objects.filter(assignment=assignment).order_by("-step__index").values_list(
        "flagged", flat=True).first()
    return Reason.ANSWER_FLAGGED if last else None


def grader_reviews_after_submit(*, assignment: Assignment) -> GraderReview | None:
    """Queue the solution for grader review when this labeling gives a reason to; in the submit's transaction."""
    if assignment.is_quality_control or assignment.is_screening:
        return None  # gold items have reference labels already
    reason = _reason_for(assignment)
    if reason is None:
        return None
    review, created = GraderReview.objects.get_or_create(
        # A re-segmented labeling has the served solution's answer: that one is reviewed.
        campaign_id=assignment.campaign_id, solution_id=assignment.edited_from_id or assignment.solution_id,
        defaults={"reason": reason, "assignment": assignment, "grader_verdict": assignment.solution.grader_is_correct},
    )
    return review if created else None


@transaction.atomic
def grader_reviews_scan(*, campaign: Campaign) -> int:
    """Queue every solution of the pool the grader left undecided or found no answer in; returns how many are new."""
    queued = GraderReview.objects.filter(campaign=campaign, solution_id=OuterRef("solution_id"))
    solution_ids = list(
        Task.objects.filter(campaign=campaign, is_gold=False)
        .filter(Q(solution__answer_is_correct__isnull=True) | Q(solution__final_answer=""))
        .exclude(Exists(queued)).values_list("solution_id", flat=True)
    )
    GraderReview.objects.bulk_create(
        [GraderReview(campaign=campaign, solution_id=sid, reason=Reason.GRADER_UNSURE) for sid in solution_ids],
        ignore_conflicts=True,
    )
    return len(solution_ids)


@transaction.atomic
def grader_review_resolve(*, campaign: Campaign, solution_id: int, user, verdict: bool, note: str = "") -> GraderReview:
    """Decide whether the solution's final answer is correct, overriding (or confirming) the grader.

    Invariants: the solution's `answer_is_correct` is `verdict` afterwards, for every campaign
    (it is a fact about the answer); this campaign's review is resolved with who, when and why,
    and so are other campaigns' open reviews of the same solution.
    """
    if not can_adjudicate(user=user, campaign=campaign):
        raise Forbidden("only campaign managers and designated experts resolve grader reviews")
    if not isinstance(verdict, bool):
        raise ValidationFailed("verdict must be true (the answer is correct) or false")
    # Step split and merge: the task may serve another version of the same answer by now.
    family = solution_family(solution_id)
    if not Task.objects.filter(campaign=campaign, solution_id__in=family).exists():
        raise NotFound(f"solution {solution_id} is not in campaign '{campaign.slug}'")
    solution = Solution.objects.select_for_update().get(pk=solution_id)
    now = timezone.now()
    review, _ = GraderReview.objects.select_for_update().get_or_create(
        campaign=campaign, solution=solution,
        defaults={"reason": Reason.GRADER_UNSURE, "grader_verdict": solution.grader_is_correct},
    )
    # This campaign's review (even one resolved before: deciding again replaces it) and every
    # other campaign's open review of the solution.
    GraderReview.objects.filter(Q(pk=review.pk) | Q(solution=solution, status=GraderReview.Status.OPEN)).update(
        status=GraderReview.Status.RESOLVED, verdict=verdict, note=note.strip(), resolved_by=user, resolved_at=now)
    review.refresh_from_db()
    # Its re-segmented versions (and the solution they were cut from) state the same answer.
    Solution.objects.filter(pk__in=family).update(answer_is_correct=verdict)
    return review

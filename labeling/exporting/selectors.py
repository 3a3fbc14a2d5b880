"""Read submitted labels out of the database in bounded chunks.

Memory stays constant whatever the campaign size: each chunk is a keyset
page of solution ids, and everything for that page is fetched with a fixed
number of queries.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from labeling.exporting.filters import ExportFilters
from labeling.exporting.formats import Alternative, LabeledSolution, StepRating
from labeling.models import Adjudication, Assignment, Campaign, Profile, Solution, Step, StepAlternative, StepLabel

SUBMITTED = Assignment.Status.SUBMITTED
NO_FILTERS = ExportFilters()


def submitted(campaign: Campaign, filters: ExportFilters = NO_FILTERS) -> QuerySet:
    """The campaign's submitted labelings that pass the export filters."""
    qs = Assignment.objects.filter(campaign=campaign, status=SUBMITTED)
    f = filters
    if f.submitted_after:
        qs = qs.filter(submitted_at__gte=f.submitted_after)
    if f.submitted_before:
        qs = qs.filter(submitted_at__lt=f.submitted_before)
    if f.annotators:
        names = list(f.annotators)
        uuids = [n for n in names if _is_uuid(n)]
        who = Q(username__in=names) | Q(profile__external_id__in=names)
        if uuids:
            who |= Q(profile__labeler_uid__in=uuids)
        qs = qs.filter(annotator_id__in=get_user_model().objects.filter(who).values("pk"))
    if f.generations:
        qs = qs.filter(queue_generation__in=f.generations)
    if f.finish_reasons:
        qs = qs.filter(finish_reason__in=f.finish_reasons)
    if f.gold != "include":
        qs = qs.filter(task__is_gold=f.gold == "only")
    if f.qc != "include":
        qc = Q(is_quality_control=True) | Q(is_screening=True)
        qs = qs.filter(qc) if f.qc == "only" else qs.exclude(qc)
    return qs


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def export_size(campaign: Campaign, filters: ExportFilters = NO_FILTERS, *, by_solution: bool) -> int:
    """How many labelings (or labeled solutions) the export will read: the progress total."""
    qs = submitted(campaign, filters)
    return qs.values("solution_id").distinct().count() if by_solution else qs.count()


def _solution_pages(campaign: Campaign, chunk: int, filters: ExportFilters) -> Iterator[list[int]]:
    last = 0
    has_labels = submitted(campaign, filters).filter(solution_id=OuterRef("pk"))
    while True:
        ids = list(
            Solution.objects.filter(pk__gt=last)
            .filter(Exists(has_labels))
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def adjudicated_ratings(campaign: Campaign) -> dict[int, list[int | None]]:
    """Resolved step ratings by solution id (adjudications are a small share of a campaign)."""
    return dict(
        Adjudication.objects.filter(campaign=campaign, status=Adjudication.Status.RESOLVED).values_list(
            "solution_id", "ratings"
        )
    )


def labeled_solutions_by_solution(campaign: Campaign, *, chunk: int = 500, filters: ExportFilters = NO_FILTERS
                                  ) -> Iterator[list[LabeledSolution]]:
    """Yield, per solution (ascending id), every submitted labeling of it in the campaign that passes
    the filters."""
    for solution_ids in _solution_pages(campaign, chunk, filters):
        grouped: dict[int, list[LabeledSolution]] = defaultdict(list)
        for ls in _load(campaign, solution_ids, filters=filters):
            grouped[ls.solution_id].append(ls)
        for sid in solution_ids:
            if grouped[sid]:
                yield grouped[sid]


def labeled_solutions(campaign: Campaign, *, chunk: int = 500, filters: ExportFilters = NO_FILTERS
                      ) -> Iterator[LabeledSolution]:
    """Every submitted labeling in the campaign that passes the filters, in assignment
    (import/submit) order per page."""
    last = 0
    base = submitted(campaign, filters)
    while True:
        ids = list(base.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:chunk])
        if not ids:
            return
        yield from _load(campaign, None, assignment_ids=ids)
        last = ids[-1]


def _load(
    campaign: Campaign, solution_ids: list[int] | None, *, assignment_ids: list[int] | None = None,
    filters: ExportFilters = NO_FILTERS,
) -> list[LabeledSolution]:
    qs = Assignment.objects.filter(campaign=campaign, status=SUBMITTED) if assignment_ids is not None else (
        submitted(campaign, filters))
    qs = qs.filter(pk__in=assignment_ids) if assignment_ids is not None else qs.filter(solution_id__in=solution_ids)
    assignments = list(qs.select_related("solution__problem").order_by("pk"))
    if not assignments:
        return []
    a_ids = [a.pk for a in assignments]
    s_ids = {a.solution_id for a in assignments}
    steps: dict[int, list[str]] = defaultdict(list)
    for sid, text in Step.objects.filter(solution_id__in=s_ids).order_by("solution_id", "index").values_list(
        "solution_id", "text"
    ):
        steps[sid].append(text)
    ratings: dict[int, list[StepRating]] = defaultdict(list)
    for aid, idx, rating, flagged, chosen, critique, types in (
        StepLabel.objects.filter(assignment_id__in=a_ids)
        .order_by("assignment_id", "step__index")
        .values_list("assignment_id", "step__index", "rating", "flagged", "chosen_completion", "critique",
                     "error_types")
    ):
        ratings[aid].append(StepRating(index=idx, rating=rating, flagged=flagged, chosen_completion=chosen,
                                       critique=critique, error_types=types))
    alternatives: dict[int, list[Alternative]] = defaultdict(list)
    for alt in StepAlternative.objects.filter(assignment_id__in=a_ids).select_related("step").order_by(
        "assignment_id", "step__index", "position"
    ):
        alternatives[alt.assignment_id].append(
            Alternative(
                step_index=alt.step.index, kind=alt.kind, position=alt.position, text=alt.text,
                rating=alt.rating, flagged=alt.flagged, source=alt.source, extra=alt.extra,
            )
        )
    labelers = {
        p.user_id: p.labeler
        for p in Profile.objects.filter(user_id__in={a.annotator_id for a in assignments}).only(
            "user_id", "labeler_uid", "external_id"
        )
    }
    out = []
    for a in assignments:
        sol = a.solution
        prob = sol.problem
        out.append(
            LabeledSolution(
                assignment_id=a.pk,
                solution_id=sol.pk,
                labeler=labelers.get(a.annotator_id) or f"user-{a.annotator_id}",
                submitted_at=a.submitted_at,
                problem=prob.text,
                ground_truth_answer=prob.ground_truth_answer,
                ground_truth_solution=prob.ground_truth_solution,
                steps=steps[sol.pk],
                final_answer=sol.final_answer,
                answer_is_correct=sol.answer_is_correct,
                generator=sol.generator,
                ratings=ratings[a.pk],
                alternatives=alternatives[a.pk],
                # The queue the task was served from: its generation and the PRM score at queue
                # time. Imported labels keep the record's own values (queue_score is null there).
                generation=a.queue_generation,
                verifier_score=a.queue_score if a.queue_score is not None else sol.pre_generated_verifier_score,
                is_quality_control=a.is_quality_control,
                is_screening=a.is_screening,
                total_time=a.active_ms,
                finish_reason=a.finish_reason,
                extra=a.extra,
                problem_key=f"{prob.source}:{prob.source_id}",
            )
        )
    return out

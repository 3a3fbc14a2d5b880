"""Reads for the grader review queue (page and API)."""

from __future__ import annotations

from django.db.models import F, OuterRef, Subquery

from labeling.models import GraderReview, Step


def grader_review_queue(*, campaign, status: str = "open", limit: int = 100) -> list[GraderReview]:
    """Reviews with what the grader saw: the extracted answer, the reference, its verdict and who raised it."""
    last_step = Step.objects.filter(solution_id=OuterRef("solution_id")).order_by("-index").values("text")[:1]
    return list(
        GraderReview.objects.filter(campaign=campaign, status=status)
        .select_related("solution__problem", "assignment__annotator", "resolved_by")
        .annotate(last_step=Subquery(last_step))
        .order_by(F("resolved_at").desc(nulls_last=True), "created_at", "pk")[:limit]
    )

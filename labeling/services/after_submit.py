"""What a submit sets off, in its transaction: QC scores, the adjudication queue, grader review.

One place that knows every consequence, so the services it calls need not know each other
(quality and adjudication import each other's functions otherwise).
"""

from __future__ import annotations

from labeling.models import Assignment
from labeling.services.adjudication import adjudications_sync
from labeling.services.grader_review import grader_reviews_after_submit
from labeling.services.quality import gold_score_record, membership_quality_update


def submit_consequences(*, assignment: Assignment) -> None:
    """Gold score, screening and auto-pause for QC items; otherwise the disagreement and grader queues."""
    if assignment.is_quality_control or assignment.is_screening:
        if gold_score_record(assignment=assignment) is not None or assignment.is_screening:
            membership_quality_update(campaign=assignment.campaign, user=assignment.annotator)
        return
    if assignment.campaign.overlap > 1:
        adjudications_sync(campaign=assignment.campaign, solution_ids=[assignment.solution_id])
    grader_reviews_after_submit(assignment=assignment)

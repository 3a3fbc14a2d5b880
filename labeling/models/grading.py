from django.conf import settings
from django.db import models
from django.db.models import Q


class GraderReview(models.Model):
    """A solution whose graded final answer a person should look at: the grader is not the last word.

    Queued once per campaign and solution. Resolving it sets the solution's
    verdict (`Solution.answer_is_correct`), which exports and training read;
    the grader's own verdict stays in `Solution.grader_is_correct`.
    """

    class Reason(models.TextChoices):
        ANNOTATOR_DISAGREES = "annotator_disagrees", "Rated correct to the end; the grader says wrong"
        ANSWER_FLAGGED = "answer_flagged", "No error found, but the answer step was flagged"
        GRADER_UNSURE = "grader_unsure", "The grader could not decide"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="grader_reviews")
    solution = models.ForeignKey("labeling.Solution", on_delete=models.CASCADE, related_name="grader_reviews")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The labeling that raised it (null for a scan of what the grader left undecided).
    assignment = models.ForeignKey("labeling.Assignment", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    # The grader's verdict when it was queued, so the queue reads the same after a resolution.
    grader_verdict = models.BooleanField(null=True)
    verdict = models.BooleanField(null=True)
    note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "solution"], name="grader_review_once"),
            models.CheckConstraint(condition=Q(status__in=["open", "resolved"]), name="grader_review_status_valid"),
            models.CheckConstraint(
                condition=Q(reason__in=["annotator_disagrees", "answer_flagged", "grader_unsure"]),
                name="grader_review_reason_valid"),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(resolved_at__isnull=False, verdict__isnull=False),
                name="grader_review_resolved_has_verdict"),
        ]
        indexes = [models.Index(fields=["campaign", "status", "created_at"], name="grader_review_queue_idx")]

    def __str__(self) -> str:
        return f"grader review of solution {self.solution_id} ({self.status})"

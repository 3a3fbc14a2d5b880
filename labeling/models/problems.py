from django.db import models
from django.db.models import Q


class Problem(models.Model):
    """A math problem. Unique per (source, source_id); source_id defaults to a text hash."""

    source = models.CharField(max_length=64)
    source_id = models.CharField(max_length=128)
    text = models.TextField()
    ground_truth_answer = models.TextField(blank=True)
    ground_truth_solution = models.TextField(blank=True)
    subject = models.CharField(max_length=64, blank=True)
    level = models.CharField(max_length=32, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="problem_unique_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"


class Solution(models.Model):
    """A model-written solution: ordered steps plus the graded final answer."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="solutions")
    generator = models.CharField(max_length=128, blank=True)
    # sha256 over generator and step texts: re-importing a file finds the same row.
    content_hash = models.CharField(max_length=64)
    final_answer = models.TextField(blank=True)
    # The verdict exports and training use: the grader's, unless a person overrode it in a
    # grader review (labeling.services.grader_review). None: undecided.
    answer_is_correct = models.BooleanField(null=True)
    # The grader's own verdict, kept when a person overrides it. None: the grader could not
    # decide (no answer found, unparsable, timeout).
    grader_is_correct = models.BooleanField(null=True)
    grader_version = models.CharField(max_length=64, blank=True)
    generation = models.IntegerField(null=True, blank=True)
    pre_generated_verifier_score = models.FloatField(null=True, blank=True)
    # A re-segmentation (step split and merge, labeling.services.segments): the solution it was cut
    # from, and per step of this one the pieces of the parent's steps it is made of,
    # [[parent step index, start, end], ...]. The parent is never changed.
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="versions")
    segment_spans = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["problem", "content_hash"], name="solution_unique_content"),
            models.CheckConstraint(condition=Q(parent__isnull=True) | Q(segment_spans__isnull=False),
                                   name="solution_version_has_spans"),
        ]
        indexes = [models.Index(fields=["answer_is_correct"], name="solution_correct_idx")]

    def __str__(self) -> str:
        return f"solution {self.pk} of {self.problem_id}"


class Step(models.Model):
    solution = models.ForeignKey(Solution, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["solution_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["solution", "index"], name="step_unique_index"),
        ]

    def __str__(self) -> str:
        return f"step {self.index} of solution {self.solution_id}"

from django.db import models
from django.db.models import Q


class StepPrelabel(models.Model):
    """An automatic label of one step, imported with the solution (`step_prelabels`).

    Math-Shepherd Monte Carlo estimates arrive as a probability that the step
    is correct (`score`), an LLM judge's verdicts as a rating; either or both.
    A campaign with `prelabels=imported` suggests them to annotators, who must
    confirm or change each one.
    """

    step = models.ForeignKey("labeling.Step", on_delete=models.CASCADE, related_name="prelabels")
    # Who or what produced it (the file's `prelabel_source`, e.g. "math-shepherd-mc16").
    source = models.CharField(max_length=64, default="imported")
    rating = models.SmallIntegerField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "source"], name="prelabel_unique_source"),
            models.CheckConstraint(condition=Q(rating__isnull=True) | Q(rating__in=[-1, 0, 1]),
                                   name="prelabel_rating_valid"),
            models.CheckConstraint(condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=1)),
                                   name="prelabel_score_0_1"),
            models.CheckConstraint(condition=Q(rating__isnull=False) | Q(score__isnull=False),
                                   name="prelabel_has_value"),
        ]

    def __str__(self) -> str:
        return f"prelabel of step {self.step_id} ({self.source})"

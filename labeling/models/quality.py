import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q


class GoldScore(models.Model):
    """How one submitted gold (QC or screening) labeling compares with the reference labels."""

    assignment = models.OneToOneField("labeling.Assignment", on_delete=models.CASCADE, related_name="gold_score")
    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="gold_scores")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gold_scores")
    is_screening = models.BooleanField(default=False)
    # Steps rated both by the annotator and in the gold labels, and how many match exactly.
    compared = models.PositiveIntegerField()
    matches = models.PositiveIntegerField()
    misses = models.PositiveIntegerField()
    gold_negatives = models.PositiveIntegerField()
    false_alarms = models.PositiveIntegerField()
    gold_fine = models.PositiveIntegerField()
    first_error_exact = models.BooleanField()
    first_error_within_one = models.BooleanField()
    gold_first_error = models.IntegerField(null=True, blank=True)
    label_first_error = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(matches__lte=F("compared")), name="goldscore_matches_le_compared"),
            models.CheckConstraint(condition=Q(misses__lte=F("gold_negatives")), name="goldscore_misses_le_neg"),
            models.CheckConstraint(condition=Q(false_alarms__lte=F("gold_fine")), name="goldscore_alarms_le_fine"),
        ]
        indexes = [models.Index(fields=["campaign", "annotator", "-created_at"], name="goldscore_recent_idx")]


@pghistory.track(pghistory.InsertEvent("adjudication"), pghistory.UpdateEvent("adjudication"),
                 model_name="AdjudicationEvent")
class Adjudication(models.Model):
    """A solution whose annotators disagree on the first error, and its resolution."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="adjudications")
    solution = models.ForeignKey("labeling.Solution", on_delete=models.CASCADE, related_name="adjudications")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The distinct first-error indices the labels disagree on (null = "no error").
    first_errors = models.JSONField(default=list)
    label_count = models.PositiveSmallIntegerField(default=0)
    # The resolved rating of each step, by step index (null = not rated, after the first error).
    ratings = models.JSONField(null=True, blank=True)
    first_error_index = models.IntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "solution"], name="adjudication_unique"),
            models.CheckConstraint(condition=Q(status__in=["open", "resolved"]), name="adjudication_status_valid"),
            models.CheckConstraint(
                condition=Q(status="open") | (Q(ratings__isnull=False) & Q(resolved_at__isnull=False)),
                name="adjudication_resolved_has_ratings",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "status", "created_at"], name="adjudication_queue_idx")]


class AgreementSnapshot(models.Model):
    """Inter-annotator agreement of a campaign, computed in the background.

    Agreement needs pairs of step labels (a self-join over every label), too
    slow for a page render at a million labels, so a worker refreshes it and
    the dashboard shows the latest with its age.
    """

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="agreement_snapshots")
    computed_at = models.DateTimeField()
    # Submitted assignments when computed, to skip refreshes with nothing new.
    assignment_count = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["campaign", "-computed_at"], name="agreement_latest_idx")]

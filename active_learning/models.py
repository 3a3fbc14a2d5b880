"""Model registry and scores. Behaviour (training, scoring, refill) lives in services."""

from django.db import models
from django.db.models import Q


class PRMModel(models.Model):
    """A trained process reward model checkpoint for one campaign."""

    class Status(models.TextChoices):
        READY = "ready"
        FAILED = "failed"
        ARCHIVED = "archived"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="prm_models")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    is_active = models.BooleanField(default=False)
    backbone = models.CharField(max_length=255)
    checkpoint_path = models.CharField(max_length=1024)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    label_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "version"], name="prm_model_unique_version"),
            models.UniqueConstraint(
                fields=["campaign"], condition=Q(is_active=True), name="prm_model_one_active_per_campaign"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/v{self.version}"


class TrainingRun(models.Model):
    """One retrain attempt; its lease doubles as the per-campaign training lock."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="training_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    model = models.ForeignKey(PRMModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    config = models.JSONField(default=dict, blank=True)
    data_counts = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(status__in=["queued", "running"]),
                name="training_run_one_live_per_campaign",
            ),
        ]


class SolutionScore(models.Model):
    """PRM scores of one solution under one model version."""

    solution = models.ForeignKey("labeling.Solution", on_delete=models.CASCADE, related_name="scores")
    model = models.ForeignKey(PRMModel, on_delete=models.CASCADE, related_name="scores")
    step_scores = models.JSONField(default=list)
    score = models.FloatField()
    truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["solution", "model"], name="solution_score_unique"),
        ]

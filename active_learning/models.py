"""Model registry and scores. Behaviour (training, scoring, refill) lives in services."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from active_learning.strategies import SOLUTION_AGGREGATES


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


def below_one(value: float) -> None:
    """Field-level twin of the heldout range constraint, so the form names the field."""
    if value is not None and value >= 1:
        raise ValidationError("Ensure this value is less than 1.", code="max_value")


def default_model_config() -> dict:
    # The bundled MiniLM cut to its first 2 layers. On the 2-core CPU target it
    # scores 200-250 solutions/s (all 6 layers: 65-80), and with the same 180 s
    # of training it reached a higher held-out step AUROC (0.73 against 0.70):
    # the shallow model gets through 2.5 times the epochs in that time.
    # Measured by bench/bench_prm_layers.py; see BENCHMARKS.md.
    return {"num_hidden_layers": 2}


def default_train_config() -> dict:
    # Caps training at 400 optimizer steps (2 epochs if that comes first):
    # about 310 s for the 2-layer model on 2 CPU cores, so a retrain -> score
    # -> refill cycle on a 100k pool stays under 15 minutes (bench_cycle.py).
    # A step cap rather than a time budget keeps runs reproducible from their
    # seed; add time_budget_s for a hard wall-clock bound, or lift both on a GPU.
    return {"max_steps": 400}


class ActiveLearningConfig(models.Model):
    """Per-campaign settings of the retrain -> score -> refill cycle (editable in the admin)."""

    class Neutral(models.TextChoices):
        POSITIVE = "positive", "count as correct (paper)"
        NEGATIVE = "negative", "count as an error"
        IGNORE = "ignore", "leave out"

    class Aggregation(models.TextChoices):
        MAJORITY = "majority", "majority vote per step (ties to the lower rating)"
        EACH = "each", "every annotator's labels as their own example"

    campaign = models.OneToOneField("labeling.Campaign", on_delete=models.CASCADE, related_name="al_config")
    enabled = models.BooleanField(default=True, help_text="Beat starts cycles only when enabled.")
    strategy = models.CharField(max_length=64, default="convincing_wrong")
    refill_size = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1)], help_text="Tasks queued per refill."
    )
    wrong_fraction = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    per_problem_cap = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    retrain_every_minutes = models.PositiveIntegerField(
        default=60, help_text="Start a cycle this often (0: never on a timer)."
    )
    retrain_after_labels = models.PositiveIntegerField(
        default=100, help_text="...or once this many new labels arrived since the last training (0: off)."
    )
    min_labels = models.PositiveIntegerField(default=20, help_text="Do not train on fewer submitted labels.")
    neutral = models.CharField(max_length=16, choices=Neutral.choices, default=Neutral.POSITIVE)
    aggregation = models.CharField(max_length=16, choices=Aggregation.choices, default=Aggregation.MAJORITY)
    score_aggregate = models.CharField(
        max_length=16, choices=[(a, a) for a in SOLUTION_AGGREGATES], default="product",
        help_text="Solution score from step scores. 'last' suits a model trained on outcomes only.",
    )
    heldout_fraction = models.FloatField(default=0.2, validators=[MinValueValidator(0.0), below_one])
    class PromotionMetric(models.TextChoices):
        # AUROCs only: the gate's "above chance" is 0.5, which means nothing for an F1.
        STEP_AUROC = "step_auroc", "held-out step AUROC (human step labels)"
        SOLUTION_AUROC = "solution_auroc", "held-out solution AUROC (final answers right or wrong)"

    promotion_metric = models.CharField(
        max_length=64, choices=PromotionMetric.choices, default=PromotionMetric.STEP_AUROC,
        help_text="The held-out metric the promotion gate reads.",
    )
    promotion_gate = models.BooleanField(
        default=True, help_text="Never promote a model whose held-out metric is missing or at most 0.5 + the margin.",
    )
    chance_margin = models.FloatField(
        default=0.02, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="How far above chance (0.5) the gate asks for.",
    )
    max_regression = models.FloatField(
        null=True, blank=True, default=0.02, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Refuse to promote a model whose held-out metric is worse than the active model's by more than "
                  "this (blank: any drop is accepted).",
    )
    warm_start = models.BooleanField(default=True)

    class Prior(models.TextChoices):
        NONE = "", "none: the first model waits for human labels"
        OUTCOMES = "outcomes", "the pool's graded final answers (cross-fitted)"
        PRELABELS = "prelabels", "imported automatic step pre-labels (cross-fitted)"
        SYNTHETIC = "synthetic", "the synthetic GSM8K error set (exact step labels)"

    prior = models.CharField(
        max_length=16, choices=Prior.choices, default=Prior.NONE, blank=True,
        help_text="Train the campaign's first model on free labels before any human label; human labels then "
                  "fine-tune it (with warm start on).",
    )
    prior_folds = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(2), MaxValueValidator(10)],
        help_text="Cross-fitting folds for a prior made from the pool's own data (2-10): each pool "
                  "solution is scored by a member that never saw its problem.",
    )
    eval_set = models.CharField(
        max_length=64, blank=True, default="",
        help_text="After every cycle, also evaluate the new model on held-out problems of this real data set "
                  "(solution AUROC, best-of-N against majority vote, with bootstrap intervals). Blank: none.",
    )
    model_config = models.JSONField(
        default=default_model_config, blank=True,
        help_text="prm.config.ModelConfig fields. Default: the bundled MiniLM cut to 2 layers (the fast CPU choice; "
                  "remove num_hidden_layers for the full model on a GPU worker).",
    )
    train_config = models.JSONField(
        default=default_train_config, blank=True,
        help_text="prm.config.TrainConfig fields. Default: at most 400 optimizer steps (about 310 s on 2 CPU cores).",
    )
    score_config = models.JSONField(default=dict, blank=True, help_text="prm.config.ScoreConfig fields")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(wrong_fraction__gte=0) & Q(wrong_fraction__lte=1), name="al_config_wrong_fraction_range"
            ),
            models.CheckConstraint(
                condition=Q(heldout_fraction__gte=0) & Q(heldout_fraction__lt=1), name="al_config_heldout_range"
            ),
            models.CheckConstraint(condition=Q(prior_folds__gte=2) & Q(prior_folds__lte=10),
                                   name="al_config_prior_folds_range"),
        ]

    def __str__(self) -> str:
        return f"active learning for {self.campaign_id}"


class TrainingRun(models.Model):
    """One retrain -> score -> refill cycle; its lease doubles as the per-campaign lock."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Stage(models.TextChoices):
        QUEUED = "queued"
        TRAINING = "training"
        SCORING = "scoring"
        REFILLING = "refilling"
        DONE = "done"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"
        LABELS = "labels"
        COMMAND = "command"
        PRIOR = "prior"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="training_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Submitted assignments in the campaign when the run was requested; the
    # "M new labels" trigger compares against the latest run's count.
    label_count = models.PositiveIntegerField(default=0)
    model = models.ForeignKey(PRMModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    promoted = models.BooleanField(default=False)
    # Timings per stage, train report, scoring and refill counts.
    report = models.JSONField(default=dict, blank=True)
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

    def __str__(self) -> str:
        return f"run {self.pk} ({self.campaign_id}, {self.status})"


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


class ScoringChunk(models.Model):
    """One slice of a cycle's score stage: the pool solutions with ids in [first_solution_id, last_solution_id].

    The score stage fans out as one Celery task per chunk on the `scoring`
    queue. A chunk's row is its lock and its progress: a worker claims it
    under a lease it renews while it scores, and a chunk whose lease lapses
    (its worker died) is handed to another worker. Scores are keyed by
    (solution, model), so running a chunk again writes nothing new.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="scoring_chunks")
    model = models.ForeignKey(PRMModel, on_delete=models.CASCADE, related_name="scoring_chunks")
    index = models.PositiveIntegerField()
    first_solution_id = models.BigIntegerField()
    last_solution_id = models.BigIntegerField()
    size = models.PositiveIntegerField(help_text="pool solutions in the range when the stage was planned")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    scored = models.PositiveIntegerField(default=0, help_text="solutions this chunk's last attempt scored")
    seconds = models.FloatField(null=True, blank=True)
    model_loaded = models.BooleanField(default=False, help_text="whether this attempt loaded the checkpoint")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="scoring_chunk_unique_index"),
            models.CheckConstraint(condition=Q(first_solution_id__lte=models.F("last_solution_id")),
                                   name="scoring_chunk_range_ordered"),
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="scoring_chunk_status_lease")]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.index} ({self.status})"

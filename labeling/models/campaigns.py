import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

# PRMBench's error categories (Song et al., 2025), as the default taxonomy of a new campaign.
# Keys are stored with the labels; labels and descriptions are what annotators read.
DEFAULT_ERROR_TAXONOMY = (
    ("calculation", "Calculation error", "arithmetic or algebra done wrong"),
    ("reasoning", "Logical or reasoning error", "the step does not follow from what came before"),
    ("misread", "Misread problem", "uses a condition or quantity the problem does not state"),
    ("unjustified", "Unjustified claim", "asserts something true or false without the reason it needs"),
    ("incomplete", "Skipped or incomplete step", "leaves out a case or a step the argument needs"),
    ("hallucination", "Hallucinated fact", "a made-up theorem, formula or fact"),
    ("notation", "Notation", "wrong or inconsistent notation or units"),
    ("other", "Other", "say what in the critique"),
)
# Digits 1-9 pick types on the labeling page.
MAX_ERROR_TYPES = 9

# The dashboard's own pages sit beside campaigns at /manage/<name>/: a campaign with one
# of these slugs would lose its overview to the page. tests/labeling/test_models.py checks
# this list against the dashboard's URLs.
RESERVED_SLUGS = ("new", "creators")


def default_error_taxonomy() -> list[dict]:
    return [{"key": k, "label": label, "description": d} for k, label, d in DEFAULT_ERROR_TAXONOMY]


@pghistory.track(pghistory.InsertEvent("campaign"), pghistory.UpdateEvent("campaign"), model_name="CampaignEvent")
class Campaign(models.Model):
    """A labeling project over a pool of solutions, with its labeling rules."""

    class Mode(models.TextChoices):
        FIRST_ERROR = "first_error", "Stop at the first negative step"
        ALL_STEPS = "all_steps", "Rate every step"

    class Status(models.TextChoices):
        ACTIVE = "active"  # annotators get tasks
        PAUSED = "paused"  # no new leases for now; everything else as active
        CLOSED = "closed"  # labeling is over: no leases, results stay on the dashboard
        ARCHIVED = "archived"  # closed and hidden from the campaign lists

    class Reveal(models.TextChoices):
        ALL = "all", "Show every step; rows after the first negative are dimmed"
        PROGRESSIVE = "progressive", "Reveal one step at a time"

    class Ask(models.TextChoices):
        """How a campaign asks for something on a negative step (a critique, error types)."""

        OFF = "off", "Not asked"
        OPTIONAL = "optional", "Optional"
        REQUIRED = "required", "Required on the first error"

    class Prelabels(models.TextChoices):
        """Where the suggested rating of each step comes from (verified pre-labels)."""

        OFF = "off", "No suggestions"
        MODEL = "model", "The active PRM's step probabilities"
        IMPORTED = "imported", "Pre-labels from the import file (step_prelabels)"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.FIRST_ERROR)
    # First-error mode only: whether annotators can read ahead of the step they rate.
    reveal = models.CharField(max_length=16, choices=Reveal.choices, default=Reveal.ALL)
    # How many distinct annotators label each solution.
    overlap = models.PositiveSmallIntegerField(default=1)
    show_ground_truth = models.BooleanField(default=True)
    # Share of served tasks that are gold (quality-control) items.
    qc_rate = models.FloatField(default=0.05)
    lease_minutes = models.PositiveIntegerField(default=30)
    allow_corrections = models.BooleanField(default=True)
    # A written explanation of what is wrong with a negative step (generative-verifier data).
    critique = models.CharField(max_length=16, choices=Ask.choices, default=Ask.OPTIONAL)
    # Error types picked on a negative step, from `error_taxonomy` ([{key, label, description}]).
    error_types = models.CharField(max_length=16, choices=Ask.choices, default=Ask.OPTIONAL)
    error_taxonomy = models.JSONField(default=default_error_taxonomy, blank=True)
    # Verified pre-labels: each step shows a suggested rating the annotator must still confirm or
    # change with a key press. Gold and screening items never show them; of the other tasks a
    # `prelabel_share` does (picked per task, so every annotator of a task sees the same), and the
    # rest are labeled unaided: the control the bias report compares against (and gold items do
    # not stand out as the only tasks without suggestions).
    prelabels = models.CharField(max_length=16, choices=Prelabels.choices, default=Prelabels.OFF)
    prelabel_share = models.FloatField(default=0.8)
    # A probability at or above it suggests +1, below it -1 (a pre-label given as a rating is used as is).
    prelabel_threshold = models.FloatField(default=0.5)
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    # Screening: a new annotator labels this many gold items first (0 = none).
    screening_size = models.PositiveSmallIntegerField(default=0)
    screening_threshold = models.FloatField(default=0.75)
    # Auto-pause: QC accuracy over an annotator's last `autopause_window` gold
    # items below `autopause_threshold` pauses them (window 0 = never).
    autopause_window = models.PositiveSmallIntegerField(default=10)
    autopause_threshold = models.FloatField(default=0.6)
    # What an hour of active labeling costs (the manager's currency), for the time and cost report.
    hourly_rate = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=~Q(slug__in=RESERVED_SLUGS), name="campaign_slug_not_reserved",
                                   violation_error_message="this slug is reserved for a dashboard page"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="campaign_overlap_positive"),
            models.CheckConstraint(condition=Q(qc_rate__gte=0) & Q(qc_rate__lte=1), name="campaign_qc_rate_0_1"),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="campaign_lease_positive"),
            models.CheckConstraint(
                condition=Q(screening_threshold__gte=0) & Q(screening_threshold__lte=1),
                name="campaign_screening_threshold_0_1",
            ),
            models.CheckConstraint(condition=Q(mode__in=["first_error", "all_steps"]), name="campaign_mode_valid"),
            models.CheckConstraint(condition=Q(reveal__in=["all", "progressive"]), name="campaign_reveal_valid"),
            models.CheckConstraint(condition=Q(critique__in=["off", "optional", "required"]),
                                   name="campaign_critique_valid"),
            models.CheckConstraint(condition=Q(error_types__in=["off", "optional", "required"]),
                                   name="campaign_error_types_valid"),
            models.CheckConstraint(condition=Q(prelabels__in=["off", "model", "imported"]),
                                   name="campaign_prelabels_valid"),
            models.CheckConstraint(condition=Q(prelabel_share__gte=0) & Q(prelabel_share__lte=1),
                                   name="campaign_prelabel_share_0_1"),
            models.CheckConstraint(condition=Q(prelabel_threshold__gte=0) & Q(prelabel_threshold__lte=1),
                                   name="campaign_prelabel_threshold_0_1"),
            models.CheckConstraint(condition=Q(status__in=["active", "paused", "closed", "archived"]),
                                   name="campaign_status_valid"),
            models.CheckConstraint(condition=Q(hourly_rate__isnull=True) | Q(hourly_rate__gte=0),
                                   name="campaign_hourly_rate_nonneg"),
            models.CheckConstraint(
                condition=Q(autopause_threshold__gte=0) & Q(autopause_threshold__lte=1),
                name="campaign_autopause_threshold_0_1",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


@pghistory.track(
    pghistory.InsertEvent("membership"),
    pghistory.UpdateEvent("membership", condition=pgtrigger.AnyChange(
        "role", "status", "status_reason", "can_adjudicate", "hourly_rate")),
    pghistory.DeleteEvent("membership.removed"),
    fields=["campaign", "user", "role", "status", "status_reason", "can_adjudicate", "hourly_rate"],
    model_name="MembershipEvent",
)
class Membership(models.Model):
    """A user's role in one campaign."""

    class Role(models.TextChoices):
        ANNOTATOR = "annotator"
        MANAGER = "manager"

    class Status(models.TextChoices):
        SCREENING = "screening"
        ACTIVE = "active"
        PAUSED = "paused"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Who set the status by hand (a manager override); null when automatic.
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A designated expert may resolve disagreements (managers always can).
    can_adjudicate = models.BooleanField(default=False)
    # This member's own hourly rate, where it differs from the campaign's.
    hourly_rate = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="membership_unique"),
            models.CheckConstraint(condition=Q(role__in=["annotator", "manager"]), name="membership_role_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["screening", "active", "paused"]), name="membership_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} in {self.campaign_id}"


class Profile(models.Model):
    """Labeler identity. External labelers (imported PRM800K UUIDs) are inactive users."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    # The `labeler` value written to PRM800K exports.
    labeler_uid = models.UUIDField(default=uuid.uuid4, unique=True)
    is_external = models.BooleanField(default=False)
    external_source = models.CharField(max_length=64, blank=True)
    # The raw labeler id when it is not a UUID, so exports give it back verbatim.
    external_id = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"

    @property
    def labeler(self) -> str:
        return self.external_id or str(self.labeler_uid)


class Task(models.Model):
    """A solution in a campaign's pool, and why and how urgently it is queued."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tasks")
    solution = models.ForeignKey("labeling.Solution", on_delete=models.CASCADE, related_name="tasks")
    # Served highest first; the active-learning refill writes it.
    priority = models.FloatField(default=0.0)
    is_gold = models.BooleanField(default=False)
    is_screening = models.BooleanField(default=False)
    queue_strategy = models.CharField(max_length=64, blank=True, default="import")
    queue_model_version = models.CharField(max_length=64, blank=True)
    queue_score = models.FloatField(null=True, blank=True)
    queue_rank = models.IntegerField(null=True, blank=True)
    queue_generation = models.IntegerField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # Leased + submitted assignments. Kept by the assignment service under the
    # row lock so "fewer than overlap" is one indexed predicate, not a count.
    taken = models.PositiveSmallIntegerField(default=0)
    completed = models.PositiveSmallIntegerField(default=0)
    # taken < campaign.overlap, kept in the same statements that move `taken`,
    # so the queue scan walks a partial index of open tasks only.
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "solution"], name="task_unique_solution"),
            models.CheckConstraint(condition=Q(completed__lte=models.F("taken")), name="task_completed_le_taken"),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "is_gold", "-priority", "id"], name="task_open_queue_idx",
                condition=Q(is_open=True),
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.campaign_id}/{self.solution_id})"

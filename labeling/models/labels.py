import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

RATING_CHOICES = [(-1, "negative"), (0, "neutral"), (1, "positive")]
VALID_RATING = Q(rating__isnull=True) | Q(rating__in=[-1, 0, 1])


class Assignment(models.Model):
    """One annotator's labeling of one solution in one campaign (native or imported)."""

    class Status(models.TextChoices):
        LEASED = "leased"
        SUBMITTED = "submitted"
        EXPIRED = "expired"
        SKIPPED = "skipped"

    class FinishReason(models.TextChoices):
        SOLUTION = "solution", "Rated to the end"
        FOUND_ERROR = "found_error", "Found an error"
        GIVE_UP = "give_up", "Gave up"
        BAD_PROBLEM = "bad_problem", "Bad problem"

    class Source(models.TextChoices):
        NATIVE = "native"
        IMPORTED = "imported"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="assignments")
    task = models.ForeignKey("labeling.Task", on_delete=models.CASCADE, related_name="assignments")
    solution = models.ForeignKey("labeling.Solution", on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.NATIVE)
    leased_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the page put it on screen. A leased assignment not yet shown is the
    # page's fetch-ahead: it holds a short lease and is released when the page closes.
    shown_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Active labeling time (the page pauses its timer when hidden or idle).
    active_ms = models.BigIntegerField(default=0)
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices, null=True, blank=True)
    finish_note = models.TextField(blank=True)
    # Why it was queued, copied from the task when leased.
    queue_strategy = models.CharField(max_length=64, blank=True)
    queue_model_version = models.CharField(max_length=64, blank=True)
    queue_score = models.FloatField(null=True, blank=True)
    queue_generation = models.IntegerField(null=True, blank=True)
    is_quality_control = models.BooleanField(default=False)
    is_screening = models.BooleanField(default=False)
    # Client-chosen id that makes submit idempotent.
    submission_id = models.UUIDField(null=True, blank=True, unique=True)
    # Import provenance (raw timestamp, question keys, unknown fields).
    extra = models.JSONField(default=dict, blank=True)
    # Summary of the submitted step labels, written with them, so dashboards
    # aggregate over assignments instead of scanning every step label.
    rated_steps = models.PositiveSmallIntegerField(default=0)
    positive_steps = models.PositiveSmallIntegerField(default=0)
    neutral_steps = models.PositiveSmallIntegerField(default=0)
    negative_steps = models.PositiveSmallIntegerField(default=0)
    first_error_index = models.IntegerField(null=True, blank=True)
    # Verified pre-labels, fixed when the task is leased: the suggested rating per step (-1, 0, 1
    # or null), where it came from, and whether the page showed them (False: the control group,
    # gold and screening items; null: the campaign had no pre-labels for this solution).
    prelabel_hints = models.JSONField(null=True, blank=True)
    prelabel_source = models.CharField(max_length=64, blank=True)
    prelabel_shown = models.BooleanField(null=True)
    # Step split and merge: the solution served when the annotator re-segmented it; `solution` is
    # then the version they labeled (its parent is this one). Null: labeled as served.
    edited_from = models.ForeignKey("labeling.Solution", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One annotator never holds two assignments for one solution in a
            # campaign (task is unique per campaign and solution).
            models.UniqueConstraint(fields=["task", "annotator"], name="assignment_one_per_annotator"),
            models.CheckConstraint(condition=Q(active_ms__gte=0), name="assignment_active_ms_nonneg"),
            models.CheckConstraint(
                condition=~Q(status="submitted") | Q(submitted_at__isnull=False),
                name="assignment_submitted_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="leased") | Q(lease_expires_at__isnull=False),
                name="assignment_lease_has_expiry",
            ),
            models.CheckConstraint(
                condition=Q(finish_reason__isnull=True)
                | Q(finish_reason__in=["solution", "found_error", "give_up", "bad_problem"]),
                name="assignment_finish_reason_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "submitted_at"], name="assignment_campaign_status_idx"),
            models.Index(fields=["annotator", "status"], name="assignment_annotator_idx"),
            # Covering: the dashboard's aggregates read only these columns, so
            # they run as index-only scans (measured in bench_dashboard.py).
            models.Index(fields=["campaign", "annotator", "submitted_at"], name="assignment_campaign_user_idx",
                         condition=Q(status="submitted"),
                         include=["id", "active_ms", "finish_reason", "rated_steps", "positive_steps",
                                  "neutral_steps", "negative_steps", "first_error_index"]),
            models.Index(fields=["campaign", "solution"], name="assignment_campaign_sol_idx",
                         condition=Q(status="submitted")),
            models.Index(
                fields=["lease_expires_at"], name="assignment_lease_idx", condition=Q(status="leased")
            ),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


# Audit trail (django-pghistory, PostgreSQL triggers): every change to a submitted label
# stores the row before and after it, with who and where (the request's user and URL);
# drafts (final=False) change on every key press and are not tracked.
def _changed(*fields):
    q = pgtrigger.Q()
    for f in fields:
        q |= pgtrigger.Q(**{f"old__{f}__df": pgtrigger.F(f"new__{f}")})
    return q


FINAL_CHANGED = pgtrigger.Q(old__final=True) & _changed("rating", "flagged", "chosen_completion", "final",
                                                         "assignment", "step", "critique", "error_types")


@pghistory.track(
    pghistory.UpdateEvent("label.before", row=pghistory.Old, condition=FINAL_CHANGED),
    pghistory.UpdateEvent("label.after", row=pghistory.New, condition=FINAL_CHANGED),
    pghistory.DeleteEvent("label.deleted", condition=pgtrigger.Q(old__final=True)),
    model_name="StepLabelEvent",
)
class StepLabel(models.Model):
    """A rating of one step of the solution (PRM800K `completions[0]`)."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="step_labels")
    step = models.ForeignKey("labeling.Step", on_delete=models.CASCADE, related_name="labels")
    # Null only for imported PRM800K steps that were shown but never rated.
    rating = models.SmallIntegerField(choices=RATING_CHOICES, null=True, blank=True)
    # PRM800K phase 2 writes null for the pre-generated step, so null is kept.
    flagged = models.BooleanField(null=True, default=False)
    # PRM800K: which completion the solution continued with (null = none/human).
    chosen_completion = models.SmallIntegerField(null=True, blank=True)
    # True once submitted (or imported): the label the campaign keeps. Drafts are False.
    final = models.BooleanField(default=False)
    # On a negative step: what is wrong with it (Markdown with math), and its error types (keys of
    # the campaign's taxonomy). Empty elsewhere; a submit refuses them on other ratings.
    critique = models.TextField(blank=True, default="")
    error_types = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # The suggested rating this step had (shown or, in the control group, not), copied from the
    # assignment at save time so the bias report aggregates in SQL.
    hint = models.SmallIntegerField(choices=RATING_CHOICES, null=True, blank=True)
    labeled_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["assignment_id", "step__index"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "step"], name="steplabel_unique"),
            models.CheckConstraint(condition=VALID_RATING, name="steplabel_rating_valid"),
            models.CheckConstraint(condition=Q(hint__isnull=True) | Q(hint__in=[-1, 0, 1]),
                                   name="steplabel_hint_valid"),
        ]


class StepAlternative(models.Model):
    """Other completions shown at a step (PRM800K `completions[1..]`) and human-written steps."""

    class Kind(models.TextChoices):
        ALTERNATIVE = "alternative"
        HUMAN = "human"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="alternatives")
    step = models.ForeignKey("labeling.Step", on_delete=models.CASCADE, related_name="alternatives")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Index in PRM800K `completions` (>= 1) for alternatives; 0 for the human step.
    position = models.PositiveSmallIntegerField(default=0)
    text = models.TextField()
    rating = models.SmallIntegerField(choices=RATING_CHOICES, null=True, blank=True)
    flagged = models.BooleanField(null=True, default=False)
    source = models.CharField(max_length=32, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["assignment_id", "step__index", "kind", "position"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "step", "kind", "position"], name="alternative_unique"),
            models.CheckConstraint(condition=VALID_RATING, name="alternative_rating_valid"),
            models.CheckConstraint(condition=Q(kind__in=["alternative", "human"]), name="alternative_kind_valid"),
        ]


@pghistory.track(
    pghistory.InsertEvent("gold.set"), pghistory.UpdateEvent("gold.set"), pghistory.DeleteEvent("gold.removed"),
    model_name="GoldStepLabelEvent",
)
class GoldStepLabel(models.Model):
    """The reference rating of a step, for quality-control (gold) items."""

    step = models.OneToOneField("labeling.Step", on_delete=models.CASCADE, related_name="gold")
    solution = models.ForeignKey("labeling.Solution", on_delete=models.CASCADE, related_name="gold_labels")
    rating = models.SmallIntegerField(choices=RATING_CHOICES)
    # The reference error types of a negative gold step (empty: not given).
    error_types = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rating__in=[-1, 0, 1]), name="gold_rating_valid"),
        ]

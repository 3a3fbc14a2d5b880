"""Typed shapes of the manager API's answers, for the OpenAPI schema and its clients.

The views return what the dashboard's selectors compute; these describe it
field by field (tests/labeling/api/test_schemathesis.py checks real answers
against them). Decimal amounts are strings, so no client rounds money;
times are ISO 8601 strings.
"""

from __future__ import annotations

from rest_framework import serializers as s

from labeling.models import Campaign, GraderReview, Membership
from labeling.services.campaigns import MEMBER_ROLES

MONEY = {"allow_null": True, "help_text": "a decimal amount as a string"}


def money(**kw):
    return s.CharField(**{**MONEY, **kw})


# --- campaigns ------------------------------------------------------------------------------


class PoolOut(s.Serializer):
    tasks = s.IntegerField()
    open = s.IntegerField()
    gold = s.IntegerField()


class ErrorTypeOut(s.Serializer):
    key = s.CharField()
    label = s.CharField()
    description = s.CharField(allow_blank=True)


class ErrorTypeIn(s.Serializer):
    key = s.SlugField(max_length=32)
    label = s.CharField(max_length=80)
    description = s.CharField(max_length=300, required=False, allow_blank=True)


class CampaignOut(s.Serializer):
    slug = s.CharField()
    status = s.ChoiceField(choices=Campaign.Status.choices)
    name = s.CharField()
    description = s.CharField(allow_blank=True)
    mode = s.ChoiceField(choices=Campaign.Mode.choices)
    reveal = s.ChoiceField(choices=Campaign.Reveal.choices)
    overlap = s.IntegerField()
    show_ground_truth = s.BooleanField()
    qc_rate = s.FloatField()
    lease_minutes = s.IntegerField()
    allow_corrections = s.BooleanField()
    critique = s.ChoiceField(choices=Campaign.Ask.choices)
    error_types = s.ChoiceField(choices=Campaign.Ask.choices)
    error_taxonomy = ErrorTypeOut(many=True)
    prelabels = s.ChoiceField(choices=Campaign.Prelabels.choices)
    prelabel_share = s.FloatField()
    prelabel_threshold = s.FloatField()
    instructions = s.CharField(allow_blank=True)
    screening_size = s.IntegerField()
    screening_threshold = s.FloatField()
    autopause_window = s.IntegerField()
    autopause_threshold = s.FloatField(allow_null=True)
    hourly_rate = money()
    created_at = s.DateTimeField()
    created_by = s.CharField(allow_null=True)
    members = s.IntegerField()
    pool = PoolOut()


class CampaignChangedOut(CampaignOut):
    changed = s.ListField(child=s.CharField(), help_text="the settings that changed")
    reopened = s.IntegerField(help_text="tasks reopened by a higher overlap")
    closed = s.IntegerField(help_text="open slots closed by a lower overlap")
    summary = s.CharField()


class CampaignSettingsIn(s.Serializer):
    """Any subset of the settings (and `status`); the service checks every value."""

    name = s.CharField(required=False, max_length=200)
    description = s.CharField(required=False, allow_blank=True)
    mode = s.ChoiceField(choices=Campaign.Mode.choices, required=False)
    reveal = s.ChoiceField(choices=Campaign.Reveal.choices, required=False)
    overlap = s.IntegerField(required=False, min_value=1)
    show_ground_truth = s.BooleanField(required=False)
    qc_rate = s.FloatField(required=False, min_value=0, max_value=1)
    lease_minutes = s.IntegerField(required=False, min_value=1)
    allow_corrections = s.BooleanField(required=False)
    critique = s.ChoiceField(choices=Campaign.Ask.choices, required=False,
                             help_text="a written critique of a negative step: off, optional, or required")
    error_types = s.ChoiceField(choices=Campaign.Ask.choices, required=False,
                                help_text="error types of a negative step: off, optional, or required")
    error_taxonomy = ErrorTypeIn(many=True, required=False, help_text="1 to 9 types; keys are stored with the labels")
    prelabels = s.ChoiceField(choices=Campaign.Prelabels.choices, required=False, help_text=(
        "suggested step ratings the annotator verifies: off, model (the active PRM's step probabilities) or "
        "imported (the import file's step_prelabels); never on gold or screening items"))
    prelabel_share = s.FloatField(required=False, min_value=0, max_value=1,
                                  help_text="share of normal tasks shown suggestions; the rest are the control")
    prelabel_threshold = s.FloatField(required=False, min_value=0, max_value=1,
                                      help_text="a step probability at or above it suggests +1, below it -1")
    instructions = s.CharField(required=False, allow_blank=True)
    screening_size = s.IntegerField(required=False, min_value=0)
    screening_threshold = s.FloatField(required=False, min_value=0, max_value=1)
    autopause_window = s.IntegerField(required=False, min_value=0, max_value=1000,
                                      help_text="the last N gold answers an annotator is judged on; 0 never pauses")
    autopause_threshold = s.FloatField(required=False, min_value=0, max_value=1)
    hourly_rate = s.DecimalField(required=False, allow_null=True, max_digits=8, decimal_places=2, min_value=0)
    status = s.ChoiceField(choices=Campaign.Status.choices, required=False)


class CampaignCreateIn(CampaignSettingsIn):
    slug = s.SlugField(max_length=64)
    name = s.CharField(max_length=200)


# --- members --------------------------------------------------------------------------------


class MemberOut(s.Serializer):
    user_id = s.IntegerField()
    username = s.CharField()
    email = s.CharField(allow_blank=True)
    role = s.ChoiceField(choices=Membership.Role.choices)
    role_name = s.ChoiceField(choices=list(MEMBER_ROLES),
                              help_text="the role as the Members page names it (expert: an annotator who adjudicates)")
    expert = s.BooleanField(help_text="may adjudicate")
    status = s.ChoiceField(choices=Membership.Status.choices)
    status_reason = s.CharField(allow_blank=True)
    invite_pending = s.BooleanField()
    labels = s.IntegerField(help_text="submitted labelings in this campaign")
    hourly_rate = money()


class MemberListOut(s.Serializer):
    results = MemberOut(many=True)


class MembersAddedRowOut(s.Serializer):
    """One person from a members POST: found or created, and how they were invited."""

    who = s.CharField()
    user_id = s.IntegerField()
    username = s.CharField()
    role = s.CharField()
    created = s.BooleanField()
    invite_url = s.CharField(allow_null=True)
    emailed = s.BooleanField()


class MembersAddedOut(s.Serializer):
    results = MembersAddedRowOut(many=True)


class MembersRemovedOut(s.Serializer):
    removed = s.IntegerField()


class MemberStatusOut(s.Serializer):
    user = s.IntegerField()
    status = s.ChoiceField(choices=Membership.Status.choices)
    reason = s.CharField(allow_blank=True)


# --- progress and people ----------------------------------------------------------------------


class QueueRowOut(s.Serializer):
    queue_strategy = s.CharField(allow_null=True)
    queue_model_version = s.CharField(allow_null=True, allow_blank=True)
    queue_generation = s.IntegerField(allow_null=True)
    n = s.IntegerField()
    top = s.FloatField(allow_null=True, help_text="highest priority in the queue")


class BadReportOut(s.Serializer):
    id = s.IntegerField()
    solution_id = s.IntegerField()
    problem_id = s.IntegerField()
    finish_note = s.CharField(allow_blank=True)
    submitted_at = s.DateTimeField()
    username = s.CharField(help_text="who reported it")


class RatingCountsOut(s.Serializer):
    positive = s.IntegerField()
    neutral = s.IntegerField()
    negative = s.IntegerField()


class FinishReasonsOut(s.Serializer):
    solution = s.IntegerField()
    found_error = s.IntegerField()
    give_up = s.IntegerField()
    bad_problem = s.IntegerField()


def pair():
    return s.ListField(child=s.JSONField(), min_length=2, max_length=2)


class OverviewOut(s.Serializer):
    pool = s.IntegerField(help_text="tasks to label (gold excluded)")
    done = s.IntegerField(help_text="tasks with all their labels")
    started = s.IntegerField()
    open = s.IntegerField()
    leased = s.IntegerField()
    gold_items = s.IntegerField()
    overlap = s.IntegerField()
    labels_done = s.IntegerField()
    labels_remaining = s.IntegerField()
    progress = s.FloatField(allow_null=True, help_text="share of tasks done, 0..1")
    labels_total = s.IntegerField()
    labels_last_hour = s.IntegerField()
    labels_today = s.IntegerField()
    labels_24h = s.IntegerField()
    labels_week = s.IntegerField()
    active_annotators_week = s.IntegerField()
    per_hour = s.FloatField(allow_null=True)
    eta_hours = s.FloatField(allow_null=True)
    eta_at = s.DateTimeField(allow_null=True)
    hours_today = s.ListField(child=pair(), help_text="[hour label, labels] pairs")
    days = s.ListField(child=pair(), help_text="[day label, labels] pairs, last 7 days")
    ratings = RatingCountsOut()
    steps_rated = s.IntegerField()
    finish_reasons = FinishReasonsOut()
    first_errors = s.ListField(child=pair(), help_text="[first error step index or null, labelings] pairs")
    queue = QueueRowOut(many=True)
    bad_reports = BadReportOut(many=True)
    adjudication_open = s.IntegerField()
    adjudication_resolved = s.IntegerField()
    qc_scored = s.IntegerField()
    qc_accuracy = s.FloatField(allow_null=True)
    qc_first_error_exact = s.FloatField(allow_null=True)


class AnnotatorRowOut(s.Serializer):
    user_id = s.IntegerField()
    username = s.CharField()
    tasks = s.IntegerField()
    steps = s.IntegerField()
    today = s.IntegerField()
    median_task_s = s.FloatField(allow_null=True)
    median_step_s = s.FloatField(allow_null=True)
    give_up_rate = s.FloatField(allow_null=True)
    bad_problem_rate = s.FloatField(allow_null=True)
    last_active = s.DateTimeField(allow_null=True)
    qc_items = s.IntegerField()
    qc_accuracy = s.FloatField(allow_null=True)
    qc_miss_rate = s.FloatField(allow_null=True)
    qc_false_alarm_rate = s.FloatField(allow_null=True)
    qc_first_error_exact = s.FloatField(allow_null=True)
    qc_first_error_within_one = s.FloatField(allow_null=True)
    screening_items = s.IntegerField()
    screening_accuracy = s.FloatField(allow_null=True)
    agreement = s.FloatField(allow_null=True)
    agreement_units = s.IntegerField()
    first_error_agreement = s.FloatField(allow_null=True)
    status = s.CharField(allow_null=True)
    status_reason = s.CharField(allow_blank=True, allow_null=True)
    is_member = s.BooleanField()


class AnnotatorListOut(s.Serializer):
    results = AnnotatorRowOut(many=True)


class AgreementFiguresOut(s.Serializer):
    alpha = s.FloatField(allow_null=True, help_text="Krippendorff's alpha over step ratings")
    step_units = s.IntegerField()
    solution_pairs = s.IntegerField()
    kappa_has_error = s.FloatField(allow_null=True)
    first_error_exact = s.FloatField(allow_null=True)
    first_error_within_one = s.FloatField(allow_null=True)


class AgreementPairOut(AgreementFiguresOut):
    a = s.IntegerField(help_text="user id")
    b = s.IntegerField(help_text="user id")


class AgreementDataOut(s.Serializer):
    pairs = AgreementPairOut(many=True)
    campaign = AgreementFiguresOut()
    annotators = s.DictField(child=AgreementFiguresOut(), help_text="figures per user id")
    pair_count = s.IntegerField()


class AgreementOut(s.Serializer):
    computed_at = s.DateTimeField(allow_null=True)
    data = AgreementDataOut(allow_null=True, help_text="null until agreement was first computed")


# --- adjudication and gold ------------------------------------------------------------------------


class AdjudicationItemOut(s.Serializer):
    solution = s.IntegerField()
    status = s.ChoiceField(choices=["open", "resolved"])
    first_errors = s.ListField(child=s.IntegerField(allow_null=True), help_text="each labeling's first error")
    label_count = s.IntegerField()
    ratings = s.ListField(child=s.IntegerField(allow_null=True), allow_null=True, help_text="the resolution")
    created_at = s.DateTimeField()


class AdjudicationListOut(s.Serializer):
    results = AdjudicationItemOut(many=True)


class AdjudicationResolvedOut(s.Serializer):
    solution = s.IntegerField()
    status = s.CharField()
    ratings = s.ListField(child=s.IntegerField(allow_null=True))
    first_error_index = s.IntegerField(allow_null=True)


class GoldSetOut(s.Serializer):
    solution = s.IntegerField()
    task = s.IntegerField()
    is_gold = s.BooleanField()


# --- cost and history -------------------------------------------------------------------------------


class CostRowOut(s.Serializer):
    annotator = s.CharField()
    annotator_id = s.IntegerField()
    period = s.DateField(help_text="the day, or the Monday of the week")
    active_hours = money()
    tasks = s.IntegerField()
    steps = s.IntegerField()
    labels_per_hour = money()
    hourly_rate = money()
    cost = money()
    cost_per_label = money()


class CostTotalsOut(s.Serializer):
    active_hours = money()
    tasks = s.IntegerField()
    steps = s.IntegerField()
    cost = money(help_text="null unless every row has a rate")
    cost_per_label = money()


class CostOut(s.Serializer):
    results = CostRowOut(many=True)
    totals = CostTotalsOut()
    hourly_rate = money(help_text="the campaign's default rate")


class HistoryEventOut(s.Serializer):
    at = s.DateTimeField()
    event = s.IntegerField()
    by = s.CharField(allow_null=True, help_text="username, null for a command or a migration")
    via = s.CharField(allow_null=True, help_text="the request's URL, when there was one")
    what = s.ChoiceField(choices=["StepLabel", "GoldStepLabel", "Adjudication", "Membership", "Campaign"])
    object = s.IntegerField()
    change = s.ChoiceField(choices=["created", "changed", "removed"])
    before = s.DictField(allow_null=True)
    after = s.DictField(allow_null=True)
    diff = s.DictField(child=s.ListField(min_length=2, max_length=2), help_text="field: [before, after]")
    solution = s.IntegerField(allow_null=True)
    assignment = s.IntegerField(required=False, allow_null=True)


class HistoryOut(s.Serializer):
    results = HistoryEventOut(many=True)


# --- error types ----------------------------------------------------------------------------------


class AgainstGoldOut(s.Serializer):
    compared = s.IntegerField(help_text="negative gold steps with reference types that were also rated negative")
    match = s.FloatField(allow_null=True, help_text="share of those where the types shared one with gold")
    jaccard = s.FloatField(allow_null=True, help_text="mean |A∩G| / |A∪G| of the types")


class ErrorTypeCountOut(s.Serializer):
    key = s.CharField()
    label = s.CharField()
    count = s.IntegerField()
    share = s.FloatField(allow_null=True, help_text="of the negative steps that carry a type")
    in_taxonomy = s.BooleanField(help_text="false for a key since removed from the taxonomy")


class ErrorTypeAnnotatorOut(s.Serializer):
    user_id = s.IntegerField()
    username = s.CharField()
    negatives = s.IntegerField()
    typed = s.IntegerField()
    critiqued = s.IntegerField()
    counts = s.ListField(child=s.IntegerField(), help_text="per type, in the order of `types`")
    gold = AgainstGoldOut()


class ErrorTypeReportOut(s.Serializer):
    types = ErrorTypeCountOut(many=True)
    negatives = s.IntegerField()
    typed = s.IntegerField()
    critiqued = s.IntegerField()
    annotators = ErrorTypeAnnotatorOut(many=True)
    gold = AgainstGoldOut()


# --- pre-label bias report ---------------------------------------------------------------------


class ShareOut(s.Serializer):
    n = s.IntegerField(help_text="steps (or label pairs) counted")
    hits = s.IntegerField(help_text="of them, the ones that agree")
    rate = s.FloatField(allow_null=True, help_text="hits / n; null when n is 0")


class SuggestionRowOut(ShareOut):
    suggested = s.IntegerField(help_text="the suggested rating")
    overridden = s.IntegerField(help_text="steps rated otherwise than suggested")


class PrelabelArmsOut(s.Serializer):
    shown = ShareOut()
    control = ShareOut()


class PrelabelAgreementOut(PrelabelArmsOut):
    pull = s.FloatField(allow_null=True, help_text="shown minus control: how far the hints pull labels")


class PrelabelPairsOut(PrelabelArmsOut):
    gap = s.FloatField(allow_null=True, help_text="inter-annotator agreement, shown minus control")


class PrelabelOverrideOut(ShareOut):
    by_suggestion = SuggestionRowOut(many=True)
    control_by_suggestion = SuggestionRowOut(many=True)


class PrelabelGoldOut(s.Serializer):
    annotators = ShareOut(help_text="annotators' exact-match accuracy on gold steps (unaided by design)")
    suggestions = ShareOut(help_text="the suggestions' accuracy on the same gold steps (never shown there)")
    annotators_where_suggested = ShareOut(help_text="annotators on the gold steps that had a suggestion")


class PrelabelCountsOut(s.Serializer):
    shown = s.IntegerField()
    control = s.IntegerField()


class PrelabelAnnotatorOut(s.Serializer):
    user_id = s.IntegerField()
    username = s.CharField()
    shown = ShareOut()
    control = ShareOut()
    pull = s.FloatField(allow_null=True)
    gold = ShareOut()


class PrelabelReportOut(s.Serializer):
    # A plain string: the same choices as the campaign's `prelabels`, which names their enum.
    setting = s.CharField(help_text="the campaign's prelabels setting: off, model or imported")
    share = s.FloatField()
    assignments = PrelabelCountsOut(help_text="submitted normal labelings per arm")
    agreement_with_suggestion = PrelabelAgreementOut()
    override = PrelabelOverrideOut(help_text="shown arm: steps rated otherwise than suggested")
    inter_annotator = PrelabelPairsOut()
    gold = PrelabelGoldOut()
    annotators = PrelabelAnnotatorOut(many=True)


# --- grader review --------------------------------------------------------------------------------


class GraderReviewOut(s.Serializer):
    solution = s.IntegerField(source="solution_id")
    reason = s.ChoiceField(choices=GraderReview.Reason.choices)
    status = s.ChoiceField(choices=GraderReview.Status.choices)
    raised_by = s.CharField(allow_null=True, help_text="the annotator whose labeling queued it")
    extracted_answer = s.CharField(allow_blank=True, help_text="what the grader extracted from the solution")
    reference_answer = s.CharField(allow_blank=True)
    grader_verdict = s.BooleanField(allow_null=True)
    grader_version = s.CharField(allow_blank=True)
    verdict = s.BooleanField(allow_null=True, help_text="the person's decision, once resolved")
    note = s.CharField(allow_blank=True)
    resolved_by = s.CharField(allow_null=True)
    resolved_at = s.DateTimeField(allow_null=True)
    created_at = s.DateTimeField()


class GraderReviewListOut(s.Serializer):
    results = GraderReviewOut(many=True)

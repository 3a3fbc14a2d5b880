from collections.abc import Mapping

from rest_framework import serializers

from labeling.models import Assignment, Campaign
from labeling.models.campaigns import MAX_ERROR_TYPES
from labeling.services.segments import MAX_SEGMENTS
from labeling.services.submissions import MAX_CRITIQUE

# Bounds a database column can hold: a bigint of milliseconds is 292 million years; a year of
# active labeling (3.2e10 ms) per task is already absurd, so anything past 1e12 is a client bug.
MAX_ACTIVE_MS = 10**12
MAX_ID = 2**63 - 1
MAX_STEP = 32767


_JSON_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _json_kind(field) -> tuple[type, ...] | None:
    """The JSON types a field takes from a JSON body; None where DRF's own parsing is the rule."""
    if isinstance(field, serializers.BooleanField):
        return (bool,)
    if isinstance(field, serializers.IntegerField):
        return (int,)
    if isinstance(field, serializers.FloatField):
        return (int, float)
    if isinstance(field, serializers.ChoiceField):
        keys = list(field.choices)
        if keys and all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
            return (int,)
        if keys and all(isinstance(k, str) for k in keys):
            return (str,)
        return None
    # UUIDField too: DRF would read an integer as UUID(int=...), an id no client sent.
    if isinstance(field, serializers.CharField | serializers.UUIDField | serializers.DateField
                  | serializers.DateTimeField):
        return (str,)
    return None


def _json_type_error(field, value) -> str | None:
    if value is None:
        return None  # allow_null decides
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for i, item in enumerate(value):
            if (msg := _json_type_error(field.child, item)) is not None:
                return f"item {i}: {msg}"
        return None
    kinds = _json_kind(field)
    if kinds is None:
        return None
    ok = isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
    if ok:
        return None
    got = _JSON_NAMES.get(type(value), "a list" if isinstance(value, list) else "an object")
    return f"expected {_JSON_NAMES[kinds[-1]] if kinds != (int, float) else 'a number'}, got {got}"


class StrictSerializer(serializers.Serializer):
    """An input that refuses keys it does not know, naming them (a 400): DRF would drop them silently,
    and a misspelt field (`error_type`, a top-level `error_types`) would be lost without a word.

    In a JSON body it also refuses values of the wrong JSON type, which DRF would coerce: `"rating": "1"`,
    `"flagged": "no"`, `"step": 1.0`, a number for a string. A form or query string, where every value is
    text, keeps DRF's parsing.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(k) for k in set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["not a field here"] for k in unknown})
        json_types_check(self, data)
        return super().to_internal_value(data)


def json_types_check(serializer: serializers.Serializer, data) -> None:
    """Refuse (a 400 naming each field) a JSON body's values of the wrong JSON type for `serializer`'s
    fields. A QueryDict (form, query string, multipart) is a dict subclass and passes: its values are text."""
    if type(data) is not dict:
        return
    wrong = {name: [msg] for name, field in serializer.fields.items()
             if name in data and not field.read_only and (msg := _json_type_error(field, data[name])) is not None}
    if wrong:
        raise serializers.ValidationError(wrong)


class RatingSerializer(StrictSerializer):
    step = serializers.IntegerField(min_value=0, max_value=MAX_STEP)
    rating = serializers.ChoiceField(choices=[-1, 0, 1])
    flagged = serializers.BooleanField(default=False)
    critique = serializers.CharField(allow_blank=True, default="", max_length=MAX_CRITIQUE, trim_whitespace=False,
                                     help_text="on a negative step: what is wrong with it (Markdown and math)")
    error_types = serializers.ListField(
        child=serializers.CharField(max_length=32), default=list, max_length=MAX_ERROR_TYPES,
        help_text="on a negative step: keys from the campaign's error_taxonomy")


class StepStateSerializer(StrictSerializer):
    step = serializers.IntegerField(min_value=0, max_value=MAX_STEP)
    rating = serializers.ChoiceField(choices=[-1, 0, 1], allow_null=True)
    flagged = serializers.BooleanField(default=False)


class UiStateSerializer(StrictSerializer):
    """The page's state kept with a draft, so a reload restores it: cursor, flags on unrated steps, undo stack."""

    cursor = serializers.IntegerField(min_value=0, max_value=MAX_STEP, default=0)
    flags = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=MAX_STEP), default=list,
                                  max_length=1000)
    history = serializers.ListField(
        child=serializers.ListField(child=StepStateSerializer(), max_length=1000), default=list, max_length=1000,
        help_text="undo stack, oldest first: each entry lists the step states one change replaced",
    )


class SegmentsField(serializers.ListField):
    """Step split and merge: each labeled step as pieces [served step index, start, end] of the served steps."""

    def __init__(self, **kwargs):
        piece = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=10**7), min_length=3,
                                      max_length=3)
        super().__init__(child=serializers.ListField(child=piece, min_length=1, max_length=MAX_SEGMENTS),
                         max_length=MAX_SEGMENTS, **kwargs)


class LabelsSerializer(StrictSerializer):
    ratings = RatingSerializer(many=True, max_length=MAX_STEP)
    segments = SegmentsField(required=False, allow_null=True, help_text=(
        "step split and merge: the steps as labeled, each a list of pieces [served step, start, end] that read "
        "the served steps in order; null (or the served steps unchanged) labels them as served; leave it out "
        "to keep the segmentation of the draft"))
    active_ms = serializers.IntegerField(min_value=0, max_value=MAX_ACTIVE_MS, default=0)
    corrected_step = serializers.CharField(allow_blank=True, default="", max_length=20000)
    note = serializers.CharField(allow_blank=True, default="", max_length=5000)


class DraftSerializer(LabelsSerializer):
    ui = UiStateSerializer(required=False)


class SubmitSerializer(LabelsSerializer):
    submission_id = serializers.UUIDField()
    finish_reason = serializers.ChoiceField(
        choices=["auto", *Assignment.FinishReason.values], default="auto", required=False
    )


class HeartbeatSerializer(StrictSerializer):
    active_ms = serializers.IntegerField(min_value=0, max_value=MAX_ACTIVE_MS, default=0)


class NextSerializer(StrictSerializer):
    exclude = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID,
                                       help_text="the task on screen, when fetching one ahead of it")
    prefetch = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="fetch a task ahead (short lease, not shown yet); defaults to true when `exclude` is given",
    )

    def validate(self, attrs):
        if attrs.get("prefetch") is None:
            attrs["prefetch"] = attrs.get("exclude") is not None
        elif not attrs["prefetch"] and attrs.get("exclude") is not None:
            raise serializers.ValidationError({"exclude": "only a fetch ahead (prefetch) excludes the task on screen"})
        return attrs


class LeaseSerializer(serializers.Serializer):
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class DraftSavedSerializer(LeaseSerializer):
    saved = serializers.BooleanField()


class SkippedSerializer(serializers.Serializer):
    skipped = serializers.BooleanField()


class ReleasedSerializer(serializers.Serializer):
    released = serializers.BooleanField(help_text="false when the task was on screen and keeps its lease")


class SkipSerializer(StrictSerializer):
    note = serializers.CharField(allow_blank=True, default="", max_length=5000)


class StepSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField()
    rating = serializers.IntegerField(allow_null=True)
    flagged = serializers.BooleanField()
    critique = serializers.CharField(allow_blank=True)
    error_types = serializers.ListField(child=serializers.CharField())
    suggested = serializers.IntegerField(allow_null=True, help_text=(
        "the suggested rating (verified pre-labels): a hint to confirm or change, never a rating"))


class ErrorTypeSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField(allow_blank=True)


class TaskPayloadSerializer(serializers.Serializer):
    """The labeling page's view of one assignment (no QC or queue information)."""

    id = serializers.IntegerField()
    campaign = serializers.CharField()
    status = serializers.CharField()
    mode = serializers.CharField()
    reveal = serializers.ChoiceField(choices=["all", "progressive"])
    allow_corrections = serializers.BooleanField()
    critique = serializers.ChoiceField(choices=Campaign.Ask.choices,
                                       help_text="whether a negative step takes a written critique")
    error_types = serializers.ChoiceField(choices=Campaign.Ask.choices,
                                          help_text="whether a negative step takes error types")
    error_taxonomy = ErrorTypeSerializer(many=True, help_text="the types to pick from; digit n picks the n-th")
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    shown = serializers.BooleanField(help_text="false while it is only fetched ahead")
    problem = serializers.CharField()
    ground_truth_answer = serializers.CharField(allow_null=True)
    steps = StepSerializer(many=True)
    corrected_step = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    finish_reason = serializers.CharField(allow_null=True)
    active_ms = serializers.IntegerField()
    ui = UiStateSerializer()
    suggestions = serializers.BooleanField(help_text="whether steps carry suggested ratings")
    segments = SegmentsField(required=False, allow_null=True, help_text=(
        "when the annotator split or merged steps: the steps labeled, as pieces of the served steps"))
    served_steps = serializers.ListField(child=serializers.CharField(), allow_null=True, help_text=(
        "the served solution's steps when `segments` is set (what the pieces refer to)"))
    served_suggested = serializers.ListField(child=serializers.IntegerField(allow_null=True), allow_null=True,
                                             help_text="the served steps' suggested ratings, when re-segmented")


class CampaignStatsSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    mode = serializers.CharField()
    role = serializers.CharField()
    done_today = serializers.IntegerField()
    done_total = serializers.IntegerField()
    remaining = serializers.IntegerField()


class AssignmentListSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "campaign", "solution", "status", "finish_reason", "leased_at", "lease_expires_at",
                  "submitted_at", "active_ms"]

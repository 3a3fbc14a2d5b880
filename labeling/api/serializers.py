from rest_framework import serializers

from labeling.models import Assignment


class RatingSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=0)
    rating = serializers.ChoiceField(choices=[-1, 0, 1])
    flagged = serializers.BooleanField(default=False)


class DraftSerializer(serializers.Serializer):
    ratings = RatingSerializer(many=True)
    active_ms = serializers.IntegerField(min_value=0, default=0)
    corrected_step = serializers.CharField(allow_blank=True, default="", max_length=20000)
    note = serializers.CharField(allow_blank=True, default="", max_length=5000)


class SubmitSerializer(DraftSerializer):
    submission_id = serializers.UUIDField()
    finish_reason = serializers.ChoiceField(
        choices=["auto", *Assignment.FinishReason.values], default="auto", required=False
    )


class HeartbeatSerializer(serializers.Serializer):
    active_ms = serializers.IntegerField(min_value=0, default=0)


class NextSerializer(serializers.Serializer):
    exclude = serializers.IntegerField(required=False, allow_null=True)


class SkipSerializer(serializers.Serializer):
    note = serializers.CharField(allow_blank=True, default="", max_length=5000)


class StepSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField()
    rating = serializers.IntegerField(allow_null=True)
    flagged = serializers.BooleanField()


class TaskPayloadSerializer(serializers.Serializer):
    """The labeling page's view of one assignment (no QC or queue information)."""

    id = serializers.IntegerField()
    campaign = serializers.CharField()
    status = serializers.CharField()
    mode = serializers.CharField()
    allow_corrections = serializers.BooleanField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    problem = serializers.CharField()
    ground_truth_answer = serializers.CharField(allow_null=True)
    steps = StepSerializer(many=True)
    corrected_step = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    finish_reason = serializers.CharField(allow_null=True)
    active_ms = serializers.IntegerField()


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

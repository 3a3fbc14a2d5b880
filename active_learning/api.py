"""Manager API of active learning (mounted under /api/manage/campaigns/<slug>/). Interfaces only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from active_learning.evalsets import EVAL_SETS
from active_learning.forms import EDITABLE
from active_learning.models import ActiveLearningConfig, TrainingRun
from active_learning.selectors import score_stage_progress
from active_learning.services.training import (
    al_config_get_or_create,
    al_config_update,
    model_promote,
    training_run_request,
)
from active_learning.strategies import STRATEGIES
from labeling.api.manage import ManagerView
from labeling.errors import NotFound, ValidationFailed


class RetrainOut(serializers.Serializer):
    run = serializers.IntegerField(help_text="the training run's id")
    status = serializers.ChoiceField(choices=TrainingRun.Status.choices)


class PromoteIn(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="must be true: promoting by hand overrides the gate")


class PromoteOut(serializers.Serializer):
    version = serializers.IntegerField()
    is_active = serializers.BooleanField()
    rescore_run = serializers.IntegerField(allow_null=True, help_text="the run that rescores the pool with it")


class RetrainView(ManagerView):
    @extend_schema(request=None, responses={202: RetrainOut})
    def post(self, request, slug):
        run = training_run_request(campaign=self.campaign(request, slug), trigger=TrainingRun.Trigger.MANUAL,
                                   user=request.user)
        return Response({"run": run.pk, "status": run.status}, status=202)


class PromoteView(ManagerView):
    @extend_schema(request=PromoteIn, responses={200: PromoteOut},
                   description='Make model `version` the active one by hand, overriding the promotion gate. '
                               'Send {"confirm": true}.')
    def post(self, request, slug, version):
        campaign = self.campaign(request, slug)
        if not isinstance(request.data, dict) or request.data.get("confirm") is not True:
            raise ValidationFailed('promoting by hand overrides the gate: send {"confirm": true}')
        model, rescore = model_promote(campaign=campaign, version=version, by=request.user)
        return Response({"version": model.version, "is_active": model.is_active,
                         "rescore_run": rescore.pk if rescore else None})


class ScoringWorkerOut(serializers.Serializer):
    name = serializers.CharField(help_text="host:pid of the scoring process")
    done = serializers.IntegerField(help_text="chunks it finished")
    busy = serializers.BooleanField(help_text="whether it holds a chunk now")
    silent_s = serializers.IntegerField(allow_null=True, help_text="seconds since it last renewed its chunk's "
                                        "lease, when that is long enough to think it dead (else null)")
    handed_on_in_s = serializers.IntegerField(allow_null=True, help_text="seconds until its lease lapses and "
                                              "the chunk goes to another worker (null: at the next check)")


class ScoringProgressOut(serializers.Serializer):
    chunks = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    solutions = serializers.IntegerField(help_text="pool solutions in the chunks when the stage was planned")
    scored = serializers.IntegerField(help_text="solutions scored by the finished chunks")
    workers = ScoringWorkerOut(many=True)


class TrainingRunOut(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model.version", allow_null=True, default=None)
    scoring = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = ["id", "status", "stage", "trigger", "label_count", "model_version", "promoted", "metrics",
                  "report", "error", "created_at", "started_at", "finished_at", "scoring"]

    @extend_schema_field(ScoringProgressOut(allow_null=True))
    def get_scoring(self, run) -> dict | None:
        return score_stage_progress(run=run)


class TrainingRunsView(ManagerView):
    @extend_schema(responses={200: inline_serializer("TrainingRunList", {
                       "results": TrainingRunOut(many=True), "count": serializers.IntegerField()})},
                   operation_id="manage_campaigns_training_runs_list",
                   description="The campaign's latest 50 training runs, newest first, each with its score stage "
                               "by chunk; `count` is how many runs the campaign has.")
    def get(self, request, slug):
        runs = TrainingRun.objects.filter(campaign=self.campaign(request, slug))
        latest = runs.select_related("model").order_by("-created_at")[:50]
        return Response({"results": TrainingRunOut(latest, many=True).data, "count": runs.count()})


class TrainingRunView(ManagerView):
    @extend_schema(responses={200: TrainingRunOut},
                   description="One training run: status, stage, metrics, report and the score stage's chunks "
                               "by status and by worker.")
    def get(self, request, slug, run_id):
        run = (TrainingRun.objects.filter(campaign=self.campaign(request, slug), pk=run_id).select_related("model")
               .first())
        if run is None:
            raise NotFound(f"campaign '{slug}' has no training run {run_id}")
        return Response(TrainingRunOut(run).data)


class ActiveLearningSettings(serializers.ModelSerializer):
    """The settings the Model page edits; the model's field checks come with the fields."""

    strategy = serializers.ChoiceField(choices=sorted(STRATEGIES))
    eval_set = serializers.ChoiceField(choices=["", *sorted(EVAL_SETS)], allow_blank=True,
                                       help_text=ActiveLearningConfig._meta.get_field("eval_set").help_text)

    class Meta:
        model = ActiveLearningConfig
        fields = EDITABLE


class ActiveLearningSettingsOut(serializers.Serializer):
    settings = ActiveLearningSettings()
    changed = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="the settings this PATCH changed (PATCH only)")


class ActiveLearningSettingsView(ManagerView):
    @extend_schema(responses={200: ActiveLearningSettingsOut},
                   description="The campaign's active-learning settings, as on the dashboard's Model page.")
    def get(self, request, slug):
        config = al_config_get_or_create(campaign=self.campaign(request, slug))
        return Response({"settings": ActiveLearningSettings(config).data})

    @extend_schema(request=ActiveLearningSettings(partial=True), responses={200: ActiveLearningSettingsOut},
                   description="Change some settings; the rest stay. Checked as on the Model page (the configs "
                               "must build, budgets within the manager limits); a refusal changes nothing and "
                               "names each setting at fault in `details`. The JSON configs (model_config, "
                               "train_config, score_config) are replaced whole, as on the page: send the backbone "
                               "an administrator set along with your change. The next run uses the new settings.")
    def patch(self, request, slug):
        campaign = self.campaign(request, slug)
        if not isinstance(request.data, dict):
            raise ValidationFailed("send a JSON object of settings, such as {\"refill_size\": 100}")
        unknown = sorted(set(request.data) - set(EDITABLE))
        if unknown:
            raise ValidationFailed(f"unknown setting(s): {', '.join(unknown)}",
                                   details={k: ["not a setting"] for k in unknown})
        parsed = ActiveLearningSettings(al_config_get_or_create(campaign=campaign), data=request.data, partial=True)
        parsed.is_valid(raise_exception=True)
        config, changed = al_config_update(campaign=campaign, changes=dict(parsed.validated_data), by=request.user)
        return Response({"settings": ActiveLearningSettings(config).data, "changed": changed})

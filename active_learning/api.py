"""Manager API of active learning (mounted under /api/manage/campaigns/<slug>/). Interfaces only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from active_learning.models import TrainingRun
from active_learning.services.training import model_promote, training_run_request
from labeling.api.manage import ManagerView
from labeling.errors import ValidationFailed


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

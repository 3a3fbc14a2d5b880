"""Manager API of active learning (mounted under /api/manage/campaigns/<slug>/). Interfaces only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from active_learning.models import TrainingRun
from active_learning.services.training import training_run_request
from labeling.api.manage import ManagerView


class RetrainView(ManagerView):
    @extend_schema(request=None, responses={202: dict})
    def post(self, request, slug):
        run = training_run_request(campaign=self.campaign(request, slug), trigger=TrainingRun.Trigger.MANUAL,
                                   user=request.user)
        return Response({"run": run.pk, "status": run.status}, status=202)

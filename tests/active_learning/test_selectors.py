"""Reads of the active-learning dashboard pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from active_learning import selectors as sel
from active_learning.models import PRMModel, TrainingRun
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def test_model_panel_learning_curve():
    c = CampaignFactory()
    now = timezone.now()
    for i, (labels, auroc) in enumerate([(40, 0.6), (80, 0.7)], start=1):
        m = PRMModel.objects.create(campaign=c, version=i, backbone="b", checkpoint_path="/x", is_active=i == 2)
        TrainingRun.objects.create(
            campaign=c, status="succeeded", stage="done", label_count=labels, model=m, promoted=True,
            metrics={"step_auroc": auroc, "first_error_f1": 0.5, "best_of_n": {"prm": 0.4, "random": 0.3,
                                                                                "majority": 0.45}},
            started_at=now - timedelta(seconds=100), finished_at=now,
        )
    TrainingRun.objects.create(campaign=c, status="failed", stage="training", error="CUDA out of memory")
    panel = sel.model_panel(campaign=c)
    assert [(p["labels"], p["step_auroc"]) for p in panel["curve"]] == [(40, 0.6), (80, 0.7)]
    assert panel["active"].version == 2 and panel["last_duration_s"] == pytest.approx(100)
    assert panel["last_failure"].error == "CUDA out of memory"

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


def test_best_of_n_on_too_few_held_out_problems_is_left_off_the_curve(client, django_user_model):
    from labeling.models import Membership

    c = CampaignFactory()
    for labels, problems in [(40, 1), (80, sel.BEST_OF_N_MIN_PROBLEMS)]:
        TrainingRun.objects.create(
            campaign=c, status="succeeded", stage="done", label_count=labels,
            metrics={"step_auroc": 0.6, "best_of_n": {"problems": problems, "prm": 1.0, "random": 0.5,
                                                      "majority": 0.5}},
        )
    panel = sel.model_panel(campaign=c)
    assert [(p["labels"], p["best_of_n"], p["best_of_n_majority"]) for p in panel["curve"]] == [
        (40, None, None), (80, 1.0, 0.5)]
    assert [p["step_auroc"] for p in panel["curve"]] == [0.6, 0.6]  # only best-of-N is left out
    assert panel["bon_left_out"] == 1
    boss = django_user_model.objects.create_user("boss", password="x")
    Membership.objects.create(campaign=c, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{c.slug}/model/").content.decode()
    note = page.split('data-role="bon-left-out">', 1)[1].split("</p>", 1)[0]
    assert note.startswith("1 run left out: its held-out split had fewer than 10 problems")
    TrainingRun.objects.filter(campaign=c, label_count=80).delete()
    page = client.get(f"/manage/{c.slug}/model/").content.decode()
    assert "No run has a best-of-N figure: its held-out split needs problems with several solutions" in page

"""The promotion gate, pure and through a real training run."""

import pytest

from active_learning.models import ActiveLearningConfig, PRMModel, TrainingRun
from active_learning.promotion import promotion_decide
from active_learning.services.training import training_run_execute, training_run_request


def _decide(new, active=None, gate=True, margin=0.02, max_regression=0.02):
    return promotion_decide(metric="step_auroc", new={"step_auroc": new} if new is not None else {},
                            active={"step_auroc": active} if active is not None else None, gate=gate,
                            chance_margin=margin, max_regression=max_regression)


@pytest.mark.parametrize(("new", "active", "gate", "promote", "why"), [
    (0.341, None, True, False, "not above chance"),
    (0.52, None, True, False, "not above chance"),  # at most 0.5 + margin
    (0.521, None, True, True, "first model"),
    (None, None, True, False, "no held-out step_auroc"),
    (0.70, 0.75, True, False, "worse than the active model's 0.750 by more than 0.02"),
    (0.74, 0.75, True, True, "against the active model's 0.750"),
    (0.341, None, False, True, "first model"),  # the gate off: only the regression check
    (0.60, 0.75, False, False, "worse than the active model"),
])
def test_promotion_decide(new, active, gate, promote, why):
    d = _decide(new, active, gate=gate)
    assert d.promote is promote and why in d.reason


@pytest.mark.parametrize(("metric", "support", "gate", "promote", "why"), [
    # 2 right answers and 10 wrong: a perfect AUROC is a one-in-six fluke for a random ranker.
    ("solution_auroc", [2, 10], True, False, "rests on 2 right and 10 wrong answers; the gate needs at least 5"),
    ("step_auroc", [40, 4], True, False, "rests on 40 correct and 4 wrong steps"),
    ("step_auroc", [40, 5], True, True, "first model"),
    ("solution_auroc", [2, 10], False, True, "first model"),  # the gate off: no support check either
])
def test_an_auroc_on_too_few_examples_of_a_class_is_not_evidence(metric, support, gate, promote, why):
    d = promotion_decide(metric=metric, new={metric: 1.0, "support": {metric: support}}, active=None, gate=gate,
                         chance_margin=0.02, max_regression=None)
    assert d.promote is promote and why in d.reason


@pytest.mark.django_db
def test_a_below_chance_run_is_stored_but_never_promoted(al_campaign, monkeypatch, client, django_user_model):
    from labeling.models import Membership

    campaign, _ = al_campaign
    ActiveLearningConfig.objects.filter(campaign=campaign).update(promotion_gate=True)
    monkeypatch.setattr("active_learning.prm.evaluate.evaluate", lambda *a, **k: {"step_auroc": 0.341})
    run = training_run_request(campaign=campaign, enqueue=False)
    run = training_run_execute(run_id=run.pk)
    assert run.model is not None and not run.promoted
    assert "0.341 is not above chance" in run.report["promotion"]
    assert not PRMModel.objects.filter(campaign=campaign, is_active=True).exists()
    assert TrainingRun.objects.get(pk=run.pk).status == "running"  # the cycle goes on with no new model
    # The page does not claim nothing was trained: it names the model and why it is not serving.
    boss = django_user_model.objects.create_user("boss", password="x")
    Membership.objects.create(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/model/").content.decode()
    line = page.split('data-role="no-active">', 1)[1].split("</p>", 1)[0]
    assert f"v{run.model.version} (run {run.pk}) was trained but not promoted" in line and "0.341" in line
    assert "No model trained yet" not in page


@pytest.mark.django_db
def test_a_manager_promotes_by_hand_and_the_pool_is_scored_with_that_model(al_campaign, monkeypatch):
    from active_learning.services.cycles import cycle_run_inline
    from active_learning.services.training import model_promote, training_run_finish
    from labeling.errors import NotFound
    from tests.factories import UserFactory

    campaign, _ = al_campaign
    ActiveLearningConfig.objects.filter(campaign=campaign).update(promotion_gate=True)
    monkeypatch.setattr("active_learning.prm.evaluate.evaluate", lambda *a, **k: {"step_auroc": 0.341})
    run = training_run_execute(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    training_run_finish(run_id=run.pk)
    boss = UserFactory(username="boss")
    model, rescore = model_promote(campaign=campaign, version=run.model.version, by=boss)
    assert model.is_active and rescore is not None and rescore.config["train_stage"] is False
    run.refresh_from_db()
    assert run.promoted and run.report["promotion"].startswith("promoted by hand by boss (the gate had said: not")
    done = cycle_run_inline(run_id=rescore.pk)
    assert done.status == "succeeded" and done.report["scoring"]["model_version"] == model.version
    assert PRMModel.objects.filter(campaign=campaign).count() == 1  # nothing was trained
    with pytest.raises(NotFound):
        model_promote(campaign=campaign, version=99, by=boss)


@pytest.mark.django_db
def test_active_learning_settings_are_checked_before_they_are_saved():
    from active_learning.services.training import al_config_update
    from labeling.errors import ValidationFailed
    from tests.factories import CampaignFactory

    c = CampaignFactory()
    config, changed = al_config_update(campaign=c, changes={"min_labels": 7, "chance_margin": 0.05})
    assert sorted(changed) == ["chance_margin", "min_labels"] and config.min_labels == 7
    with pytest.raises(ValidationFailed, match="invalid"):
        al_config_update(campaign=c, changes={"train_config": {"epochz": 3}, "min_labels": 9})
    with pytest.raises(ValidationFailed, match="wrong_fraction"):
        al_config_update(campaign=c, changes={"wrong_fraction": 3.0})
    with pytest.raises(ValidationFailed, match="score_aggregate"):
        al_config_update(campaign=c, changes={"score_aggregate": "median"})
    # Wrong JSON types are named, not a TypeError from deep inside; NaN never reaches jsonb (a 500 there).
    with pytest.raises(ValidationFailed, match="TrainConfig.max_steps must be int or None, not 'lots'"):
        al_config_update(campaign=c, changes={"train_config": {"max_steps": "lots"}})
    with pytest.raises(ValidationFailed, match="ModelConfig.num_hidden_layers must be int or None, not nan"):
        al_config_update(campaign=c, changes={"model_config": {"num_hidden_layers": float("nan")}})
    # A typo would have made the gate refuse every model for want of a metric nobody computes.
    for metric in ("step_aucroc", "first_error_f1"):
        with pytest.raises(ValidationFailed, match="promotion_metric"):
            al_config_update(campaign=c, changes={"promotion_metric": metric})
    assert ActiveLearningConfig.objects.get(campaign=c).min_labels == 7  # nothing half-written
    config, _ = al_config_update(campaign=c, changes={"score_aggregate": "last", "promotion_metric": "solution_auroc"})
    got = ActiveLearningConfig.objects.get(campaign=c)
    assert (got.score_aggregate, got.promotion_metric) == ("last", "solution_auroc")


@pytest.mark.django_db
def test_managers_cannot_point_the_workers_at_another_directory_or_ask_for_huge_budgets():
    from active_learning.services.training import al_config_update
    from labeling.errors import ValidationFailed
    from tests.factories import CampaignFactory, UserFactory

    c = CampaignFactory()
    manager, admin = UserFactory(), UserFactory(is_superuser=True)
    with pytest.raises(ValidationFailed, match="only an administrator chooses the backbone"):
        al_config_update(campaign=c, changes={"model_config": {"backbone": "/etc"}}, by=manager)
    with pytest.raises(ValidationFailed, match="train_config: epochs may be at most 50"):
        al_config_update(campaign=c, changes={"train_config": {"epochs": 10_000}}, by=manager)
    with pytest.raises(ValidationFailed, match="must be a JSON object"):
        al_config_update(campaign=c, changes={"train_config": [1]}, by=manager)
    # an administrator may (the path is then checked when a run starts)
    al_config_update(campaign=c, changes={"train_config": {"epochs": 100}}, by=admin)


@pytest.mark.django_db
def test_a_run_that_trained_while_a_model_was_promoted_by_hand_does_not_undo_it(al_campaign, monkeypatch, tmp_path):
    from active_learning.services.training import model_promote
    from tests.factories import UserFactory

    campaign, _ = al_campaign
    ckpt = tmp_path / "v7"
    ckpt.mkdir()
    hand = PRMModel.objects.create(campaign=campaign, version=7, backbone="b", checkpoint_path=str(ckpt),
                                   metrics={"step_auroc": 0.9})
    boss = UserFactory()

    def evaluate_while_someone_promotes(*a, **k):
        model_promote(campaign=campaign, version=hand.version, by=boss)
        return {"step_auroc": 0.95}

    monkeypatch.setattr("active_learning.prm.evaluate.evaluate", evaluate_while_someone_promotes)
    run = training_run_execute(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert not run.promoted and "v7 was made active while this run trained" in run.report["promotion"]
    assert PRMModel.objects.get(campaign=campaign, is_active=True) == hand

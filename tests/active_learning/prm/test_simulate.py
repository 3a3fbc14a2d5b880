import pytest

from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.prm.model import PRM
from active_learning.prm.simulate import Curve, SimulationConfig, labels_to_reach, run_simulation, summarize
from tests.active_learning.prm.test_train import marker_dataset


def test_labels_to_reach_interpolates_and_gives_up_beyond_the_curve():
    curve = [(10, 0.5), (20, 0.7), (30, 0.8)]
    assert labels_to_reach(curve, 0.6) == pytest.approx(15)
    assert labels_to_reach(curve, 0.4) == 10
    assert labels_to_reach(curve, 0.9) is None


def test_efficiency_ratio_against_uniform_by_hand():
    def curve(strategy, pts):
        return Curve(strategy, 0, [{"labels": b, "m": q} for b, q in pts])

    s = summarize([curve("uniform", [(10, 0.5), (20, 0.6), (30, 0.7), (40, 0.8)]),
                   curve("smart", [(10, 0.5), (20, 0.75)])], "m")
    final = s["efficiency"]["smart"]["final"]
    # uniform reaches 0.75 at 35 labels; smart did it with 20: 1.75x.
    assert final == {"labels": 20, "quality": 0.75, "ratio": pytest.approx(1.75), "lower_bound": False}
    s = summarize([curve("uniform", [(10, 0.5), (20, 0.6)]), curve("smart", [(10, 0.5), (20, 0.9)])], "m")
    assert s["efficiency"]["smart"]["final"]["lower_bound"] is True


def test_simulation_runs_every_strategy_and_seed_at_equal_budgets(tiny_bert_dir):
    examples = marker_dataset(160, seed=0)
    cfg = ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16)
    result = run_simulation(
        examples, make_prm=lambda seed: PRM.from_backbone(cfg, seed=seed),
        train_config=TrainConfig(epochs=2, batch_size=8, learning_rate=3e-3),
        score_config=ScoreConfig(quantize_cpu=False),
        config=SimulationConfig(strategies=("convincing_wrong", "uniform"), seeds=(0, 1), initial=16, batch=16,
                                rounds=2, uniform_budget_factor=2),
    )
    curves = result["curves"]
    assert len(curves) == 4
    cw = [c for c in curves if c["strategy"] == "convincing_wrong"]
    uni = [c for c in curves if c["strategy"] == "uniform"]
    assert [p["labels"] for p in cw[0]["points"]] == [16, 32, 48]
    assert [p["labels"] for p in uni[0]["points"]] == [16, 32, 48, 64, 80]
    # Same seed, same uniform seed batch: the first points are identical.
    assert cw[0]["points"][0]["step_auroc"] == uni[0]["points"][0]["step_auroc"]
    assert "convincing_wrong" in result["summary"]["efficiency"]
    assert result["summary"]["mean_curves"]["uniform"][-1][0] == 80
    # The same curves through the other metrics, each with its own ratios.
    assert set(result["other_metrics"]) == {"first_error_f1", "solution_auroc"}
    fe = result["other_metrics"]["first_error_f1"]
    assert fe["metric"] == "first_error_f1" and "convincing_wrong" in fe["efficiency"]
    assert fe["mean_curves"]["uniform"][-1][1] == pytest.approx(
        sum(c["points"][-1]["first_error_f1"] for c in uni) / len(uni))

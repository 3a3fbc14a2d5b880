from dataclasses import replace

import pytest

from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.prm.model import PRM
from active_learning.prm.simulate import Curve, SimulationConfig, labels_to_reach, run_simulation, summarize
from active_learning.prm.train import train
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


def many_problem_dataset(n: int, seed: int, problems: int = 20):
    # marker_dataset spreads over 7 problems; cross-fitting needs enough problems in each fold.
    from dataclasses import replace

    return [replace(ex, problem=f"problem {i % problems}", group=str(i % problems), key=f"s{i}")
            for i, ex in enumerate(marker_dataset(n, seed=seed))]


def outcomes_of(pool):
    from dataclasses import replace

    from active_learning.prm.data import outcome_examples

    return outcome_examples([replace(ex, labels=(None,) * len(ex.steps)) for ex in pool], mode="all_steps")


def test_config_refuses_warm_arms_without_a_prior_and_a_calibration_split_that_eats_the_seed_batch():
    with pytest.raises(ValueError, match="need a prior"):
        SimulationConfig(warm_strategies=("uniform",))
    with pytest.raises(ValueError, match="calibration"):
        SimulationConfig(initial=8, calibration=8)
    with pytest.raises(ValueError, match="calibration_method must be one of temperature, platt"):
        SimulationConfig(calibration=4, calibration_method="isotonic")
    with pytest.raises(ValueError, match="calibration_method platt needs calibration > 0"):
        SimulationConfig(calibration_method="platt")  # the default calibration=0 would fit nothing
    cfg = SimulationConfig(strategies=("uniform", "ensemble"), prior="outcomes", warm_strategies=("uniform",))
    assert cfg.arms() == [("uniform", "uniform", False), ("ensemble", "ensemble", False),
                          ("uniform+outcomes", "uniform", True)]


def test_fit_prior_cross_fits_members_without_their_own_fold(tiny_bert_dir, monkeypatch):
    import active_learning.prm.simulate as simulate
    from active_learning.prm.folds import FoldedPRM, fold_of

    seen = []
    real_train = simulate.train
    monkeypatch.setattr(simulate, "train", lambda prm, exs, cfg: (seen.append({ex.problem for ex in exs}),
                                                                   real_train(prm, exs, cfg))[1])
    cfg = ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16)
    examples = outcomes_of(many_problem_dataset(60, seed=0))
    prior = simulate.fit_prior(examples, make_prm=lambda s: PRM.from_backbone(cfg, seed=s),
                               train_config=TrainConfig(epochs=1, batch_size=8), folds=2, seed=3)
    assert isinstance(prior, FoldedPRM) and prior.k == 2
    assert len(seen) == 2
    for f, problems in enumerate(seen):
        assert problems and all(fold_of(p, 2) != f for p in problems)
    # Together the members saw every problem: nothing was dropped, only kept from its own fold.
    assert seen[0] | seen[1] == {ex.problem for ex in examples}


def test_warm_arms_fine_tune_the_prior_and_are_paired_with_their_cold_arm(tiny_bert_dir, monkeypatch):
    import active_learning.prm.simulate as simulate

    trained_sizes = []
    real_train = simulate.train
    monkeypatch.setattr(simulate, "train", lambda prm, exs, cfg: (trained_sizes.append(len(exs)),
                                                                   real_train(prm, exs, cfg))[1])
    pools = []

    def prior_examples(pool):
        pools.append({ex.problem for ex in pool})
        return outcomes_of(pool)

    examples = many_problem_dataset(120, seed=0)
    cfg = ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16)
    result = run_simulation(
        examples, make_prm=lambda seed: PRM.from_backbone(cfg, seed=seed),
        train_config=TrainConfig(epochs=1, batch_size=8, learning_rate=3e-3),
        score_config=ScoreConfig(quantize_cpu=False),
        config=SimulationConfig(strategies=("uniform",), seeds=(0,), initial=12, batch=8, rounds=1,
                                uniform_budget_factor=2, prior="outcomes", warm_strategies=("uniform",),
                                prior_folds=2, calibration=4),
        prior_examples=prior_examples,
    )
    by_arm = {c["strategy"]: c for c in result["curves"]}
    assert set(by_arm) == {"uniform", "uniform+outcomes"}
    assert [p["labels"] for p in by_arm["uniform"]["points"]] == [12, 20, 28]
    assert [p["labels"] for p in by_arm["uniform+outcomes"]["points"]] == [12, 20]  # equal labels, not 3x
    # The prior never sees a held-out problem.
    heldout = {ex.problem for ex in examples} - pools[0]
    assert pools and heldout and len(pools) == 1
    assert result["priors"][0]["examples"] == result["pool"]
    # Every model is calibrated on the 4 seed-batch solutions it never trains on: cold rounds train on
    # labels - 4; the two prior members train on their folds (first), each warm round trains both members.
    prior_sizes, rest = trained_sizes[:2], trained_sizes[2:]
    assert sum(prior_sizes) == result["pool"]
    assert rest == [8, 16, 24, 8, 8, 16, 16]
    assert all("temperature" in p for c in result["curves"] for p in c["points"])

    gain = result["warm_gain"]["uniform+outcomes"]
    assert gain["against"] == "uniform"
    rows = gain["step_auroc"]
    assert [r["labels"] for r in rows] == [12, 20]
    warm, cold = by_arm["uniform+outcomes"]["points"], by_arm["uniform"]["points"]
    assert rows[1]["per_seed"] == [pytest.approx(warm[1]["step_auroc"] - cold[1]["step_auroc"])]
    # The warm arm's first point is its own model, so it takes part in the efficiency table.
    eff = result["summary"]["efficiency"]["uniform+outcomes"]["per_budget"]
    assert [b["labels"] for b in eff] == [12, 20]


def test_warm_gain_by_hand_is_paired_by_seed_and_budget():
    from active_learning.prm.simulate import warm_gain

    def curve(arm, seed, pts):
        return Curve(arm, seed, [{"labels": b, "step_auroc": q, "ece": 0.1} for b, q in pts])

    cfg = SimulationConfig(strategies=("uniform",), seeds=(0, 1), prior="p", warm_strategies=("uniform",))
    curves = [curve("uniform", 0, [(10, 0.5), (20, 0.6), (30, 0.7)]), curve("uniform", 1, [(10, 0.4), (20, 0.5)]),
              curve("uniform+p", 0, [(10, 0.6), (20, 0.65)]), curve("uniform+p", 1, [(10, 0.3), (20, 0.6)])]
    got = warm_gain(curves, cfg)["uniform+p"]
    assert [r["labels"] for r in got["step_auroc"]] == [10, 20]
    assert got["step_auroc"][0]["per_seed"] == [pytest.approx(0.1), pytest.approx(-0.1)]
    assert got["step_auroc"][1]["mean"] == pytest.approx((0.05 + 0.1) / 2)
    assert got["ece"][0]["mean"] == pytest.approx(0.0)
    assert got["first_error_f1"] == []
    first = got["step_auroc"][0]
    assert first["low"] == pytest.approx(-0.1) and first["high"] == pytest.approx(0.1)


def test_seed_intervals_resample_whole_seeds():
    from active_learning.prm.simulate import seed_intervals

    def curve(arm, seed, pts):
        return Curve(arm, seed, [{"labels": b, "m": q} for b, q in pts])

    uniform = [(10, 0.5), (20, 0.6), (30, 0.7), (40, 0.8)]
    same = [c for s in (0, 1, 2) for c in (curve("uniform", s, uniform), curve("smart", s, [(10, 0.5), (20, 0.75)]))]
    got = seed_intervals(same, "m")["smart"]
    # Every seed says 1.75x, so every replicate does too.
    assert got == {"ratio": pytest.approx(1.75), "labels": 20, "lower_bound": False,
                   "low": pytest.approx(1.75), "high": pytest.approx(1.75)}
    # One seed where smart is no better than uniform widens the interval down to 1x.
    mixed = same + [curve("uniform", 3, uniform), curve("smart", 3, [(10, 0.5), (20, 0.6)])]
    got = seed_intervals(mixed, "m")["smart"]
    assert got["low"] < got["ratio"] < got["high"] == pytest.approx(1.75)
    assert got["low"] >= 1.0 - 1e-9


def test_platt_calibration_stores_a_bias_on_every_member_and_never_raises_the_fitted_nll(tiny_bert_dir):
    from active_learning.prm.evaluate import calibrate
    from active_learning.prm.folds import FoldedPRM

    examples = many_problem_dataset(60, seed=1)
    cfg = ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16)
    prm = PRM.from_backbone(cfg, seed=0)
    train(prm, examples[:30], TrainConfig(epochs=1, batch_size=8, learning_rate=3e-3))
    twin = prm.copy()
    prm.meta = replace(prm.meta, temperature=2.0, bias=3.0)  # inherited from a warm start: replaced, not stacked
    out = calibrate(prm, examples[30:], method="platt")
    assert out == calibrate(twin, examples[30:], method="platt")  # the same fit as from an uncalibrated start
    assert out["method"] == "platt" and out["labeled_steps"] >= 30
    assert (prm.meta.temperature, prm.meta.bias) == (out["temperature"], out["bias"])
    assert out["nll_after"] <= out["nll_before"] + 1e-9
    folded = FoldedPRM([PRM.from_backbone(cfg, seed=s) for s in (1, 2)])
    both = calibrate(folded, examples, method="platt")
    assert both["biases"] == [m.meta.bias for m in folded.members] and len(both["temperatures"]) == 2
    with pytest.raises(ValueError, match="unknown calibration 'isotonic'"):
        calibrate(prm, examples, method="isotonic")

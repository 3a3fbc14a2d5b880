import math
import random

import pytest
import torch

from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.prm.data import SolutionExample
from active_learning.prm.evaluate import evaluate
from active_learning.prm.model import PRM
from active_learning.prm.train import train


def marker_dataset(n: int, seed: int) -> list[SolutionExample]:
    """Wrong steps say "wrong", right ones "right": learnable only by reading the step."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(2, 4)
        err = rng.choice([None, rng.randrange(k)])
        steps, labels = [], []
        for j in range(k):
            if err is not None and j > err:
                steps.append(f"then {j} more")
                labels.append(None)
            else:
                steps.append(f"so {j} is {'wrong' if j == err else 'right'}")
                labels.append(0 if j == err else 1)
        out.append(SolutionExample(problem=f"problem {i % 7}", steps=tuple(steps), labels=tuple(labels),
                                   group=str(i % 7), answer_correct=err is None, answer=str(err)))
    return out


def fresh(tiny_bert_dir, seed=0):
    return PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16),
                             seed=seed)


def test_training_learns_a_step_level_signal(tiny_bert_dir):
    prm = fresh(tiny_bert_dir)
    held = marker_dataset(40, seed=1)
    before = evaluate(prm, held)["step_auroc"]
    report = train(prm, marker_dataset(120, seed=0), TrainConfig(epochs=6, batch_size=8, learning_rate=3e-3))
    after = evaluate(prm, held)
    assert report.stopped_by == "epochs" and report.negatives > 0 and report.positives > report.negatives
    assert after["step_auroc"] > 0.95 > before + 0.2
    assert after["first_error_f1"] is not None and after["first_error_f1"] > 0.8
    assert after["solution_auroc"] > 0.9


def test_same_seed_same_weights_different_seed_different_weights(tiny_bert_dir):
    data = marker_dataset(30, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, seed=3)
    a, b, c = fresh(tiny_bert_dir, 3), fresh(tiny_bert_dir, 3), fresh(tiny_bert_dir, 4)
    train(a, data, cfg)
    train(b, data, cfg)
    train(c, data, TrainConfig.from_dict({**cfg.to_dict(), "seed": 4}))
    wa, wb, wc = (m.model.classifier.weight.detach() for m in (a, b, c))
    assert torch.equal(wa, wb)
    assert not torch.equal(wa, wc)


def test_budgets_stop_training_and_say_which_one(tiny_bert_dir):
    data = marker_dataset(40, seed=0)
    report = train(fresh(tiny_bert_dir), data, TrainConfig(epochs=10, batch_size=4, max_steps=3))
    assert (report.steps, report.stopped_by) == (3, "max_steps")
    report = train(fresh(tiny_bert_dir), data, TrainConfig(epochs=10, batch_size=4, time_budget_s=1e-9))
    assert (report.steps, report.stopped_by) == (0, "time_budget")
    calls = []
    report = train(fresh(tiny_bert_dir), data, TrainConfig(epochs=10, batch_size=4),
                   should_stop=lambda: len(calls) > 0, progress=lambda *a: calls.append(a), progress_every=1)
    assert (report.steps, report.stopped_by) == (1, "cancelled")


def test_no_labels_means_no_training(tiny_bert_dir):
    ex = [SolutionExample(problem="p", steps=("a",), labels=(None,))]
    assert train(fresh(tiny_bert_dir), ex, TrainConfig()).stopped_by == "no_data"


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="neutral"):
        TrainConfig(neutral="maybe")
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(ValueError, match="calibration must be one of temperature, platt"):
        TrainConfig(calibration="isotonic")
    with pytest.raises(ValueError, match="unknown TrainConfig"):
        TrainConfig.from_dict({"epoch": 1})
    with pytest.raises(ValueError, match="aggregate"):
        ScoreConfig(aggregate="median")
    assert ScoreConfig(aggregate="last").aggregate == "last"
    with pytest.raises(ValueError, match="max_problem_tokens"):
        ModelConfig(max_length=64, max_problem_tokens=40)


def test_lr_schedule_warms_up_then_decays_by_steps():
    from active_learning.prm.train import lr_factor

    assert lr_factor(0, total=100, warmup_fraction=0.1) == pytest.approx(0.1)
    assert lr_factor(9, total=100, warmup_fraction=0.1) == pytest.approx(1.0)
    assert lr_factor(54, total=100, warmup_fraction=0.1) == pytest.approx(0.55)
    assert lr_factor(99, total=100, warmup_fraction=0.1) == pytest.approx(0.1)
    assert lr_factor(0, total=10, warmup_fraction=0.0) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.1)))


def test_lr_schedule_follows_the_time_budget_when_it_runs_out_first():
    from active_learning.prm.train import lr_factor

    # A step total from `epochs` far beyond what the budget allows: warmup ends
    # by the clock, not after 6% of those steps...
    assert lr_factor(0, total=4000, warmup_fraction=0.1, elapsed=6, time_budget=120) == pytest.approx(0.5)
    # ...and the decay is halfway down when half the time is gone.
    assert lr_factor(11, total=4000, warmup_fraction=0.1, elapsed=66, time_budget=120) == pytest.approx(0.55)
    # Past the budget the rate sits at the floor instead of wrapping around.
    assert lr_factor(11, total=4000, warmup_fraction=0.1, elapsed=500, time_budget=120) == pytest.approx(0.1)
    # Steps ahead of time: the step count still drives it.
    assert lr_factor(549, total=1000, warmup_fraction=0.1, elapsed=1, time_budget=120) == pytest.approx(0.55)


def test_budgets_are_validated():
    for bad in ({"time_budget_s": 0}, {"max_steps": 0}, {"warmup_fraction": 1.0}, {"warmup_fraction": -0.1}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)

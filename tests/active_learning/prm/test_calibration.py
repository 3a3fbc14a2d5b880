import math
import random
from dataclasses import replace

import pytest

from active_learning.prm.calibration import fit_platt, fit_temperature, nll, scaled
from active_learning.prm.config import ModelConfig, ScoreConfig
from active_learning.prm.metrics import auroc, ece
from active_learning.prm.model import PRM
from active_learning.prm.score import score


def _overconfident(n=2000, seed=0):
    """True probabilities q; the model reports sigmoid(3 * logit(q)): right ranking, far too sure."""
    rng = random.Random(seed)
    ys, ps = [], []
    for _ in range(n):
        q = rng.uniform(0.05, 0.95)
        ys.append(rng.random() < q)
        ps.append(scaled(q, 1 / 3))
    return ys, ps


def test_temperature_undoes_overconfidence_and_keeps_the_ranking():
    ys, ps = _overconfident()
    t = fit_temperature(ys, ps)
    assert 2.5 < t < 3.6  # the 3x sharpening it was made with
    after = [scaled(p, t) for p in ps]
    assert nll(ys, ps, t) < nll(ys, ps) and ece(ys, after) < 0.5 * ece(ys, ps)
    assert auroc(ys, after) == pytest.approx(auroc(ys, ps))


def test_a_calibrated_model_keeps_temperature_one_and_one_class_fits_nothing():
    rng = random.Random(1)
    qs = [rng.uniform(0.05, 0.95) for _ in range(3000)]
    ys = [rng.random() < q for q in qs]
    assert fit_temperature(ys, qs) == pytest.approx(1.0, abs=0.15)
    assert fit_temperature([True] * 5, [0.9] * 5) == 1.0
    # Too few held-out steps (a perfectly separated handful would push T towards 0): left at 1.0.
    assert fit_temperature([True, False] * 10, [0.6, 0.4] * 10) == 1.0
    assert fit_temperature([True, False] * 20, [0.6, 0.4] * 20) == pytest.approx(0.25, abs=0.01)  # the floor
    assert scaled(0.7, 1.0) == 0.7 and scaled(0.7, 2.0) == pytest.approx(1 / (1 + math.exp(-math.log(0.7 / 0.3) / 2)))


def test_the_checkpoint_keeps_its_temperature_and_scoring_applies_it(tiny_bert_dir, tmp_path):
    import json

    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=96, max_problem_tokens=32))
    items = [("natalia sold 48 clips", ["48 / 2 = 24", "48 + 24 = 72"])]
    exact = ScoreConfig(quantize_cpu=False)
    raw = score(prm, items, exact)[0].step_probs
    prm.meta = replace(prm.meta, temperature=2.5)
    hot = score(prm, items, exact)[0].step_probs
    assert hot == pytest.approx([scaled(p, 2.5) for p in raw], abs=1e-5)
    out = prm.save(tmp_path / "c")
    assert json.loads((out / "config.json").read_text())["prm"]["temperature"] == 2.5
    assert "| temperature | 2.5 " in (out / "README.md").read_text()
    assert score(PRM.load(out), items, exact)[0].step_probs == pytest.approx(hot, abs=1e-5)
    assert PRM.load_any(out, separator=" ;").meta.temperature == 2.5


def _shifted(n=3000, seed=2, t=2.0, b=1.0):
    """The model reports sigmoid(z); the truth is sigmoid(z / t + b): too sure AND too pessimistic,
    as an arm that trained on mostly wrong-answer solutions is."""
    rng = random.Random(seed)
    ys, ps = [], []
    for _ in range(n):
        z = rng.gauss(0, 2)
        ys.append(rng.random() < 1 / (1 + math.exp(-(z / t + b))))
        ps.append(1 / (1 + math.exp(-z)))
    return ys, ps


def test_platt_fixes_a_base_rate_shift_that_temperature_cannot():
    ys, ps = _shifted()
    t_only = fit_temperature(ys, ps)
    temperature, bias = fit_platt(ys, ps)
    assert 1.7 < temperature < 2.4 and 0.8 < bias < 1.2  # what it was made with
    assert nll(ys, ps, temperature, bias) < nll(ys, ps, t_only) < nll(ys, ps)
    platt = [scaled(p, temperature, bias) for p in ps]
    assert ece(ys, platt) < 0.5 * ece(ys, [scaled(p, t_only) for p in ps])
    assert auroc(ys, platt) == pytest.approx(auroc(ys, ps))  # one step's order never changes


def test_a_shift_past_the_bias_bound_keeps_the_bound_rather_than_dropping_the_bias():
    # Truth is sigmoid(z - 6): far more pessimistic than the model. The unconstrained fit wants
    # b = -6; it must land on b = -4 with T refitted there, not fall back to b = 0.
    ys, ps = _shifted(n=4000, seed=5, t=1.0, b=-6.0)
    t_only = fit_temperature(ys, ps)
    temperature, bias = fit_platt(ys, ps)
    assert bias == -4.0
    assert temperature == pytest.approx(fit_temperature(ys, ps, bias=-4.0))
    assert nll(ys, ps, temperature, bias) < 0.8 * nll(ys, ps, t_only)
    assert ece(ys, [scaled(p, temperature, bias) for p in ps]) < 0.5 * ece(ys, [scaled(p, t_only) for p in ps])


def test_platt_on_a_calibrated_model_or_too_little_data_changes_nothing():
    rng = random.Random(3)
    qs = [rng.uniform(0.05, 0.95) for _ in range(3000)]
    ys = [rng.random() < q for q in qs]
    temperature, bias = fit_platt(ys, qs)
    assert temperature == pytest.approx(1.0, abs=0.15) and bias == pytest.approx(0.0, abs=0.1)
    assert fit_platt([True, False] * 10, [0.6, 0.4] * 10) == (1.0, 0.0)
    # Separable held-out steps: the slope would run off to infinity; it lands on the temperature-only
    # fit (the T floor) with no bias rather than on a wild pair.
    assert fit_platt([True, False] * 20, [0.6, 0.4] * 20) == (fit_temperature([True, False] * 20, [0.6, 0.4] * 20), 0.0)
    assert scaled(0.5, 1.0, 1.0) == pytest.approx(1 / (1 + math.exp(-1.0)))


def test_the_checkpoint_keeps_its_bias_and_the_card_recipe_applies_it(tiny_bert_dir, tmp_path):
    import json

    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=96, max_problem_tokens=32))
    items = [("natalia sold 48 clips", ["48 / 2 = 24", "48 + 24 = 72"])]
    exact = ScoreConfig(quantize_cpu=False)
    raw = score(prm, items, exact)[0].step_probs
    prm.meta = replace(prm.meta, temperature=2.0, bias=-0.7)
    shifted = score(prm, items, exact)[0].step_probs
    assert shifted == pytest.approx([scaled(p, 2.0, -0.7) for p in raw], abs=1e-5)
    out = prm.save(tmp_path / "c")
    assert json.loads((out / "config.json").read_text())["prm"]["bias"] == -0.7
    card = (out / "README.md").read_text()
    assert "| calibration bias | -0.7 " in card
    assert score(PRM.load(out), items, exact)[0].step_probs == pytest.approx(shifted, abs=1e-5)
    # The card's recipe, run as written, gives the same calibrated numbers with plain transformers.
    recipe = card.split("```python\n", 1)[1].split("```", 1)[0].replace('path = "path/to/this/model"\n', "")
    recipe = recipe.replace('"What is 2 + 3 * 4?", ["3 * 4 = 12", "2 + 12 = 14", "The answer is 14"]',
                            json.dumps(items[0][0]) + ", " + json.dumps(items[0][1]))
    env = {"AutoTokenizer": AutoTokenizer, "AutoModelForTokenClassification": AutoModelForTokenClassification,
           "torch": torch, "path": str(out)}
    exec(recipe, env)  # noqa: S102 - our own card's code, run to prove it
    assert env["p_correct"].tolist() == pytest.approx(list(shifted), abs=1e-5)
    bad = json.loads((out / "config.json").read_text())
    good = dict(bad["prm"])
    bad["prm"]["bias"] = float("nan")
    (out / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="calibration bias"):
        PRM.load(out)
    for key, value in (("bias", None), ("temperature", None), ("temperature", "high"), ("bias", [1])):
        bad["prm"] = {**good, key: value}
        (out / "config.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=f"{key} .* is not a number"):
            PRM.load(out)

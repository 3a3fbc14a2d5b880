import json

import pytest
import torch

from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.prm.data import SolutionExample
from active_learning.prm.model import PRM
from active_learning.prm.score import score
from active_learning.prm.train import train

ITEMS = [("natalia sold 48 clips", ["48 / 2 = 24", "48 + 24 = 72", "the answer is 72"]),
         ("eggs per day", ["16 - 3 = 13", "the answer is 13"])]
EXACT = ScoreConfig(quantize_cpu=False)


def test_checkpoint_round_trip_keeps_separator_labels_and_scores(tiny_bert_dir, tmp_path):
    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=96, max_problem_tokens=32))
    before = score(prm, ITEMS, EXACT)
    prm.save(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "prm.json").read_text())
    assert meta["separator"] == "[SEP]" and meta["label2id"] == {"negative": 0, "positive": 1}
    assert meta["max_length"] == 96
    loaded = PRM.load(tmp_path / "ckpt")
    after = score(loaded, ITEMS, EXACT)
    for a, b in zip(before, after, strict=True):
        assert a.step_probs == pytest.approx(b.step_probs, abs=1e-6)
    assert [len(s.step_probs) for s in after] == [3, 2]


def test_load_refuses_a_directory_that_is_not_a_prm_checkpoint(tiny_bert_dir):
    with pytest.raises(FileNotFoundError, match="prm.json"):
        PRM.load(tiny_bert_dir)


def test_a_decoder_model_goes_through_the_same_path(tiny_qwen_dir, tmp_path):
    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_qwen_dir), max_length=128, max_problem_tokens=48))
    assert type(prm.model).__name__ == "Qwen2ForTokenClassification"
    assert prm.meta.separator == "\n\n"  # no sep token: a blank line ends a step
    ex = [SolutionExample(problem=p, steps=tuple(s), labels=(1,) * len(s)) for p, s in ITEMS]
    report = train(prm, ex, TrainConfig(epochs=1, batch_size=2))
    assert report.steps == 1 and report.labeled_steps == 5
    prm.save(tmp_path / "q")
    out = score(PRM.load(tmp_path / "q"), ITEMS, EXACT)
    assert all(0 < p < 1 for s in out for p in s.step_probs)


def test_keeping_fewer_layers_is_a_config_option(tiny_bert_dir):
    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), num_hidden_layers=1))
    assert prm.model.config.num_hidden_layers == 1
    assert prm.meta.backbone.endswith("(first 1 of 2 layers)")
    assert "layers" not in PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir))).meta.backbone
    assert len(prm.model.bert.encoder.layer) == 1


def test_quantized_cpu_scoring_ranks_like_exact_scoring(tiny_bert_dir):
    torch.manual_seed(0)
    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir)))
    items = [(f"problem {i}", [f"step {j} total {i * j}" for j in range(3)]) for i in range(12)]
    exact = [s.score for s in score(prm, items, EXACT)]
    quant = [s.score for s in score(prm, items, ScoreConfig(quantize_cpu=True))]
    assert quant == pytest.approx(exact, abs=0.05)


def test_score_batch_budget_defaults_per_device_and_still_covers_every_window(tiny_bert_dir):
    cfg = ScoreConfig()
    assert cfg.batch_tokens(torch.device("cpu")) == 2048
    assert cfg.batch_tokens(torch.device("cuda")) == 32768
    assert ScoreConfig(max_batch_tokens=64).batch_tokens(torch.device("cpu")) == 64
    with pytest.raises(ValueError):
        ScoreConfig(max_batch_tokens=8)
    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=96, max_problem_tokens=32))
    wide = score(prm, ITEMS * 5, EXACT)
    # A budget narrower than two windows forces one window per forward pass.
    narrow = score(prm, ITEMS * 5, ScoreConfig(quantize_cpu=False, max_batch_tokens=32))
    for a, b in zip(wide, narrow, strict=True):
        assert a.step_probs == pytest.approx(b.step_probs, abs=1e-5)

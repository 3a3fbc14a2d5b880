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
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())["prm"]
    assert meta["separator"] == "[SEP]" and meta["label2id"] == {"negative": 0, "positive": 1}
    assert meta["max_length"] == 96 and meta["max_problem_tokens"] == 32
    assert not (tmp_path / "ckpt" / "prm.json").exists()
    loaded = PRM.load(tmp_path / "ckpt")
    after = score(loaded, ITEMS, EXACT)
    for a, b in zip(before, after, strict=True):
        assert a.step_probs == pytest.approx(b.step_probs, abs=1e-6)
    assert [len(s.step_probs) for s in after] == [3, 2]


def test_a_checkpoint_is_hub_ready(tiny_bert_dir, tmp_path):
    """Plain transformers loads it (no local flags, no side files needed), the card says how to use it,
    every file is 0644, and the card's own usage recipe gives our scores."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=96, max_problem_tokens=32))
    out = prm.save(tmp_path / "hub")
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    assert "local_files_only" not in tok_cfg and "is_local" not in tok_cfg
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert set(modes.values()) == {0o644}, modes
    assert "model.safetensors" in modes and "README.md" in modes
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: other\nlibrary_name: transformers\npipeline_tag: token-classification\n")
    assert '| separator (SEP) | `"[SEP]"` |' in card and "1 = step correct, 0 = step wrong" in card
    assert "AutoModelForTokenClassification.from_pretrained(path)" in card

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForTokenClassification.from_pretrained(out).eval()
    assert model.config.prm["separator"] == "[SEP]"
    problem, steps = ITEMS[0]
    sep = tok(model.config.prm["separator"], add_special_tokens=False)["input_ids"]
    ids, positions = [tok.cls_token_id] + tok(problem, add_special_tokens=False)["input_ids"] + sep, []
    for step in steps:
        ids += tok(step, add_special_tokens=False)["input_ids"] + sep
        positions.append(len(ids) - 1)
    with torch.no_grad():
        p = model(input_ids=torch.tensor([ids])).logits[0].softmax(-1)[positions, 1]
    assert p.tolist() == pytest.approx(list(score(prm, [ITEMS[0]], EXACT)[0].step_probs), abs=1e-5)


def test_a_format_1_checkpoint_with_prm_json_still_loads(tiny_bert_dir, tmp_path):
    prm = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=96, max_problem_tokens=32))
    out = prm.save(tmp_path / "old")
    config = json.loads((out / "config.json").read_text())
    meta = {**config.pop("prm"), "format_version": 1}
    (out / "config.json").write_text(json.dumps(config))
    (out / "prm.json").write_text(json.dumps(meta))
    loaded = PRM.load(out)
    assert loaded.meta.separator == "[SEP]" and loaded.meta.max_length == 96


def test_load_refuses_a_directory_that_is_not_a_prm_checkpoint(tiny_bert_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a PRM checkpoint"):
        PRM.load(tiny_bert_dir)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        PRM.load(tmp_path)


def test_load_any_reads_a_foreign_token_classifier_with_the_callers_separator(tiny_bert_dir, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(0)
    foreign = AutoModelForTokenClassification.from_pretrained(tiny_bert_dir, num_labels=2)
    foreign.save_pretrained(tmp_path / "trl")
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(tmp_path / "trl")
    with pytest.raises(FileNotFoundError):
        PRM.load(tmp_path / "trl")
    prm = PRM.load_any(tmp_path / "trl")
    assert prm.meta.separator == "[SEP]" and prm.positive_id == 1
    prm = PRM.load_any(tmp_path / "trl", separator=" ;", positive_label=0)
    assert prm.meta.separator == " ;" and prm.positive_id == 0
    # TRL's default separator is a newline, which a BERT tokenizer turns into nothing: say what to pass.
    with pytest.raises(ValueError, match=r"encodes to no tokens .*use its sep token '\[SEP\]'"):
        PRM.load_any(tmp_path / "trl", separator="\n")
    with pytest.raises(ValueError, match="0 or 1"):
        PRM.load_any(tmp_path / "trl", positive_label=2)


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

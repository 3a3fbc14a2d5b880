"""The ML engineer's path end to end: export a campaign as an hf-dataset, load it with `datasets`,
train a tiny PRM on it with `python -m active_learning.prm train`, evaluate it on a
ProcessBench-format file, and score a pool. The CLI runs in-process (main(argv)) for speed; one
test runs the real `python -m` entry point."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from django.core.management import call_command

from active_learning.prm.cli import main
from active_learning.prm.config import ModelConfig, ScoreConfig
from active_learning.prm.formats import FormatError, math_shepherd_parse, read_examples
from active_learning.prm.model import PRM
from active_learning.prm.score import score
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory, ProblemFactory, SolutionFactory, TaskFactory, UserFactory, submitted_labels


def _campaign(n=24):
    """Right steps say "right", the wrong one says "wrong": learnable from the text."""
    campaign = CampaignFactory(slug="ml", overlap=1)
    for i in range(n):
        problem = ProblemFactory(text=f"Problem {i}: how many apples?", ground_truth_answer="4")
        k = 1 + i % 3
        if i % 2:
            steps, ratings = [f"step {j} is right" for j in range(k)] + ["so the answer is 4"], [1] * (k + 1)
        else:
            steps = [f"step {j} is right" for j in range(k)] + ["step k is wrong", "so the answer is 5"]
            ratings = [1] * k + [-1]
        task = TaskFactory(campaign=campaign, solution=SolutionFactory(problem=problem, steps=steps,
                                                                        answer_is_correct=bool(i % 2)))
        submitted_labels(task, UserFactory(), ratings)
    return campaign


@pytest.mark.django_db
def test_export_load_train_evaluate_score(tiny_bert_dir, tmp_path, prm800k_records_path, capsys):
    from datasets import load_dataset

    _campaign()
    data = tmp_path / "ml-dataset"
    call_command("export_labels", campaign="ml", format="hf-dataset", output=data, test_fraction="0.25", seed="1",
                 no_progress=True)
    ds = load_dataset(str(data))
    assert ds["train"].num_rows + ds["test"].num_rows == 24 and ds["test"].num_rows > 0

    ckpt = tmp_path / "ckpt"
    rc = main(["train", "--data", str(data), "--model", str(tiny_bert_dir), "--output", str(ckpt), "--epochs", "40",
               "--batch-size", "8", "--lr", "3e-3", "--max-length", "64", "--max-problem-tokens", "16"])
    assert rc == 0
    report = json.loads((ckpt / "training_report.json").read_text())
    assert report["train_examples"] == ds["train"].num_rows and report["heldout_examples"] == ds["test"].num_rows
    assert report["train"]["negatives"] > 0 and report["heldout"]["overall"]["step_auroc"] > 0.9
    # Temperature scaling fitted on the held-out steps, stored with the checkpoint.
    cal = report["calibration"]
    assert cal["temperature"] > 0 and cal["nll_after"] <= cal["nll_before"] + 1e-9
    assert PRM.load(ckpt).meta.temperature == cal["temperature"]
    card = (ckpt / "README.md").read_text()
    assert "| training solutions |" in card and "| step AUROC |" in card and "neutral (0) step rating" in card
    assert PRM.load(ckpt).meta.separator == "[SEP]"

    # ProcessBench file: our own export of the learnable campaign, and of real PRM800K records.
    pb = tmp_path / "pb.jsonl"
    call_command("export_labels", campaign="ml", format="processbench", output=pb, no_progress=True)
    real = CampaignFactory(slug="real")
    solutions_import(campaign=real, path=prm800k_records_path)
    pb_real = tmp_path / "pb_real.jsonl"
    call_command("export_labels", campaign="real", format="processbench", output=pb_real, no_progress=True)
    pb_dir = tmp_path / "processbench"
    pb_dir.mkdir()
    (pb_dir / "synthetic.jsonl").write_bytes(pb.read_bytes())
    (pb_dir / "math.jsonl").write_bytes(pb_real.read_bytes())
    capsys.readouterr()
    out_json = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(ckpt), "--data", str(pb_dir), "--output", str(out_json)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["split", "solutions", "err", "acc"]
    assert any(line.startswith("synthetic ") for line in table.splitlines())
    assert "ProcessBench F1 (mean over splits)" in table
    result = json.loads(out_json.read_text())
    assert set(result["splits"]) == {"math", "synthetic"}
    syn = result["splits"]["synthetic"]
    # Learned from the text (chance is 0.5); the tiny model is not asked to be calibrated.
    assert syn["solutions"] == 24 and syn["step_auroc"] > 0.85 and syn["first_error_accuracy_correct"] is not None
    assert 0 <= syn["first_error_f1"] <= 1
    assert result["splits"]["math"]["solutions"] >= 1 and result["overall"]["solutions"] == syn["solutions"] + \
        result["splits"]["math"]["solutions"]

    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps({"id": f"s{i}", "problem": "Problem 1: how many apples?",
                                          "steps": ["step 0 is right", second, f"so the answer is {4 + i}"]})
                              for i, second in enumerate(["step 1 is right", "step k is wrong"])) + "\n")
    scored = tmp_path / "scored.jsonl"
    assert main(["score", "--model", str(ckpt), "--data", str(pool), "--output", str(scored), "--exact"]) == 0
    rows = [json.loads(line) for line in scored.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["s0", "s1"] and all(len(r["step_scores"]) == 3 for r in rows)
    # The file holds what the checkpoint's own scoring gives (exact: no int8 on CPU).
    direct = score(PRM.load(ckpt), [(r["problem"], r["steps"]) for r in rows], ScoreConfig(quantize_cpu=False))
    for row, s in zip(rows, direct, strict=True):
        assert row["step_scores"] == pytest.approx(list(s.step_probs), abs=1e-5)
        assert row["score"] == pytest.approx(s.score, abs=1e-5)


def test_train_reads_trl_prm800k_and_math_shepherd_files(tiny_bert_dir, tmp_path, prm800k_records_path):
    ms = tmp_path / "ms.jsonl"
    ms.write_text(json.dumps({"input": "What is 2 + 2? Step 1: 2 + 2 = 4 ки\nStep 2: The answer is 4 ки",
                              "label": "What is 2 + 2? Step 1: 2 + 2 = 4 +\nStep 2: The answer is 4 +",
                              "task": "GSM8K"}) + "\n")
    trl = tmp_path / "trl.jsonl"
    trl.write_text(json.dumps({"prompt": "What is 1 + 1?", "completions": ["1 + 1 = 3", "So 3"],
                               "labels": [False, False]}) + "\n")
    for path, fmt, first_labels in ((ms, "math_shepherd", (1, 1)), (trl, "trl", (0, 0)),
                                    (prm800k_records_path, "prm800k", None)):
        examples = read_examples(path)
        assert examples and (first_labels is None or examples[0].labels == first_labels), fmt
        out = tmp_path / f"ckpt-{fmt}"
        rc = main(["train", "--data", str(path), "--model", str(tiny_bert_dir), "--output", str(out),
                   "--max-steps", "2", "--batch-size", "2", "--max-length", "64", "--max-problem-tokens", "16",
                   "--holdout", "0", "--train-on-last-step-only", "--neutral", "negative"])
        assert rc == 0 and (out / "model.safetensors").is_file(), fmt
        report = json.loads((out / "training_report.json").read_text())
        # last-step-only: one labeled step per solution
        assert report["train"]["labeled_steps"] == len([e for e in examples if any(x is not None for x in e.labels)])
    assert read_examples(ms)[0].problem == "What is 2 + 2?" and read_examples(ms)[0].split == "GSM8K"
    # The neutral mapping reaches PRM800K ratings: strict reading flips neutral steps to wrong.
    paper = sum(x == 1 for e in read_examples(prm800k_records_path) for x in e.labels)
    strict = sum(x == 1 for e in read_examples(prm800k_records_path, neutral="negative") for x in e.labels)
    assert strict < paper


def test_train_calibrates_with_platt_when_asked(tiny_bert_dir, tmp_path, prm800k_records_path):
    # 9 steps in 10 are right, whatever they say: a model trained for 2 steps at a tiny rate still
    # sits near 0.5, so only a bias can bring it to 0.9 (no temperature moves 0.5).
    import random

    rng = random.Random(0)
    rows = [{"prompt": f"problem {i % 40}", "completions": [f"step {j} of {i}" for j in range(3)],
             "labels": [rng.random() < 0.9 for _ in range(3)]} for i in range(160)]
    data = tmp_path / "skewed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "platt"
    rc = main(["train", "--data", str(data), "--model", str(tiny_bert_dir), "--output", str(out),
               "--max-steps", "2", "--batch-size", "4", "--lr", "1e-6", "--max-length", "64",
               "--max-problem-tokens", "16", "--holdout", "0.5", "--calibration", "platt"])
    assert rc == 0
    report = json.loads((out / "training_report.json").read_text())
    cal = report["calibration"]
    assert cal["method"] == "platt" and cal["labeled_steps"] >= 100
    assert cal["bias"] > 1.0, cal  # towards logit(0.9) = 2.2; temperature scaling alone would leave 0.0
    assert cal["ece_after"] < 0.5 * cal["ece_before"]
    assert "platt" in (out / "README.md").read_text()
    assert (PRM.load(out).meta.temperature, PRM.load(out).meta.bias) == (cal["temperature"], cal["bias"])
    with pytest.raises(SystemExit):
        main(["train", "--data", str(prm800k_records_path), "--output", str(tmp_path / "x"), "--calibration", "iso"])


def test_retraining_a_calibrated_checkpoint_without_calibration_drops_its_fit(tiny_bert_dir, tmp_path,
                                                                            prm800k_records_path):
    # The parent's T and bias describe the parent's weights: kept on retrained ones, a stale bias
    # would silently move every 0.5 decision.
    parent = PRM.from_backbone(ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16))
    parent.meta = replace(parent.meta, temperature=2.5, bias=1.5)
    parent.save(tmp_path / "parent")
    for extra in (["--no-calibration", "--holdout", "0.5"], ["--holdout", "0"]):
        out = tmp_path / f"child{len(extra)}"
        assert main(["train", "--data", str(prm800k_records_path), "--init-checkpoint", str(tmp_path / "parent"),
                     "--output", str(out), "--max-steps", "1", "--batch-size", "2", *extra]) == 0
        meta = PRM.load(out).meta
        assert (meta.temperature, meta.bias) == (1.0, 0.0), extra


def test_math_shepherd_parse_round_trips_the_export_layout():
    text = "Q? Step 1: a ки\nStep 2: b\nc ки"
    assert math_shepherd_parse(text, "Q? Step 1: a +\nStep 2: b\nc -") == ("Q?", ["a", "b\nc"], [1, 0])
    assert math_shepherd_parse(text, ["+", "+"])[2] == [1, 1]
    with pytest.raises(FormatError, match="replaced by"):
        math_shepherd_parse(text, "Q? Step 1: a +\nStep 2: b c -")


def test_bad_arguments_and_data_exit_2_with_one_line(tiny_bert_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "completions": ["a"], "labels": [true, false]}\n')
    assert main(["train", "--data", str(bad), "--output", str(tmp_path / "o"), "--model", str(tiny_bert_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:1: 2 labels for 1 completions" in err
    assert main(["evaluate", "--model", str(tmp_path), "--data", str(bad)]) == 2
    assert "not a Hugging Face model directory" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["train", "--data", str(bad), "--output", str(tmp_path / "full")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


def test_the_module_entry_point_runs_without_django(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    code = ("import sys, runpy; sys.argv = ['prm', '--help']\n"
            "try:\n    runpy.run_module('active_learning.prm', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0\n"
            "assert 'django' not in sys.modules, 'the toolkit imported Django'\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[3]))
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout and "evaluate" in out.stdout and out.stdout.strip().endswith("ok")


def test_outcome_training_and_evaluation_with_intervals_on_real_format_solutions(tiny_bert_dir, tmp_path, capsys):
    """The warm-start path in the toolkit: train on graded answers only, evaluate with bootstrap intervals."""
    rows = [{"question": f"Q{p}: eggs?", "ground_truth": "A: 4",
             "m1": {"is_correct": True, "solution": "so 2 is right\nA: 4"},
             "m2": {"is_correct": False, "solution": "so 2 is wrong\nA: 5"},
             "m3": {"is_correct": False, "solution": "so 3 is wrong\nA: 5"}} for p in range(30)]
    data = tmp_path / "real.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ckpt"
    with pytest.raises(SystemExit):  # without --outcome-labels the solutions carry no step labels
        main(["train", "--data", str(data), "--model", str(tiny_bert_dir), "--output", str(tmp_path / "x"),
              "--outcome-labels", "bogus"])
    assert main(["train", "--data", str(data), "--model", str(tiny_bert_dir), "--output", str(out),
                 "--outcome-labels", "all_steps", "--max-steps", "30", "--batch-size", "6", "--lr", "3e-3",
                 "--max-length", "64", "--max-problem-tokens", "16", "--holdout", "0.3"]) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["train"]["labeled_steps"] == 2 * report["train_examples"]  # both steps of every solution
    capsys.readouterr()
    result_path = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(out), "--data", str(data), "--bootstrap", "200",
                 "--output", str(result_path)]) == 0
    printed = capsys.readouterr().out
    assert "95% intervals, bootstrap over 30 problems (200 replicates)" in printed and "PRM minus majority" in printed
    iv = json.loads(result_path.read_text())["intervals"]
    assert iv["problems"] == 30 and iv["best_of_n_majority"]["value"] == 0.0
    # The wrong-answer steps say "wrong": trained on verdicts, the tiny model separates them.
    assert iv["solution_auroc"]["value"] > 0.7 and iv["solution_auroc"]["lo"] <= iv["solution_auroc"]["value"]


def test_evaluate_and_score_open_a_cross_fitted_checkpoint_and_train_refuses_one(tiny_bert_dir, tmp_path, capsys):
    from active_learning.prm.config import ModelConfig
    from active_learning.prm.folds import FoldedPRM, fold_of

    cfg = ModelConfig(backbone=str(tiny_bert_dir), max_length=64, max_problem_tokens=16)
    folded = FoldedPRM([PRM.from_backbone(cfg, seed=0), PRM.from_backbone(cfg, seed=1)])
    ckpt = folded.save(tmp_path / "folded")
    rows = [{"problem": f"P{i}", "steps": ["so 2 is right", "A: 4"], "labels": [True, i % 2 == 0]}
            for i in range(12)]
    data = tmp_path / "steps.jsonl"
    data.write_text("".join(json.dumps({"prompt": r["problem"], "completions": r["steps"], "labels": r["labels"]})
                            + "\n" for r in rows))
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--model", str(ckpt), "--data", str(data), "--output", str(out), "--exact"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    # Each solution is scored by the member of its problem's fold.
    for row, r in zip(got, rows, strict=True):
        member = folded.members[fold_of(r["problem"], 2)]
        want = score(member, [(r["problem"], r["steps"])], ScoreConfig(quantize_cpu=False))[0].score
        assert row["score"] == pytest.approx(want, abs=1e-5)
    assert main(["evaluate", "--model", str(ckpt), "--data", str(data)]) == 0
    assert "step AUROC" in capsys.readouterr().out
    assert main(["train", "--data", str(data), "--output", str(tmp_path / "o"), "--init-checkpoint", str(ckpt)]) == 2
    assert "one model per fold; pass one member" in capsys.readouterr().err

import json

import pytest
from django.core.management import CommandError, call_command

from active_learning.models import PRMModel, TrainingRun
from labeling.models import Assignment, Campaign, StepLabel, Task
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory, ProblemFactory, SolutionFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_retrain_prm_inline_runs_the_whole_cycle(al_campaign, capsys):
    campaign, _ = al_campaign
    call_command("retrain_prm", "--campaign", campaign.slug, "--inline")
    out = capsys.readouterr().out
    run = TrainingRun.objects.get(campaign=campaign)
    assert run.status == "succeeded" and run.trigger == "command"
    assert "model v1 (promoted" in out and "step AUROC" in out and "refill" in out
    assert PRMModel.objects.get(campaign=campaign).is_active


def test_retrain_prm_queues_for_the_worker_by_default(al_campaign, capsys, django_capture_on_commit_callbacks,
                                                      monkeypatch):
    campaign, _ = al_campaign
    sent = []
    monkeypatch.setattr("labeling.services.outbox.outbox_publish", lambda ids: sent.extend(ids))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("retrain_prm", "--campaign", campaign.slug)
    run = TrainingRun.objects.get(campaign=campaign)
    from labeling.models import OutboxMessage

    assert sent == [OutboxMessage.objects.get(ref=f"run:{run.pk}").pk] and run.status == "queued"
    with pytest.raises(CommandError, match="already has a training run"):
        call_command("retrain_prm", "--campaign", campaign.slug)
    with pytest.raises(CommandError, match="no campaign"):
        call_command("retrain_prm", "--campaign", "nope")


def test_simulate_annotators_with_the_reference_oracle(capsys):
    campaign = CampaignFactory(mode="first_error", overlap=1)
    for i in range(3):
        problem = ProblemFactory(text=f"She has {i + 2} apples and buys 3 more.",
                                 ground_truth_solution=f"{i + 2} + 3 = <<{i + 2}+3={i + 5}>>{i + 5}\n#### {i + 5}")
        TaskFactory(campaign=campaign, solution=SolutionFactory(
            problem=problem, answer_is_correct=i != 1,
            steps=[f"{i + 2} + 3 = <<{i + 2}+3={i + 5}>>{i + 5}" if i != 1 else "3 + 4 = <<3+4=7>>7",
                   "The answer is that"],
        ))
    call_command("simulate_annotators", "--campaign", campaign.slug, "--annotators", "2", "--count", "10")
    assert "submitted 3 labels" in capsys.readouterr().out
    wrong = Assignment.objects.get(campaign=campaign, solution__answer_is_correct=False)
    assert list(wrong.step_labels.values_list("rating", flat=True)) == [-1]
    assert Task.objects.filter(campaign=campaign, completed=1).count() == 3


def test_simulate_annotators_refuses_a_bad_dataset(tmp_path):
    campaign = CampaignFactory()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": {}}\n')
    with pytest.raises(CommandError, match="bad.jsonl:1: not a PRM800K record"):
        call_command("simulate_annotators", "--campaign", campaign.slug, "--dataset", str(bad))


def test_simulate_active_learning_writes_curves_plot_and_dataset(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "sim"
    data = tmp_path / "synthetic.jsonl"
    call_command(
        "simulate_active_learning", "--problems", "40", "--variants", "1", "--seeds", "0",
        "--strategies", "convincing_wrong", "uniform", "--initial", "8", "--batch", "8", "--rounds", "1",
        "--uniform-factor", "2", "--backbone", str(tiny_bert_dir), "--max-length", "96", "--epochs", "1",
        "--out", str(out), "--write-dataset", str(data),
    )
    result = json.loads((out / "curves.json").read_text())
    assert {c["strategy"] for c in result["curves"]} == {"convincing_wrong", "uniform"}
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "data efficiency" in capsys.readouterr().out
    records = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(records) > 40
    # The written set is a PRM800K file the oracle and the importer can read.
    from active_learning.oracle import LabeledOracle

    assert len(LabeledOracle.from_file(data).table) == len(records)
    assert Campaign.objects.count() == 0  # the simulation touches no campaign
    errors = sum(1 for r in records if r["label"]["finish_reason"] == "found_error")
    assert errors > 0 and all(r["question"]["ground_truth_answer"] for r in records)
    # ...and it imports as submitted labels with every first error kept.
    campaign = CampaignFactory()
    result = solutions_import(campaign=campaign, path=data)
    assert result.assignments_created == len(records)
    assert StepLabel.objects.filter(assignment__campaign=campaign, rating=-1).count() == errors
    assert result.graded_incorrect == errors


def test_simulate_active_learning_runs_warm_arms_from_a_cross_fitted_outcome_prior(tiny_bert_dir, tmp_path, capsys):
    call_command(
        "simulate_active_learning", "--problems", "40", "--variants", "1", "--seeds", "0",
        "--strategies", "uniform", "--initial", "10", "--batch", "8", "--rounds", "1", "--uniform-factor", "2",
        "--prior", "outcomes", "--warm-strategies", "uniform", "--prior-folds", "2", "--calibration", "4",
        "--backbone", str(tiny_bert_dir), "--max-length", "96", "--epochs", "1", "--out", str(tmp_path),
    )
    result = json.loads((tmp_path / "curves.json").read_text())
    assert {c["strategy"] for c in result["curves"]} == {"uniform", "uniform+outcomes"}
    assert result["config"]["prior_folds"] == 2 and result["config"]["calibration"] == 4
    # The prior trained on every pool solution's graded answer, and nothing held out.
    assert result["priors"]["0"]["examples"] == result["pool"]
    assert [r["labels"] for r in result["warm_gain"]["uniform+outcomes"]["step_auroc"]] == [10, 18]
    assert "uniform+outcomes against uniform: step_auroc" in capsys.readouterr().out


def test_simulate_active_learning_synthetic_prior_comes_from_problems_the_run_does_not_use(tiny_bert_dir, tmp_path):
    call_command(
        "simulate_active_learning", "--problems", "24", "--variants", "1", "--seeds", "0",
        "--strategies", "uniform", "--initial", "8", "--batch", "8", "--rounds", "1", "--uniform-factor", "1",
        "--prior", "synthetic", "--prior-problems", "10", "--warm-strategies", "uniform",
        "--backbone", str(tiny_bert_dir), "--max-length", "96", "--epochs", "1", "--out", str(tmp_path),
    )
    result = json.loads((tmp_path / "curves.json").read_text())
    # GSM8K problems 25-34 of the bundled file, each clean plus a corrupted copy where one could be made.
    import itertools

    from active_learning.management.commands.simulate_active_learning import BUNDLED_GSM8K
    from active_learning.prm.synthetic import build_examples, read_gsm8k

    expected = list(build_examples(itertools.islice(read_gsm8k(BUNDLED_GSM8K), 24, 34), variants=1, seed=1))
    assert 10 < len(expected) <= 20
    assert result["priors"]["0"]["examples"] == len(expected)
    assert {c["strategy"] for c in result["curves"]} == {"uniform", "uniform+synthetic"}


@pytest.mark.parametrize("args, message", [
    (["--warm-strategies", "uniform"], "warm_strategies need a prior"),
    (["--prior", "outcomes", "--warm-strategies", "uniform", "--initial", "8", "--calibration", "8"], "calibration"),
    (["--prior", "outcomes", "--warm-strategies", "nonsense"], "unknown strategies: nonsense"),
    (["--prior", "outcomes", "--warm-strategies", "uniform", "--prior-folds", "1"], "must be cross-fitted"),
    (["--strategies", "uniform", "--prior", "outcomes", "--warm-strategies", "ensemble"], "their cold arm"),
])
def test_simulate_active_learning_refuses_bad_warm_start_options(args, message, tmp_path):
    with pytest.raises(CommandError, match=message):
        call_command("simulate_active_learning", "--out", str(tmp_path), *args)


def test_simulate_active_learning_refuses_a_synthetic_prior_on_prm800k(prm800k_records_path, tmp_path):
    with pytest.raises(CommandError, match="--prior synthetic is built from GSM8K"):
        call_command("simulate_active_learning", "--source", "prm800k", "--dataset", str(prm800k_records_path),
                     "--prior", "synthetic", "--warm-strategies", "uniform", "--out", str(tmp_path))


def test_simulate_active_learning_reads_a_real_prm800k_file(prm800k_records_path, tiny_bert_dir, tmp_path):
    call_command(
        "simulate_active_learning", "--source", "prm800k", "--dataset", str(prm800k_records_path),
        "--seeds", "0", "--strategies", "uniform", "--initial", "4", "--batch", "2", "--rounds", "1",
        "--uniform-factor", "1", "--backbone", str(tiny_bert_dir), "--max-length", "128", "--epochs", "1",
        "--out", str(tmp_path),
    )
    result = json.loads((tmp_path / "curves.json").read_text())
    assert result["pool"] + result["heldout"] == 12
    assert [p["labels"] for p in result["curves"][0]["points"]] == [4, 6]


def test_simulate_active_learning_refuses_too_few_problems(prm800k_records_path, tmp_path):
    two = tmp_path / "two.jsonl"
    two.write_text("".join(prm800k_records_path.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(CommandError, match="at least 4 problems"):
        call_command("simulate_active_learning", "--source", "prm800k", "--dataset", str(two))


def test_simulate_active_learning_writes_only_the_synthetic_set(prm800k_records_path, tmp_path):
    with pytest.raises(CommandError, match="needs --source gsm8k"):
        call_command("simulate_active_learning", "--source", "prm800k", "--dataset", str(prm800k_records_path),
                     "--write-dataset", str(tmp_path / "x.jsonl"))

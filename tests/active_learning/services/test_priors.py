"""Warm start from free labels: the campaign's first model from a prior, cross-fitted when it comes from the pool."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from active_learning.models import ActiveLearningConfig, PRMModel, SolutionScore
from active_learning.prm.folds import FoldedPRM, fold_of, load_checkpoint
from active_learning.prm.score import score
from active_learning.prm.synthetic import build_examples, read_gsm8k
from active_learning.services import fitting
from active_learning.services.cycles import cycle_due_reason, cycle_run_inline
from active_learning.services.training import training_run_request
from labeling.models import Assignment, Step, StepPrelabel

pytestmark = pytest.mark.django_db


def _prior(campaign, kind, **extra):
    ActiveLearningConfig.objects.filter(campaign=campaign).update(prior=kind, **extra)


def test_an_outcomes_prior_is_cross_fitted_and_scores_each_solution_with_the_member_that_never_saw_it(
        al_campaign, monkeypatch):
    campaign, tasks = al_campaign
    # No human label at all: the prior needs none.
    Assignment.objects.filter(campaign=campaign).delete()
    _prior(campaign, "outcomes")
    seen: dict[str, set[str]] = {}
    real_train_one = fitting._train_one

    def spy(prm, examples, train_cfg, *, run, keeper, tag=""):
        seen[tag] = {ex.problem for ex in examples}
        return real_train_one(prm, examples, train_cfg, run=run, keeper=keeper, tag=tag)

    monkeypatch.setattr(fitting, "_train_one", spy)
    run = training_run_request(campaign=campaign, enqueue=False)
    assert run.config["prior_run"] is True and run.label_count == 0
    run = cycle_run_inline(run_id=run.pk)
    assert run.status == "succeeded", run.error
    model = run.model
    assert model.config["prior"] == {"kind": "outcomes", "examples": 36, "labeled_steps": 108, "folds": 2,
                                     "rule": "sha256(problem text) mod k", "outcome_mode": "all_steps"}
    assert model.config["folds"] == 2 and run.metrics["cross_fitted"] is True
    # Member f trained on no problem of fold f.
    problems = {t.solution.problem.text for t in tasks}
    for f in (0, 1):
        assert seen[f"-fold{f}"] and not {p for p in seen[f"-fold{f}"] if fold_of(p, 2) == f}
        assert seen[f"-fold{f}"] == {p for p in problems if fold_of(p, 2) != f}
    # The promotion gate read the cross-fitted solution AUROC (the prior has no human held-out steps).
    assert "solution_auroc" in run.report["promotion"]
    ckpt = Path(model.checkpoint_path)
    assert json.loads((ckpt / "folds.json").read_text())["k"] == 2 and (ckpt / "fold-1" / "config.json").is_file()
    # Scores of the pool come from the member of each solution's fold.
    folded = load_checkpoint(ckpt)
    assert isinstance(folded, FoldedPRM)
    row = SolutionScore.objects.filter(model=model).select_related("solution__problem").first()
    steps = list(Step.objects.filter(solution=row.solution).order_by("index").values_list("text", flat=True))
    member = folded.member_for(row.solution.problem.text)
    (mine,) = score(member, [(row.solution.problem.text, steps)])
    assert row.step_scores == pytest.approx(list(mine.step_probs), abs=2e-2)  # int8 CPU scoring in the stage


def test_human_labels_then_fine_tune_every_member_and_the_lineage_is_recorded(al_campaign):
    campaign, _ = al_campaign
    _prior(campaign, "outcomes")
    first = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert first.config["prior_run"] and first.model.is_active
    second = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert second.status == "succeeded" and not second.config["prior_run"]
    assert second.model.config["warm_start_from"] == first.model.version
    assert second.model.config["prior"]["kind"] == "outcomes" and second.model.config["folds"] == 2
    assert len(second.report["train"]["members"]) == 2  # both lineages fine-tuned on the human labels
    assert second.data_counts["assignments"] == 18


def test_the_synthetic_prior_reads_the_bundled_gsm8k_train_set():
    assert sum(1 for _ in read_gsm8k(fitting.SYNTHETIC_FILE)) > 7000


def test_a_synthetic_prior_is_one_model_on_exact_labels(al_campaign, tiny_bert_dir, monkeypatch, tmp_path):
    # A slice of the bundled set: the whole one (10,000+ examples) took 20 s to build and tokenize here.
    part = tmp_path / "gsm8k-part.jsonl"
    with open(fitting.SYNTHETIC_FILE) as fh:
        part.write_text("".join(line for _, line in zip(range(150), fh, strict=False)))
    monkeypatch.setattr(fitting, "SYNTHETIC_FILE", part)
    campaign, _ = al_campaign
    _prior(campaign, "synthetic", train_config={"max_steps": 3, "batch_size": 4, "learning_rate": 3e-3})
    run = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    assert run.model.config["prior"]["kind"] == "synthetic" and run.model.config["folds"] is None
    built = [ex for ex in build_examples(read_gsm8k(part), variants=2, seed=0) if any(x is not None for x in ex.labels)]
    assert run.data_counts["prior_examples"] == len(built) > 150 and run.report["train"]["steps"] == 3
    assert not isinstance(load_checkpoint(run.model.checkpoint_path), FoldedPRM)


def test_a_prelabels_prior_reads_imported_step_labels(al_campaign):
    campaign, tasks = al_campaign
    for t in tasks:
        for step in Step.objects.filter(solution=t.solution):
            wrong = "wrong" in step.text
            StepPrelabel.objects.create(step=step, source="math-shepherd-mc8", score=0.0 if wrong else 0.75)
    examples = fitting.prior_examples(campaign=campaign, kind="prelabels", neutral="positive")
    assert len(examples) == 36
    by_first = {ex.steps[0].split()[-1]: ex.labels for ex in examples}
    assert by_first["right"] in ((1, 1, 1), (1, 0, None))  # a right first step, then stops at the first error
    assert by_first["wrong"] == (0, None, None)
    _prior(campaign, "prelabels", prior_folds=3)
    run = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    assert run.model.config["folds"] == 3 and run.model.config["prior"]["kind"] == "prelabels"


def test_a_prior_with_too_little_data_fails_with_a_reason(al_campaign):
    campaign, _ = al_campaign
    _prior(campaign, "prelabels")  # nothing imported
    run = training_run_request(campaign=campaign, enqueue=False)
    with pytest.raises(Exception, match="prelabels prior has 0 labeled solutions"):
        cycle_run_inline(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "at least 10" in run.error
    assert not PRMModel.objects.filter(campaign=campaign).exists()


def test_a_campaign_with_a_prior_is_due_before_any_label():
    config = ActiveLearningConfig(enabled=True, prior="outcomes", min_labels=20)
    now = timezone.now()
    assert cycle_due_reason(config=config, labels=0, last=None, now=now, has_model=False) == "prior"
    assert cycle_due_reason(config=config, labels=0, last=None, now=now, has_model=True) is None
    config.prior = ""
    assert cycle_due_reason(config=config, labels=0, last=None, now=now - timedelta(hours=1),
                            has_model=False) is None

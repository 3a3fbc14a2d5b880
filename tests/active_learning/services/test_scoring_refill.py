import pytest

from active_learning.models import PRMModel, SolutionScore, TrainingRun
from active_learning.services.cycles import cycle_run_inline
from active_learning.services.refill import queue_order, queue_refill
from active_learning.services.scoring import solutions_score
from active_learning.services.training import training_run_request
from labeling.models import Campaign, Membership
from labeling.services.assignments import assignment_next
from tests.factories import SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cycled(al_campaign):
    campaign, tasks = al_campaign
    run = training_run_request(campaign=campaign, enqueue=False)
    run = cycle_run_inline(run_id=run.pk)
    return campaign, tasks, run


def test_cycle_scores_every_unlabeled_solution_and_closes_the_run(cycled):
    campaign, tasks, run = cycled
    assert run.status == TrainingRun.Status.SUCCEEDED and run.stage == TrainingRun.Stage.DONE
    unlabeled = [t for t in tasks if t.completed == 0]
    scored = SolutionScore.objects.filter(model=run.model)
    assert sorted(scored.values_list("solution_id", flat=True)) == sorted(t.solution_id for t in unlabeled)
    for s in scored:
        assert len(s.step_scores) == 3 and s.score == pytest.approx(s.step_scores[0] * s.step_scores[1]
                                                                    * s.step_scores[2])
    assert run.report["scoring"]["scored"] == 18
    assert run.report["refill"]["queued"] == 8 and run.report["cycle_seconds"] > 0


def test_rescoring_only_touches_what_changed(cycled):
    campaign, tasks, run = cycled
    assert solutions_score(model=run.model)["scored"] == 0
    new = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["so 1 is right"]))
    result = solutions_score(model=run.model)
    assert result["scored"] == 1
    assert SolutionScore.objects.get(model=run.model, solution=new.solution).score > 0


def test_queue_top_is_convincing_wrong_answers_in_score_order(cycled):
    campaign, tasks, run = cycled
    queued = queue_order(campaign, limit=8)
    top = queued[:5]
    assert all(t.queue_generation == run.model.version and t.queue_model_version == f"v{run.model.version}"
               for t in queued)
    wrong = [t for t in queued if t.queue_strategy == "convincing_wrong"]
    assert len(wrong) == round(8 * 0.8)
    assert all(t.solution.answer_is_correct is False for t in wrong)
    # The wrong-answer picks are the highest-scored wrong answers, best first.
    scores = dict(SolutionScore.objects.filter(model=run.model).values_list("solution_id", "score"))
    wrong_pool = sorted((scores[t.solution_id] for t in tasks if t.completed == 0
                         and t.solution.answer_is_correct is False), reverse=True)
    assert [t.queue_score for t in wrong] == pytest.approx(sorted([t.queue_score for t in wrong], reverse=True))
    assert wrong[0].queue_score == pytest.approx(wrong_pool[0])
    assert top[0].queue_strategy == "convincing_wrong" and top[0].queue_rank == 0
    # The annotator is served exactly that order.
    user = UserFactory()
    Membership.objects.create(campaign=campaign, user=user)
    assert assignment_next(user=user, campaign=campaign).task_id == queued[0].pk


def test_refill_never_reorders_leased_work_and_demotes_the_old_generation(cycled):
    campaign, tasks, run = cycled
    user = UserFactory()
    Membership.objects.create(campaign=campaign, user=user)
    leased = assignment_next(user=user, campaign=campaign).task
    before = (leased.priority, leased.queue_rank)
    model = PRMModel.objects.get(pk=run.model_id)
    result = queue_refill(campaign=campaign, model=model, strategy="uniform", k=3, seed=1)
    leased.refresh_from_db()
    assert (leased.priority, leased.queue_rank) == before
    assert result["queued"] == 3 and result["demoted"] == 7
    queued = queue_order(campaign, limit=3)
    assert {t.queue_strategy for t in queued} == {"uniform"}


@pytest.mark.parametrize("strategy", ["uncertainty", "uniform"])
def test_other_strategies_fill_the_queue(cycled, strategy):
    campaign, _, run = cycled
    result = queue_refill(campaign=campaign, model=run.model, strategy=strategy, k=4)
    assert result["queued"] == 4 and result["by_reason"] == {strategy: 4}


def test_ensemble_reads_earlier_versions_scores_as_members(cycled):
    campaign, tasks, run = cycled
    first = queue_refill(campaign=campaign, model=run.model, strategy="ensemble", k=4)
    assert first["by_reason"] == {"uncertainty": 4}  # one version: nobody to disagree with
    second = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert second.model.version == 2 and second.model.is_active
    result = queue_refill(campaign=campaign, model=second.model, strategy="ensemble", k=4)
    assert result["queued"] == 4 and result["by_reason"] == {"ensemble_disagreement": 4}


def test_an_all_steps_campaign_also_cycles(al_campaign):
    campaign, _ = al_campaign
    Campaign.objects.filter(pk=campaign.pk).update(mode="all_steps")
    run = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert run.status == "succeeded"


def test_ensemble_skips_versions_that_never_scored_and_reads_only_candidates(cycled):
    from active_learning.services.refill import _ensemble_members

    campaign, tasks, run = cycled
    # A v2 the gate rejected: registered, never scored the pool.
    rejected = PRMModel.objects.get(pk=run.model_id)
    rejected.pk, rejected.version, rejected.is_active = None, 2, False
    rejected.save()
    third = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert third.model.version == 3
    # With one earlier member wanted, that member is v1 (v2 has no scores), not nobody.
    result = queue_refill(campaign=campaign, model=third.model, strategy="ensemble", k=4, ensemble_size=2)
    assert result["by_reason"] == {"ensemble_disagreement": 4}
    # A task in an annotator's hands is no candidate, so its earlier scores are not read either.
    user = UserFactory()
    Membership.objects.create(campaign=campaign, user=user)
    leased = assignment_next(user=user, campaign=campaign).task
    members = _ensemble_members(model=third.model, size=3)
    assert members and leased.solution_id not in members
    v1 = set(SolutionScore.objects.filter(model=run.model).values_list("solution_id", flat=True))
    assert set(members) == v1 - {leased.solution_id} - {t.solution_id for t in tasks if t.completed}

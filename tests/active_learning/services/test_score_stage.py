"""The fanned-out score stage, in-process: planning, claiming, leases, retries, the refill hand-off."""

from datetime import timedelta

import pytest
from django.utils import timezone

from active_learning.models import ScoringChunk, SolutionScore, TrainingRun
from active_learning.selectors import score_stage_progress
from active_learning.services import score_stage, scoring
from active_learning.services.score_stage import (
    pool_chunk_ranges,
    score_chunk_execute,
    score_chunks_reap,
    score_stage_plan,
    score_stage_run_inline,
)
from active_learning.services.scoring import score_config_for_worker
from active_learning.services.training import training_run_execute, training_run_request, training_runs_reap
from labeling.models import OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def scoring_run(al_campaign, monkeypatch):
    """A run trained in-process and now in its score stage; chunk messages are recorded, not sent."""
    campaign, tasks = al_campaign
    run = training_run_request(campaign=campaign, enqueue=False)
    training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "running" and run.stage == "scoring"
    sent: list[list[int] | None] = []

    def dispatch(*, run_id, chunk_ids=None):
        # As the real one after the broker took the messages.
        sent.append(chunk_ids)
        qs = ScoringChunk.objects.filter(run_id=run_id, status="pending")
        return qs.filter(pk__in=chunk_ids).update(dispatched_at=timezone.now()) if chunk_ids is not None else \
            qs.update(dispatched_at=timezone.now())

    monkeypatch.setattr(score_stage, "score_chunks_dispatch", dispatch)
    return campaign, tasks, run, sent


def _unlabeled(tasks):
    return sorted(t.solution_id for t in tasks if t.completed == 0)


def test_the_pool_is_cut_into_consecutive_id_ranges(scoring_run):
    campaign, tasks, run, _ = scoring_run
    ranges = pool_chunk_ranges(campaign=campaign, model_id=run.model_id, chunk_size=4)
    pool = _unlabeled(tasks)
    assert [n for _, _, n in ranges] == [4, 4, 4, 4, 2]
    assert [(a, b) for a, b, _ in ranges] == [(pool[i], pool[min(i + 3, len(pool) - 1)]) for i in range(0, 18, 4)]


def test_every_solution_is_scored_once_and_the_model_loads_once(scoring_run, settings):
    campaign, tasks, run, _ = scoring_run
    loads = scoring.load_count
    report = score_stage_run_inline(run_id=run.pk, chunk_size=4)
    chunks = list(ScoringChunk.objects.filter(run=run))
    assert len(chunks) == 5 and all(c.status == "done" and c.attempts == 1 for c in chunks)
    assert sorted(SolutionScore.objects.filter(model=run.model).values_list("solution_id", flat=True)) == \
        _unlabeled(tasks)
    assert scoring.load_count - loads == 1 and [c.model_loaded for c in chunks].count(True) == 1
    assert report["chunks"] == 5 and report["scored"] == 18 and report["model_loads"] == 1
    run.refresh_from_db()
    assert run.stage == "refilling"
    # In-process: the caller runs the refill, so nothing was put in the outbox for a worker.
    assert not OutboxMessage.objects.filter(ref=f"refill:{run.pk}").exists()
    progress = score_stage_progress(run=run)
    assert progress["done"] == 5 and progress["scored"] == 18 and progress["solutions"] == 18


def test_a_chunk_run_again_writes_nothing_and_planning_twice_plans_nothing_new(scoring_run):
    campaign, tasks, run, sent = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=5)
    assert score_stage_plan(run_id=run.pk, chunk_size=5) == ids  # a duplicate planner message
    assert ScoringChunk.objects.filter(run=run).count() == 4
    first = score_chunk_execute(chunk_id=ids[0])
    assert first.status == "done" and first.scored == 5
    before = list(SolutionScore.objects.filter(model=run.model).values_list("pk", "created_at"))
    assert score_chunk_execute(chunk_id=ids[0]) is None  # a redelivered message
    assert list(SolutionScore.objects.filter(model=run.model).values_list("pk", "created_at")) == before
    # Even a chunk forced back to pending finds its solutions scored and writes none.
    ScoringChunk.objects.filter(pk=ids[0]).update(status="pending")
    again = score_chunk_execute(chunk_id=ids[0])
    assert again.status == "done" and again.attempts == 2
    assert again.scored == 5  # what its range holds under the model, though this attempt wrote nothing
    assert SolutionScore.objects.filter(model=run.model).count() == 5
    assert list(SolutionScore.objects.filter(model=run.model).values_list("pk", "created_at")) == before


def test_the_last_chunk_queues_the_refill_exactly_once(scoring_run):
    campaign, tasks, run, sent = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=10)
    assert len(ids) == 2
    score_chunk_execute(chunk_id=ids[0])
    run.refresh_from_db()
    assert run.stage == "scoring" and not OutboxMessage.objects.filter(ref=f"refill:{run.pk}").exists()
    score_chunk_execute(chunk_id=ids[1])
    score_chunk_execute(chunk_id=ids[1])
    run.refresh_from_db()
    assert run.stage == "refilling" and run.report["scoring"]["scored"] == 18
    msgs = OutboxMessage.objects.filter(ref=f"refill:{run.pk}")
    assert msgs.count() == 1 and msgs.get().task == "active_learning.tasks.refill_queue"


def test_a_chunk_held_by_a_live_worker_is_left_alone_and_a_lapsed_one_is_handed_on(
        scoring_run, django_capture_on_commit_callbacks):
    campaign, tasks, run, sent = scoring_run
    with django_capture_on_commit_callbacks(execute=True):
        ids = score_stage_plan(run_id=run.pk, chunk_size=6)
    assert sent == [None]  # the plan sent the run's pending chunks
    soon = timezone.now() + timedelta(seconds=60)
    ScoringChunk.objects.filter(pk=ids[0]).update(status="running", attempts=1, worker="other:1",
                                                  lease_expires_at=soon)
    assert score_chunk_execute(chunk_id=ids[0]) is None  # a duplicate message while the owner lives
    assert not SolutionScore.objects.filter(model=run.model).exists()
    # The owner dies: its lease lapses, the reaper puts the chunk back and sends it again.
    ScoringChunk.objects.filter(pk=ids[0]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    sent.clear()
    result = score_chunks_reap()
    assert result["handed_on"] == 1 and [ids[0]] in sent
    chunk = ScoringChunk.objects.get(pk=ids[0])
    assert chunk.status == "pending" and "other:1 stopped renewing" in chunk.error
    done = score_chunk_execute(chunk_id=ids[0], worker="me:2")
    assert done.status == "done" and done.attempts == 2 and done.worker == "me:2" and done.scored == 6


def test_a_chunk_that_keeps_killing_its_worker_fails_the_run(scoring_run, settings):
    settings.AL_SCORING_MAX_ATTEMPTS = 2
    campaign, tasks, run, sent = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=6)
    ScoringChunk.objects.filter(pk=ids[1]).update(status="running", attempts=2, worker="w:9",
                                                  lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert score_chunks_reap()["failed"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and "scoring chunk 1 failed" in run.error and "w:9" in run.error
    statuses = dict(ScoringChunk.objects.filter(run=run).values_list("index", "status"))
    assert statuses == {0: "cancelled", 1: "failed", 2: "cancelled"}
    assert score_chunk_execute(chunk_id=ids[0]) is None  # late messages do nothing


def test_an_error_retries_the_chunk_then_fails_the_run_with_the_error(scoring_run, settings, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    settings.AL_SCORING_MAX_ATTEMPTS = 2
    campaign, tasks, run, sent = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=9)

    def broken(**kw):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(score_stage, "solutions_score", broken)
    with django_capture_on_commit_callbacks(execute=True):
        first = score_chunk_execute(chunk_id=ids[0])
    assert first.status == "pending" and first.attempts == 1 and "out of memory" in first.error
    assert [ids[0]] in sent  # sent again at once
    second = score_chunk_execute(chunk_id=ids[0])
    assert second.status == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "RuntimeError: CUDA error: out of memory" in run.error


def test_pending_chunks_never_sent_are_sent_by_the_reaper(scoring_run):
    campaign, tasks, run, sent = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=6, dispatch=False)
    sent.clear()
    score_chunks_reap()
    assert sent == [ids]  # the broker was down when the plan tried (dispatched_at is empty)
    # Sent, but nothing has moved for AL_SCORING_REDISPATCH_SECONDS: their messages were lost.
    long_ago = timezone.now() - timedelta(hours=1)
    ScoringChunk.objects.filter(run=run).update(dispatched_at=long_ago)
    sent.clear()
    score_chunks_reap()
    assert sent == [None]
    # Recent activity: work is flowing, nothing is sent twice.
    ScoringChunk.objects.filter(pk=ids[0]).update(started_at=timezone.now())
    sent.clear()
    score_chunks_reap()
    assert sent == []
    # Activity on a chunk that is no longer pending counts too: the workers are busy elsewhere.
    ScoringChunk.objects.filter(pk=ids[0]).update(status="done", started_at=long_ago, finished_at=timezone.now())
    ScoringChunk.objects.filter(pk__in=ids[1:]).update(dispatched_at=long_ago, started_at=None)
    sent.clear()
    score_chunks_reap()
    assert sent == []


def test_the_inline_stage_retries_a_failed_chunk_in_process(scoring_run, monkeypatch):
    campaign, tasks, run, sent = scoring_run
    real = score_stage.solutions_score
    calls = []

    def flaky(**kw):
        calls.append(kw["first_id"])
        if len(calls) == 1:
            raise RuntimeError("a transient error")
        return real(**kw)

    monkeypatch.setattr(score_stage, "solutions_score", flaky)
    score_stage_run_inline(run_id=run.pk, chunk_size=9)
    chunks = list(ScoringChunk.objects.filter(run=run).order_by("index"))
    assert [c.status for c in chunks] == ["done", "done"] and [c.attempts for c in chunks] == [2, 1]
    assert calls[0] == calls[1]  # the same chunk, again, here
    assert sent == []  # nothing went to a broker
    run.refresh_from_db()
    assert run.stage == "refilling"
    assert SolutionScore.objects.filter(model=run.model).count() == 18


def test_an_inline_stage_that_keeps_failing_fails_the_run_and_the_refill_does_not_close_it(
        scoring_run, monkeypatch, settings):
    from active_learning.services.refill import run_refill

    settings.AL_SCORING_MAX_ATTEMPTS = 2
    campaign, tasks, run, sent = scoring_run

    def broken(**kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(score_stage, "solutions_score", broken)
    score_stage_run_inline(run_id=run.pk, chunk_size=9)
    run.refresh_from_db()
    assert run.status == "failed" and "disk full" in run.error
    assert run_refill(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == "failed"


def test_a_refill_asked_for_before_the_stage_closed_is_ignored(scoring_run):
    from active_learning.services.refill import run_refill

    campaign, tasks, run, _ = scoring_run
    score_stage_plan(run_id=run.pk, chunk_size=9, dispatch=False)
    assert run_refill(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == "running" and run.stage == "scoring"


def test_the_model_is_loaded_before_the_chunk_is_claimed(scoring_run, monkeypatch):
    campaign, tasks, run, _ = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=9, dispatch=False)
    real = score_stage.scoring_model
    seen = []

    def spy(path):
        seen.append(ScoringChunk.objects.get(pk=ids[0]).status)
        return real(path)

    monkeypatch.setattr(score_stage, "scoring_model", spy)
    chunk = score_chunk_execute(chunk_id=ids[0])
    # Loaded while the chunk was still pending: a slow load does not eat the chunk's lease.
    assert seen == ["pending"] and chunk.status == "done"


def test_no_active_model_goes_straight_to_the_refill(scoring_run):
    campaign, tasks, run, _ = scoring_run
    run.model.is_active = False
    run.model.save()
    assert score_stage_plan(run_id=run.pk) == []
    run.refresh_from_db()
    assert run.stage == "refilling" and run.report["scoring"]["skipped"] == "no active model"
    assert OutboxMessage.objects.filter(ref=f"refill:{run.pk}").count() == 1


def test_a_stalled_score_stage_fails_with_a_reason_that_names_the_queue(scoring_run, settings):
    campaign, tasks, run, _ = scoring_run
    score_stage_plan(run_id=run.pk, chunk_size=6)
    run.refresh_from_db()
    # Nobody consumes the scoring queue: the stage's deadline is the stall limit, not the training lease.
    assert run.lease_expires_at > timezone.now() + timedelta(seconds=settings.AL_SCORING_STALL_SECONDS - 30)
    TrainingRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert training_runs_reap() == 1
    run.refresh_from_db()
    assert run.status == "failed" and "'scoring' queue" in run.error
    score_chunks_reap()
    assert set(ScoringChunk.objects.filter(run=run).values_list("status", flat=True)) == {"cancelled"}


def test_a_worker_started_with_a_device_scores_on_it(settings):
    assert score_config_for_worker({"device": "cpu", "max_batch_size": 8}).device == "cpu"
    settings.AL_SCORING_DEVICE = "cuda:1"
    cfg = score_config_for_worker({"device": "cpu", "max_batch_size": 8})
    assert cfg.device == "cuda:1" and cfg.max_batch_size == 8


def test_progress_names_each_worker_and_flags_a_silent_one(scoring_run, settings, client, django_user_model):
    from rest_framework.test import APIClient

    from labeling.models import Membership

    campaign, tasks, run, _ = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=5)
    score_chunk_execute(chunk_id=ids[0], worker="hostA:11")
    score_chunk_execute(chunk_id=ids[1], worker="hostB:22")
    now = timezone.now()
    ScoringChunk.objects.filter(pk=ids[2]).update(status="running", attempts=1, worker="hostB:22",
                                                  lease_expires_at=now + timedelta(seconds=55))
    ScoringChunk.objects.filter(pk=ids[3]).update(status="running", attempts=1, worker="hostC:33",
                                                  lease_expires_at=now + timedelta(seconds=10))
    p = score_stage_progress(run=run)
    assert (p["chunks"], p["done"], p["running"], p["pending"], p["scored"]) == (4, 2, 2, 0, 10)
    by = {w["name"]: w for w in p["workers"]}
    assert by["hostA:11"] == {"name": "hostA:11", "done": 1, "busy": False, "silent_s": None, "handed_on_in_s": None}
    assert by["hostB:22"]["done"] == 1 and by["hostB:22"]["busy"] and by["hostB:22"]["silent_s"] is None
    assert by["hostC:33"]["silent_s"] >= 49 and 0 < by["hostC:33"]["handed_on_in_s"] <= 10
    manager = django_user_model.objects.create_user("boss", password="x")
    Membership.objects.create(campaign=campaign, user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)
    page = client.get(f"/manage/{campaign.slug}/model/").content.decode()
    assert 'data-scoring-progress data-chunks="4" data-done="2"' in page
    assert 'data-worker="hostA:11"' in page and "silent for" in page
    api = APIClient()
    api.force_authenticate(manager)
    body = api.get(f"/api/manage/campaigns/{campaign.slug}/training-runs/{run.pk}/").json()
    assert body["stage"] == "scoring" and body["scoring"]["done"] == 2 and len(body["scoring"]["workers"]) == 3
    listed = api.get(f"/api/manage/campaigns/{campaign.slug}/training-runs/").json()
    assert [r["id"] for r in listed["results"]] == [run.pk] and listed["count"] == 1
    missing = api.get(f"/api/manage/campaigns/{campaign.slug}/training-runs/{run.pk + 999}/")
    assert missing.status_code == 404 and "no training run" in missing.json()["detail"]


def test_a_retried_chunk_counts_the_scores_its_killed_attempt_wrote(scoring_run):
    campaign, tasks, run, _ = scoring_run
    ids = score_stage_plan(run_id=run.pk, chunk_size=9, dispatch=False)
    chunk = ScoringChunk.objects.get(pk=ids[0])
    pool = _unlabeled(tasks)[:9]
    # The first attempt wrote 4 scores before its worker died.
    assert scoring.solutions_score(model=run.model, first_id=pool[0], last_id=pool[3])["scored"] == 4
    done = score_chunk_execute(chunk_id=chunk.pk)
    assert done.status == "done" and done.scored == 9 == done.size

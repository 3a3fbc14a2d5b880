import random
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from labeling.errors import Conflict, Forbidden, LeaseExpired, NotFound, ValidationFailed
from labeling.models import Assignment, Campaign, Membership, StepAlternative, StepLabel, Task
from labeling.services.assignments import assignment_heartbeat, assignment_next, assignment_skip
from labeling.services.leases import assignments_expire_stale
from labeling.services.submissions import RatingIn, assignment_save_draft, assignment_submit
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def _campaign(n_tasks=3, gold=0, **kw):
    campaign = CampaignFactory(qc_rate=kw.pop("qc_rate", 0.0), **kw)
    for _ in range(n_tasks):
        TaskFactory(campaign=campaign)
    for _ in range(gold):
        TaskFactory(campaign=campaign, is_gold=True)
    return campaign


def _annotator(campaign):
    return MembershipFactory(campaign=campaign).user


def _r(*ratings):
    return [RatingIn(step=i, rating=r) for i, r in enumerate(ratings)]


def _submit(a, user, *ratings, **kw):
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(), ratings=_r(*ratings), **kw)


def test_tasks_come_in_import_order_and_priority_first():
    campaign = _campaign(3)
    tasks = list(Task.objects.filter(campaign=campaign).order_by("id"))
    tasks[2].priority = 5
    tasks[2].save()
    user = _annotator(campaign)
    first = assignment_next(user=user, campaign=campaign)
    assert first.task_id == tasks[2].pk
    _submit(first, user, 1, 1, 1)
    assert assignment_next(user=user, campaign=campaign).task_id == tasks[0].pk


def test_unfinished_lease_comes_back_first_and_prefetch_gets_another():
    campaign = _campaign(3)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    assert assignment_next(user=user, campaign=campaign).pk == a.pk  # reload: same task
    ahead = assignment_next(user=user, campaign=campaign, exclude_id=a.pk, prefetch=True)
    assert ahead.pk != a.pk
    assert assignment_next(user=user, campaign=campaign, exclude_id=a.pk, prefetch=True).pk == ahead.pk


def test_overlap_gives_each_solution_exactly_n_distinct_annotators():
    campaign = _campaign(4, overlap=2)
    users = [_annotator(campaign) for _ in range(3)]
    served = Counter()
    for _ in range(10):
        for u in users:
            a = assignment_next(user=u, campaign=campaign)
            if a is not None:
                _submit(a, u, 1, 1, 1)
                served[a.task_id] += 1
    assert set(served.values()) == {2}
    assert len(served) == 4
    pairs = Assignment.objects.values_list("task_id", "annotator_id")
    assert len(pairs) == len(set(pairs)) == 8  # nobody saw a solution twice
    assert set(Task.objects.values_list("taken", "completed", "is_open")) == {(2, 2, False)}
    assert all(assignment_next(user=u, campaign=campaign) is None for u in users)


def test_expired_lease_returns_the_solution_to_the_pool():
    campaign = _campaign(1)
    alice, bob = _annotator(campaign), _annotator(campaign)
    a = assignment_next(user=alice, campaign=campaign)
    assert assignment_next(user=bob, campaign=campaign) is None  # overlap 1, taken
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert assignments_expire_stale() == 1
    b = assignment_next(user=bob, campaign=campaign)
    assert b is not None and b.task_id == a.task_id
    with pytest.raises(LeaseExpired, match="expired"):
        _submit(a, alice, 1, 1, 1)


def test_expired_lease_is_given_back_with_its_draft_when_still_open():
    campaign = _campaign(2)
    alice = _annotator(campaign)
    a = assignment_next(user=alice, campaign=campaign)
    assignment_save_draft(assignment_id=a.pk, user=alice, ratings=_r(1, 0))
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assignments_expire_stale()
    again = assignment_next(user=alice, campaign=campaign)
    assert again.pk == a.pk and again.status == "leased"
    assert list(again.step_labels.order_by("step__index").values_list("rating", flat=True)) == [1, 0]
    assert Task.objects.get(pk=a.task_id).taken == 1


def test_qc_items_are_served_at_the_campaign_rate_and_look_normal():
    campaign = _campaign(400, gold=400, qc_rate=0.2)
    rng = random.Random(7)
    gold = 0
    for _ in range(150):
        user = _annotator(campaign)
        a = assignment_next(user=user, campaign=campaign, rng=rng)
        gold += a.is_quality_control
        assert a.is_quality_control == a.task.is_gold
    assert 15 <= gold <= 45  # 20% of 150 = 30, three standard deviations (4.9) either side


def test_no_qc_when_rate_is_zero_and_gold_is_never_a_fallback():
    campaign = _campaign(0, gold=2, qc_rate=0.0)
    assert assignment_next(user=_annotator(campaign), campaign=campaign) is None


def test_submit_is_idempotent():
    campaign = _campaign(1)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    sid = uuid.uuid4()
    first = assignment_submit(assignment_id=a.pk, user=user, submission_id=sid, ratings=_r(1, -1))
    again = assignment_submit(assignment_id=a.pk, user=user, submission_id=sid, ratings=_r(1, -1))
    assert first.pk == again.pk and again.finish_reason == "found_error"
    assert StepLabel.objects.filter(assignment=a).count() == 2
    assert Task.objects.get(pk=a.task_id).completed == 1
    with pytest.raises(Conflict, match="already submitted"):
        assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(), ratings=_r(1, -1))


def test_foreign_assignment_is_refused():
    campaign = _campaign(1)
    alice, bob = _annotator(campaign), _annotator(campaign)
    a = assignment_next(user=alice, campaign=campaign)
    with pytest.raises(NotFound, match=f"no assignment {a.pk}"):
        _submit(a, bob, 1, 1, 1)
    with pytest.raises(NotFound):
        assignment_save_draft(assignment_id=a.pk, user=bob, ratings=_r(1))


def test_non_members_and_paused_annotators_get_nothing():
    campaign = _campaign(1)
    with pytest.raises(Forbidden, match="not a member"):
        assignment_next(user=UserFactory(), campaign=campaign)
    m = MembershipFactory(campaign=campaign, status=Membership.Status.PAUSED, status_reason="QC accuracy 40%")
    with pytest.raises(Forbidden, match="paused: QC accuracy 40%"):
        assignment_next(user=m.user, campaign=campaign)


@pytest.mark.parametrize(
    ("ratings", "reason", "message"),
    [
        ((1, -1, 1), None, "no step after the first negative"),
        ((1, 1), "solution", "rate every step"),
        ((1, 1, 1), "found_error", "needs a negative"),
        ((1,), "bad_problem", "reason is required"),
        ((1, 1, 1), "bored", "finish_reason must be"),
    ],
)
def test_first_error_mode_validation(ratings, reason, message):
    campaign = _campaign(1, mode=Campaign.Mode.FIRST_ERROR)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    with pytest.raises(ValidationFailed, match=message):
        _submit(a, user, *ratings, finish_reason=reason)
    assert Assignment.objects.get(pk=a.pk).status == "leased"  # nothing half-written


def test_first_error_gaps_are_refused():
    campaign = _campaign(1)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    with pytest.raises(ValidationFailed, match="in order"):
        assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                          ratings=[RatingIn(0, 1), RatingIn(2, -1)])


def test_all_steps_mode_requires_every_step_and_derives_the_reason():
    campaign = _campaign(1, mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    with pytest.raises(ValidationFailed, match=r"unrated: \[2\]"):
        _submit(a, user, 1, -1)
    done = _submit(a, user, 1, -1, 1)
    assert done.finish_reason == "found_error"
    assert list(done.step_labels.order_by("step__index").values_list("rating", flat=True)) == [1, -1, 1]


def test_give_up_and_bad_problem_keep_partial_ratings():
    campaign = _campaign(2)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    done = _submit(a, user, 1, finish_reason="bad_problem", note="the problem has two answers")
    assert (done.finish_reason, done.finish_note) == ("bad_problem", "the problem has two answers")
    b = assignment_next(user=user, campaign=campaign)
    assert _submit(b, user, finish_reason="give_up").finish_reason == "give_up"


def test_corrected_step_is_stored_as_a_human_completion():
    campaign = _campaign(1, allow_corrections=True)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    _submit(a, user, 1, -1, corrected_step="Step two, done right.")
    alt = StepAlternative.objects.get(assignment=a)
    assert (alt.kind, alt.step.index, alt.text) == ("human", 1, "Step two, done right.")
    campaign2 = _campaign(1, allow_corrections=False)
    user2 = _annotator(campaign2)
    b = assignment_next(user=user2, campaign=campaign2)
    with pytest.raises(ValidationFailed, match="does not take corrected steps"):
        _submit(b, user2, -1, corrected_step="x")


def test_draft_replaces_state_and_heartbeat_extends_the_lease():
    campaign = _campaign(1, lease_minutes=10)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    assignment_save_draft(assignment_id=a.pk, user=user, ratings=_r(1, 1), active_ms=500)
    assignment_save_draft(assignment_id=a.pk, user=user, ratings=_r(1), active_ms=300)  # undo
    a.refresh_from_db()
    assert list(a.step_labels.values_list("rating", flat=True)) == [1]
    assert a.active_ms == 500  # active time never goes backwards
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() + timezone.timedelta(seconds=5))
    hb = assignment_heartbeat(assignment_id=a.pk, user=user, active_ms=900)
    assert hb.lease_expires_at > timezone.now() + timezone.timedelta(minutes=9)
    assert hb.active_ms == 900
    with pytest.raises(ValidationFailed, match="does not exist"):
        assignment_save_draft(assignment_id=a.pk, user=user, ratings=[RatingIn(7, 1)])


def test_skip_returns_the_slot_to_others_not_to_me():
    campaign = _campaign(1)
    alice, bob = _annotator(campaign), _annotator(campaign)
    a = assignment_next(user=alice, campaign=campaign)
    assignment_skip(assignment_id=a.pk, user=alice)
    assert assignment_next(user=alice, campaign=campaign) is None
    assert assignment_next(user=bob, campaign=campaign).task_id == a.task_id


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_double_assign():
    """Many threads on real PostgreSQL; overlap 2 over 30 tasks."""
    campaign = CampaignFactory(overlap=2, qc_rate=0)
    for _ in range(30):
        TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["a", "b"]))
    users = [_annotator(campaign) for _ in range(12)]
    errors = []
    barrier = threading.Barrier(len(users))

    def work(user):
        try:
            barrier.wait()
            while (a := assignment_next(user=user, campaign=campaign)) is not None:
                assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(), ratings=_r(1, 1))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    per_task = Counter(Assignment.objects.filter(status="submitted").values_list("task_id", flat=True))
    assert len(per_task) == 30 and set(per_task.values()) == {2}
    pairs = list(Assignment.objects.values_list("task_id", "annotator_id"))
    assert len(pairs) == len(set(pairs)) == 60
    assert set(Task.objects.values_list("taken", "completed")) == {(2, 2)}

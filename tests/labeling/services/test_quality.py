"""Gold items, scoring against gold, screening and auto-pause."""

import uuid

import pytest

from labeling.errors import Conflict, Forbidden, ValidationFailed
from labeling.models import Assignment, GoldScore, GoldStepLabel, Membership, Task
from labeling.selectors import assignment_payload
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import membership_set
from labeling.services.quality import gold_set, membership_status_set
from labeling.services.submissions import assignment_submit
from tests.factories import SolutionFactory, UserFactory
from tests.labeling.conftest import FIVE, label

pytestmark = pytest.mark.django_db


def _gold(campaign, ratings=(1, 1, -1), n=1):
    return [gold_set(campaign=campaign, solution=SolutionFactory(steps=FIVE), ratings=list(ratings)) for _ in range(n)]


def test_gold_set_validates_against_the_mode(dash_world):
    c = dash_world["campaign"]
    sol = SolutionFactory(steps=FIVE)
    with pytest.raises(ValidationFailed, match="no step after the first error"):
        gold_set(campaign=c, solution=sol, ratings=[1, -1, 1])
    with pytest.raises(ValidationFailed, match="every step must be rated"):
        gold_set(campaign=c, solution=sol, ratings=[1, 1])
    with pytest.raises(ValidationFailed, match="without gaps"):
        gold_set(campaign=c, solution=sol, ratings=[1, None, -1])
    assert not GoldStepLabel.objects.filter(solution=sol).exists()
    task = gold_set(campaign=c, solution=sol, ratings=[1, 0, -1])
    assert task.is_gold and task.is_open
    assert dict(GoldStepLabel.objects.filter(solution=sol).values_list("step__index", "rating")) == {0: 1, 1: 0, 2: -1}
    # Re-promoting replaces the reference labels.
    gold_set(campaign=c, solution=sol, ratings=[1, 1, 1, 1, 1])
    assert GoldStepLabel.objects.filter(solution=sol).count() == 5


def test_gold_items_stay_open_for_every_annotator(dash_world):
    c = dash_world["campaign"]
    c.qc_rate = 1.0
    c.save()
    (task,) = _gold(c)
    for user in dash_world["annotators"]:
        a = assignment_next(user=user, campaign=c)
        assert a.task_id == task.pk and a.is_quality_control
    task.refresh_from_db()
    assert task.taken == 3 and task.is_open  # overlap is 2, yet gold never closes


def test_submit_on_gold_records_a_score(dash_world):
    c = dash_world["campaign"]
    c.qc_rate = 1.0
    c.save()
    _gold(c, ratings=(1, 1, -1))
    ann = dash_world["annotators"][0]
    a = label(ann, c, [1, -1])  # a false alarm at step 2, gold's error (step 3) never reached
    s = GoldScore.objects.get(assignment=a)
    assert (s.compared, s.matches, s.false_alarms, s.gold_fine, s.misses, s.gold_negatives) == (2, 1, 1, 2, 0, 0)
    assert (s.gold_first_error, s.label_first_error) == (2, 1)
    assert (s.first_error_exact, s.first_error_within_one) == (False, True)
    a.refresh_from_db()
    assert (a.rated_steps, a.positive_steps, a.negative_steps, a.first_error_index) == (2, 1, 1, 1)


def test_give_up_on_gold_is_not_scored(dash_world):
    c = dash_world["campaign"]
    c.qc_rate = 1.0
    c.save()
    _gold(c)
    ann = dash_world["annotators"][0]
    a = assignment_next(user=ann, campaign=c)
    assignment_submit(assignment_id=a.pk, user=ann, submission_id=uuid.uuid4(), ratings=[], finish_reason="give_up")
    assert not GoldScore.objects.exists()


def test_gold_is_never_flagged_to_the_annotator(dash_world, client):
    c = dash_world["campaign"]
    c.qc_rate = 1.0
    c.save()
    (gold_task,) = _gold(c)
    ann = dash_world["annotators"][0]
    gold_a = assignment_next(user=ann, campaign=c)
    assert gold_a.task_id == gold_task.pk
    c.qc_rate = 0
    c.save()
    work_a = assignment_next(user=ann, campaign=c, exclude_id=gold_a.pk, prefetch=True)
    gold_payload, work_payload = assignment_payload(assignment=gold_a), assignment_payload(assignment=work_a)
    assert set(gold_payload) == set(work_payload)
    text = str(gold_payload).lower()
    for word in ("gold", "quality", "screening", "qc"):
        assert word not in text, word
    client.force_login(ann)
    api = client.get(f"/api/assignments/{gold_a.pk}/").content.decode().lower()
    listing = client.get("/api/assignments/").content.decode().lower()
    page = client.get(f"/label/{c.slug}/").content.decode().lower()
    for body in (api, listing, page):
        for word in ("gold", "is_quality", "screening", "qc_"):
            assert word not in body, word


@pytest.fixture
def screening_campaign(dash_world):
    c = dash_world["campaign"]
    c.screening_size = 3
    c.screening_threshold = 0.75
    c.save()
    _gold(c, ratings=(1, 1, -1), n=4)
    return c


def test_new_annotator_starts_in_screening_and_gets_only_gold(screening_campaign):
    c = screening_campaign
    newbie = UserFactory()
    m = membership_set(campaign=c, user=newbie)
    assert m.status == Membership.Status.SCREENING
    a = assignment_next(user=newbie, campaign=c)
    assert a.is_screening and a.task.is_gold
    # A manager or an existing annotator is not re-screened.
    assert Membership.objects.get(campaign=c, user=dash_world_manager(c)).status == Membership.Status.ACTIVE


def dash_world_manager(c):
    return Membership.objects.get(campaign=c, role=Membership.Role.MANAGER).user


def test_screening_pass_makes_the_annotator_active(screening_campaign):
    c = screening_campaign
    newbie = UserFactory()
    membership_set(campaign=c, user=newbie)
    for _ in range(3):
        label(newbie, c, [1, 1, -1])
    m = Membership.objects.get(campaign=c, user=newbie)
    assert m.status == Membership.Status.ACTIVE
    assert "passed screening" in m.status_reason and "100%" in m.status_reason
    a = assignment_next(user=newbie, campaign=c)
    assert not a.is_screening and not a.task.is_gold  # now normal work (qc_rate is 0)


def test_screening_fail_pauses_with_the_figure_and_a_manager_can_override(screening_campaign, dash_world):
    c = screening_campaign
    newbie = UserFactory()
    membership_set(campaign=c, user=newbie)
    label(newbie, c, [1, 1, -1])  # 3/3
    label(newbie, c, [-1])  # 0/1
    m = Membership.objects.get(campaign=c, user=newbie)
    assert m.status == Membership.Status.SCREENING  # not done yet
    label(newbie, c, [1, -1])  # 1/2 -> 4/6 = 67% < 75%
    m.refresh_from_db()
    assert m.status == Membership.Status.PAUSED
    assert "failed screening" in m.status_reason and "67%" in m.status_reason and "4/6" in m.status_reason
    with pytest.raises(Forbidden, match="paused"):
        assignment_next(user=newbie, campaign=c)
    assert Assignment.objects.filter(annotator=newbie, status="submitted").count() == 3  # work kept
    membership_status_set(campaign=c, member_id=newbie.pk, status="active", by=dash_world["manager"],
                          reason="reviewed by hand")
    m.refresh_from_db()
    assert m.status == Membership.Status.ACTIVE and m.status_changed_by == dash_world["manager"]
    assert "reviewed by hand" in m.status_reason
    assert assignment_next(user=newbie, campaign=c) is not None


def test_screening_without_gold_says_why(dash_world):
    c = dash_world["campaign"]
    c.screening_size = 2
    c.save()
    newbie = UserFactory()
    membership_set(campaign=c, user=newbie)
    with pytest.raises(Conflict, match="no gold items yet"):
        assignment_next(user=newbie, campaign=c)


def test_auto_pause_on_low_recent_qc_accuracy_keeps_submitted_work(dash_world):
    c = dash_world["campaign"]
    c.qc_rate = 1.0
    c.autopause_window = 3
    c.autopause_threshold = 0.6
    c.save()
    _gold(c, ratings=(1, 1, -1), n=4)
    ann = dash_world["annotators"][0]
    label(ann, c, [1, 1, -1])  # 3/3
    label(ann, c, [-1])  # 0/1
    m = Membership.objects.get(campaign=c, user=ann)
    assert m.status == Membership.Status.ACTIVE  # fewer than `window` items: no verdict yet
    label(ann, c, [-1])  # window of 3: 3/5 = 60%, not below
    m.refresh_from_db()
    assert m.status == Membership.Status.ACTIVE
    label(ann, c, [-1])  # last 3: 0/1 + 0/1 + 0/1 = 0%
    m.refresh_from_db()
    assert m.status == Membership.Status.PAUSED
    assert "auto-paused" in m.status_reason and "0%" in m.status_reason and "last 3 gold items" in m.status_reason
    assert Assignment.objects.filter(annotator=ann, status="submitted").count() == 4
    with pytest.raises(Forbidden, match="auto-paused"):
        assignment_next(user=ann, campaign=c)


def test_import_as_gold(dash_world, prm800k_records_path):
    from labeling.services.imports import solutions_import

    c = dash_world["campaign"]
    before = Assignment.objects.count()
    result = solutions_import(campaign=c, path=prm800k_records_path, as_gold=True)
    assert result.gold_items > 0 and result.assignments_created == 0
    assert Assignment.objects.count() == before
    gold_tasks = Task.objects.filter(campaign=c, is_gold=True)
    assert gold_tasks.count() == len({*gold_tasks.values_list("solution_id", flat=True)}) > 0
    assert GoldStepLabel.objects.filter(solution__tasks__in=gold_tasks).exists()


def test_import_as_gold_refuses_a_record_that_breaks_the_mode(dash_world, write_jsonl, prm800k_records_path):
    import json

    from labeling.errors import ImportFailed
    from labeling.services.imports import solutions_import

    c = dash_world["campaign"]
    records = [json.loads(x) for x in prm800k_records_path.read_text().splitlines() if x.strip()]
    rec = records[0]
    steps = rec["label"]["steps"]
    assert len(steps) >= 2
    # An unrated step before the first error leaves a gap: not usable as first-error gold.
    steps[0]["completions"][0]["rating"] = None
    path = write_jsonl([records[1], rec])
    with pytest.raises(ImportFailed, match="line 2: cannot be gold: in first-error mode steps are rated in order"):
        solutions_import(campaign=c, path=path, as_gold=True)
    assert not Task.objects.filter(campaign=c, is_gold=True).exists()

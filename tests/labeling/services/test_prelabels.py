"""Verified pre-labels: imported and model suggestions, the arms, what the page sees, and the bias report."""

import json
import uuid

import pytest

from active_learning.models import PRMModel, SolutionScore
from labeling.dashboard.prelabels import prelabel_report
from labeling.errors import ImportFailed, ValidationFailed
from labeling.models import Campaign, Step, StepLabel, StepPrelabel
from labeling.selectors import assignment_payload
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import campaign_update, membership_set, settings_clean
from labeling.services.imports import solutions_import
from labeling.services.prelabels import prelabels_store, task_in_shown_arm
from labeling.services.quality import gold_set
from labeling.services.submissions import RatingIn, assignment_submit
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

STEPS = ["Let x = 2.", "Then 2x = 4.", "So x + 1 = 4.", "# Answer\n\n4"]
PRE = [1, 1, -1, 1]


def _prelabel(solution, values, source="judge"):
    ids = list(Step.objects.filter(solution=solution).order_by("index").values_list("pk", flat=True))
    prelabels_store(rows=[(sid, source, v, None) if isinstance(v, int) else (sid, source, None, v)
                          for sid, v in zip(ids, values, strict=True)])


def _campaign(**kw):
    defaults = dict(mode=Campaign.Mode.ALL_STEPS, qc_rate=0, prelabels="imported", prelabel_share=1.0, overlap=2)
    return CampaignFactory(**{**defaults, **kw})


def _task(campaign, values=PRE, priority=0, **kw):
    sol = SolutionFactory(steps=STEPS, **kw)
    _prelabel(sol, values)
    return TaskFactory(campaign=campaign, solution=sol, priority=priority)


def _member(campaign, name):
    u = UserFactory(username=name)
    membership_set(campaign=campaign, user=u)
    return u


def _submit(a, user, ratings):
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                             ratings=[RatingIn(i, r) for i, r in enumerate(ratings)])


def test_an_imported_file_carries_ratings_probabilities_and_objects(tmp_path):
    rec = {"problem": "2x = 4. x + 1?", "ground_truth_answer": "3", "steps": STEPS,
           "step_prelabels": [1, 0.92, {"score": 0.1}, None], "prelabel_source": "math-shepherd-mc8"}
    path = tmp_path / "pre.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    result = solutions_import(campaign=_campaign(), path=path)
    assert result.prelabels_stored == 3 and "3 step pre-labels stored" in result.summary()
    rows = list(StepPrelabel.objects.order_by("step__index").values_list("step__index", "source", "rating", "score"))
    assert rows == [(0, "math-shepherd-mc8", 1, None), (1, "math-shepherd-mc8", None, 0.92),
                    (2, "math-shepherd-mc8", None, 0.1)]


def test_the_same_solution_twice_in_a_file_keeps_the_last_prelabels(tmp_path):
    rec = {"problem": "p", "ground_truth_answer": "4", "steps": STEPS, "step_prelabels": [1, 1, 1, 1]}
    path = tmp_path / "twice.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "step_prelabels": [1, -1, None, 0.2]}) + "\n")
    solutions_import(campaign=_campaign(), path=path)
    # Per step the last value wins; a null writes nothing (the first line's +1 stays on step 3).
    assert list(StepPrelabel.objects.order_by("step__index").values_list("rating", "score")) == [
        (1, None), (-1, None), (1, None), (None, 0.2)]


@pytest.mark.parametrize("value, message", [
    ([1, 1, 1], "one entry per step"),
    ([2, 1, 1, 1], "a rating is -1, 0 or 1"),
    ([True, 1, 1, 1], "not true/false"),
    ([1.5, 1, 1, 1], "a probability is from 0.0 to 1.0"),
    ([{"rating": 1, "why": "x"}, 1, 1, 1], "unknown key"),
    (["yes", 1, 1, 1], "must be a rating"),
])
def test_malformed_prelabels_are_refused_naming_the_line_and_nothing_is_written(tmp_path, value, message):
    ok = {"problem": "p", "ground_truth_answer": "4", "steps": STEPS}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ok) + "\n" + json.dumps({**ok, "problem": "q", "step_prelabels": value}) + "\n")
    with pytest.raises(ImportFailed) as err:
        solutions_import(campaign=_campaign(), path=path)
    assert "line 2" in str(err.value) and message in str(err.value)
    assert not StepPrelabel.objects.exists() and not Step.objects.exists()


def test_suggestions_are_shown_as_hints_and_never_as_ratings():
    campaign = _campaign(prelabel_threshold=0.5)
    _task(campaign, values=[1, 0.7, 0.2, 0])
    user = _member(campaign, "ann")
    a = assignment_next(user=user, campaign=campaign)
    assert a.prelabel_shown is True and a.prelabel_hints == [1, 1, -1, 0] and a.prelabel_source == "judge"
    payload = assignment_payload(assignment=a)
    assert payload["suggestions"] is True
    assert [s["suggested"] for s in payload["steps"]] == [1, 1, -1, 0]
    assert [s["rating"] for s in payload["steps"]] == [None] * 4  # nothing is rated for the annotator
    with pytest.raises(ValidationFailed, match="every step must be rated"):
        _submit(a, user, [1, 1])  # two confirmed, two only suggested: not a finished labeling
    _submit(a, user, [1, -1, -1, 0])
    assert list(StepLabel.objects.filter(assignment=a).order_by("step__index").values_list("rating", "hint")) == [
        (1, 1), (-1, 1), (-1, -1), (0, 0)]


def test_gold_and_screening_items_never_show_suggestions_but_keep_them_for_the_report():
    campaign = _campaign(qc_rate=1.0)
    sol = SolutionFactory(steps=STEPS)
    _prelabel(sol, PRE)
    gold_set(campaign=campaign, solution=sol, ratings=[1, 1, -1, 1])
    a = assignment_next(user=_member(campaign, "ann"), campaign=campaign)
    assert a.is_quality_control and a.prelabel_shown is False and a.prelabel_hints == PRE
    payload = assignment_payload(assignment=a)
    assert payload["suggestions"] is False and {s["suggested"] for s in payload["steps"]} == {None}
    campaign_update(campaign=campaign, changes={"screening_size": 1})
    campaign.refresh_from_db()
    newcomer = UserFactory()
    membership_set(campaign=campaign, user=newcomer)
    s = assignment_next(user=newcomer, campaign=campaign)
    assert s.is_screening and s.prelabel_shown is False
    assert {x["suggested"] for x in assignment_payload(assignment=s)["steps"]} == {None}


def test_the_control_arm_labels_unaided_and_the_arm_is_per_task_and_stable():
    campaign = _campaign(prelabel_share=0.0)
    task = _task(campaign)
    ann, ben = _member(campaign, "ann"), _member(campaign, "ben")
    a, b = assignment_next(user=ann, campaign=campaign), assignment_next(user=ben, campaign=campaign)
    assert a.task_id == b.task_id == task.pk
    assert (a.prelabel_shown, b.prelabel_shown) == (False, False) and a.prelabel_hints == PRE
    assert {s["suggested"] for s in assignment_payload(assignment=a)["steps"]} == {None}
    tasks = [TaskFactory(campaign=campaign) for _ in range(300)]
    shown = [task_in_shown_arm(task=t, share=0.3) for t in tasks]
    assert shown == [task_in_shown_arm(task=t, share=0.3) for t in tasks]  # stable
    assert 50 <= sum(shown) <= 130  # about 30% of 300


def test_campaigns_without_prelabels_or_without_any_for_the_solution_carry_none():
    off = _campaign(prelabels="off")
    _task(off)
    a = assignment_next(user=_member(off, "ann"), campaign=off)
    assert a.prelabel_hints is None and a.prelabel_shown is None
    bare = _campaign()
    TaskFactory(campaign=bare, solution=SolutionFactory(steps=STEPS))
    b = assignment_next(user=_member(bare, "ben"), campaign=bare)
    assert b.prelabel_hints is None and assignment_payload(assignment=b)["suggestions"] is False


def test_model_suggestions_come_from_the_active_prm_through_the_extension_point():
    campaign = _campaign(prelabels="model", prelabel_threshold=0.6)
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS))
    old = PRMModel.objects.create(campaign=campaign, version=1, backbone="tiny", checkpoint_path="/x")
    new = PRMModel.objects.create(campaign=campaign, version=2, backbone="tiny", checkpoint_path="/y", is_active=True)
    SolutionScore.objects.create(solution=task.solution, model=old, step_scores=[0.1, 0.1, 0.1, 0.1], score=0.1)
    SolutionScore.objects.create(solution=task.solution, model=new, step_scores=[0.9, 0.6, 0.59], score=0.3)
    a = assignment_next(user=_member(campaign, "ann"), campaign=campaign)
    # A truncated score leaves the last step without a suggestion; 0.6 meets the threshold.
    assert a.prelabel_hints == [1, 1, -1, None] and a.prelabel_source == "PRM v2"
    other = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS), priority=-1)
    b = assignment_next(user=_member(campaign, "ben"), campaign=campaign)
    assert b.task_id in (task.pk, other.pk)
    if b.task_id == other.pk:
        assert b.prelabel_hints is None  # no model scored it: no suggestions


def test_prelabel_settings_are_checked():
    assert settings_clean({"prelabels": "model", "prelabel_share": "0.5"}) == {"prelabels": "model",
                                                                               "prelabel_share": 0.5}
    with pytest.raises(ValidationFailed, match="prelabels must be one of off, model, imported"):
        settings_clean({"prelabels": "llm"})
    with pytest.raises(ValidationFailed, match="prelabel_threshold must be between 0 and 1"):
        settings_clean({"prelabel_threshold": 2})


def _bias_world():
    """Suggestions [+1, +1, -1, +1] everywhere; gold [+1, -1, -1, +1].

    Shown arm: ann S1 [+1 +1 -1 +1] (4/4 equal the suggestion), ann S2 [+1 -1 -1 +1] (3/4),
    ben S1 [+1 +1 +1 +1] (3/4): 10/12, overridden 2 (one +1, one -1).
    Control: ann C1 [+1 +1 +1 +1] (3/4), ben C1 [+1 -1 +1 +1] (2/4): 5/8. Pull 10/12 - 5/8.
    Pairs: S1 ann/ben agree on 3 of 4 steps; C1 on 3 of 4. Gold: ann [+1 -1 +1 +1] 3/4; the
    suggestions on the gold steps 3/4.
    """
    campaign = _campaign()
    s1, s2 = _task(campaign, priority=10), _task(campaign, priority=1)
    ann, ben = _member(campaign, "ann"), _member(campaign, "ben")
    for user, task, ratings in [(ann, s1, [1, 1, -1, 1]), (ann, s2, [1, -1, -1, 1]), (ben, s1, [1, 1, 1, 1])]:
        a = assignment_next(user=user, campaign=campaign)
        assert a.task_id == task.pk and a.prelabel_shown
        _submit(a, user, ratings)
    campaign_update(campaign=campaign, changes={"prelabel_share": 0.0})
    campaign.refresh_from_db()
    c1 = _task(campaign, priority=5)
    for user, ratings in [(ann, [1, 1, 1, 1]), (ben, [1, -1, 1, 1])]:
        a = assignment_next(user=user, campaign=campaign)
        assert a.task_id == c1.pk and a.prelabel_shown is False
        _submit(a, user, ratings)
    gold_sol = SolutionFactory(steps=STEPS)
    _prelabel(gold_sol, PRE)
    gold_set(campaign=campaign, solution=gold_sol, ratings=[1, -1, -1, 1])
    campaign_update(campaign=campaign, changes={"qc_rate": 1.0})
    campaign.refresh_from_db()
    g = assignment_next(user=ann, campaign=campaign)
    assert g.is_quality_control
    _submit(g, ann, [1, -1, 1, 1])

    return campaign


def test_the_bias_report_matches_a_hand_count():
    campaign = _bias_world()
    r = prelabel_report(campaign=campaign)
    assert r["assignments"] == {"shown": 3, "control": 2}
    agree = r["agreement_with_suggestion"]
    assert (agree["shown"]["hits"], agree["shown"]["n"]) == (10, 12)
    assert (agree["control"]["hits"], agree["control"]["n"]) == (5, 8)
    assert agree["pull"] == pytest.approx(10 / 12 - 5 / 8, abs=1e-4)
    assert (r["override"]["hits"], r["override"]["n"]) == (2, 12)
    by_suggestion = [(x["suggested"], x["overridden"], x["n"]) for x in r["override"]["by_suggestion"]]
    assert by_suggestion == [(1, 1, 9), (-1, 1, 3)]
    pairs = r["inter_annotator"]
    assert (pairs["shown"]["hits"], pairs["shown"]["n"]) == (3, 4) and (pairs["control"]["hits"],
                                                                         pairs["control"]["n"]) == (3, 4)
    assert r["gold"]["annotators"] == {"n": 4, "hits": 3, "rate": 0.75}
    assert r["gold"]["suggestions"] == {"n": 4, "hits": 3, "rate": 0.75}
    by_name = {x["username"]: x for x in r["annotators"]}
    assert (by_name["ann"]["shown"]["hits"], by_name["ann"]["shown"]["n"]) == (7, 8)
    assert by_name["ann"]["pull"] == pytest.approx(7 / 8 - 3 / 4, abs=1e-4)
    assert by_name["ben"]["pull"] == pytest.approx(3 / 4 - 2 / 4, abs=1e-4) and by_name["ben"]["gold"]["n"] == 0


def test_the_manager_reads_the_bias_figures_on_the_annotators_page_and_by_api(client):
    from rest_framework.test import APIClient

    from labeling.models import Membership

    campaign = _bias_world()
    boss = UserFactory(username="boss")
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/annotators/").content.decode()
    assert 'data-role="prelabel-report"' in page
    assert "83% (10/12)" in page and "62% (5/8)" in page and "+20.8 pts" in page and "17% (2/12)" in page
    api = APIClient()
    api.force_authenticate(boss)
    s2 = campaign.tasks.filter(priority=1).get()
    review = client.get(f"/manage/{campaign.slug}/solutions/{s2.solution_id}/").content.decode()
    assert review.count('data-role="suggested"') == 4 and review.count('data-overridden="true"') == 1
    c1 = campaign.tasks.filter(priority=5).get()  # the control arm saw none
    control = client.get(f"/manage/{campaign.slug}/solutions/{c1.solution_id}/").content.decode()
    assert 'data-role="suggested"' not in control
    body = api.get(f"/api/manage/campaigns/{campaign.slug}/prelabels/").json()
    assert body["agreement_with_suggestion"]["shown"] == {"n": 12, "hits": 10, "rate": 0.8333}
    assert [a["username"] for a in body["annotators"]] == ["ann", "ben"]

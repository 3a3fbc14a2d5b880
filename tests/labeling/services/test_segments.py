"""Step split and merge: segmentations are checked, stored as versions with lineage, labeled, exported,
compared only with the same segmentation, shown on the review page and adopted for later labelings."""

import uuid

import pytest

from labeling.errors import Conflict, ValidationFailed
from labeling.models import Assignment, Campaign, Solution, StepLabel, Task
from labeling.selectors import assignment_payload
from labeling.services.adjudication import adjudications_sync
from labeling.services.agreement import agreement_compute
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import membership_set
from labeling.services.exports import export_rows
from labeling.services.segments import describe, solution_version_adopt, spans_clean, whole_steps
from labeling.services.submissions import RatingIn, assignment_save_draft, assignment_submit
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

# GSM8K-style: step 2 glues two claims into one line.
STEPS = ["She has 16 eggs.", "She eats 3 and bakes 4, so 16 - 7 = 8 are left.", "8 * 2 = 16", "The answer is 16"]
CUT = len("She eats 3 and bakes 4,")
SPLIT = [[[0, 0, 16]], [[1, 0, CUT]], [[1, CUT, len(STEPS[1])]], [[2, 0, 10]], [[3, 0, 16]]]
MERGED = [[[0, 0, 16], [1, 0, len(STEPS[1])]], [[2, 0, 10]], [[3, 0, 16]]]


def _world(**kw):
    campaign = CampaignFactory(**{"qc_rate": 0, "mode": Campaign.Mode.ALL_STEPS, "overlap": 2, **kw})
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS, answer_is_correct=False))
    users = []
    for name in ("ann", "ben"):
        u = UserFactory(username=name)
        membership_set(campaign=campaign, user=u)
        users.append(u)
    return campaign, task, users


def _submit(user, campaign, ratings, segments=None):
    a = assignment_next(user=user, campaign=campaign)
    kw = {} if segments is None else {"segments": segments}
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                             ratings=[RatingIn(i, r) for i, r in enumerate(ratings)], **kw)


@pytest.mark.parametrize("segments, message", [
    ([[[0, 0, 16]]], r"stop at \[0, 16\] \(served step, character\): every served step must be covered to its end"),
    # Counted as the pieces are, from 0: the gap is at character 10 of served step 0.
    ([[[0, 0, 10]], [[0, 11, 16]], [[1, 0, 47]], [[2, 0, 10]], [[3, 0, 16]]],
     r"without gaps or overlaps \(expected a piece \[0, 10, end\]\)"),
    ([[[1, 0, 47]], [[0, 0, 16]], [[2, 0, 10]], [[3, 0, 16]]], "in order"),
    ([[[0, 0, 16]], [[1, 0, 47]], [[2, 0, 10]], [[3, 0, 99]]], "in order"),
    ([[[0, 0, 16]], [], [[1, 0, 47]]], "non-empty list of pieces"),
    ([[[0, 0, 16]], [[1, 0, 47]], [[2, 0, 10]], [[3, 0, 15]], [[3, 15, 16]]], None),
    ([[[0, 0, 16]], [[1, 0, 47]], [[2, 0, 10]], [[3, 0, True]]], "whole numbers"),
])
def test_segmentations_must_read_the_served_steps_in_order(segments, message):
    if message is None:
        assert len(spans_clean(segments, STEPS)) == 5
        return
    with pytest.raises(ValidationFailed, match=message):
        spans_clean(segments, STEPS)


def test_a_split_is_labeled_as_a_new_version_and_the_original_is_untouched():
    campaign, task, (ann, ben) = _world()
    a = _submit(ann, campaign, [1, 1, -1, -1, -1], segments=SPLIT)
    version = a.solution
    assert a.edited_from_id == task.solution_id and version.parent_id == task.solution_id
    assert list(version.steps.order_by("index").values_list("text", flat=True)) == [
        "She has 16 eggs.", "She eats 3 and bakes 4,", "so 16 - 7 = 8 are left.", "8 * 2 = 16", "The answer is 16"]
    assert list(task.solution.steps.values_list("text", flat=True)) == STEPS
    assert version.answer_is_correct is False and describe(version.segment_spans) == ["step 2 split in 2"]
    assert StepLabel.objects.filter(assignment=a, step__solution=version).count() == 5
    task.refresh_from_db()
    assert task.solution_id != version.pk and task.completed == 1
    # The same cut by another labeling is the same version; a different one is another.
    b = _submit(ben, campaign, [1, 1, 1, -1, -1], segments=SPLIT)
    assert b.solution_id == version.pk


def test_a_draft_keeps_the_segmentation_and_a_reload_restores_it_then_undoing_it_serves_the_original():
    campaign, task, (ann, _) = _world()
    a = assignment_next(user=ann, campaign=campaign)
    assignment_save_draft(assignment_id=a.pk, user=ann, ratings=[RatingIn(0, 1), RatingIn(1, 1)], segments=MERGED)
    payload = assignment_payload(assignment=Assignment.objects.get(pk=a.pk))
    assert len(payload["steps"]) == 3 and payload["steps"][0]["text"] == "She has 16 eggs.\n" + STEPS[1]
    assert payload["segments"] == MERGED and payload["served_steps"] == STEPS
    assert [s["rating"] for s in payload["steps"]] == [1, 1, None]
    assignment_save_draft(assignment_id=a.pk, user=ann, ratings=[RatingIn(0, 1)], segments=None)
    back = Assignment.objects.get(pk=a.pk)
    assert back.solution_id == task.solution_id and back.edited_from_id is None
    payload = assignment_payload(assignment=back)
    assert len(payload["steps"]) == 4 and payload["segments"] is None
    assert StepLabel.objects.filter(assignment=a).count() == 1  # the merged labels went with the merge


def test_ratings_must_fit_the_new_segmentation():
    campaign, task, (ann, _) = _world()
    a = assignment_next(user=ann, campaign=campaign)
    with pytest.raises(ValidationFailed, match="unrated"):
        assignment_submit(assignment_id=a.pk, user=ann, submission_id=uuid.uuid4(),
                          ratings=[RatingIn(i, 1) for i in range(4)], segments=SPLIT)
    assert Assignment.objects.get(pk=a.pk).status == "leased"


def test_exports_write_steps_as_labeled_and_agreement_meets_only_the_same_segmentation():
    campaign, task, (ann, ben) = _world()
    _submit(ann, campaign, [1, -1, -1, -1, -1], segments=SPLIT)
    _submit(ben, campaign, [1, 1, -1, -1])
    rows = list(export_rows(campaign=campaign, fmt="trl", aggregate="none"))
    # TRL rows stop at the first error: ann's second step is the first half of the glued one.
    assert sorted(len(r["completions"]) for r in rows) == [2, 3]
    assert any("She eats 3 and bakes 4," in r["completions"] for r in rows)
    # Two labelings that disagree, but of different segmentations: no disagreement to adjudicate,
    # and no step or first-error pair to agree or disagree on.
    assert adjudications_sync(campaign=campaign) == 0
    figures = agreement_compute(campaign=campaign)
    assert figures["pairs"] == [] and figures["campaign"]["step_units"] == 0


def test_gold_items_score_every_labeled_step_against_the_gold_it_was_cut_from():
    from labeling.models import GoldScore
    from labeling.services.quality import gold_set

    campaign, task, (ann, ben) = _world(qc_rate=1.0)
    gold = SolutionFactory(steps=STEPS, answer_is_correct=False)
    gold_set(campaign=campaign, solution=gold, ratings=[1, -1, -1, -1])
    a = _submit(ann, campaign, [1, 1, -1, 1, -1], segments=SPLIT)
    assert a.is_quality_control
    score = GoldScore.objects.get(assignment=a)
    # Both halves of the wrong step 2 are held to -1: five steps compared, the first half missed.
    assert score.compared == 5 and score.gold_first_error == 1
    # Merging everything into one step does not take the item out of QC: it is held to -1.
    b = _submit(ben, campaign, [1], segments=[[[0, 0, 16], [1, 0, len(STEPS[1])], [2, 0, 10], [3, 0, 16]]])
    assert GoldScore.objects.get(assignment=b).compared == 1 and GoldScore.objects.get(assignment=b).misses == 1
    assert whole_steps(SPLIT) == [0, None, None, 2, 3]


def test_only_the_served_segmentation_becomes_gold_and_a_grader_verdict_reaches_every_version():
    from labeling.models import Membership
    from labeling.services.adjudication import adjudication_resolve
    from labeling.services.grader_review import grader_review_resolve

    campaign, task, (ann, _) = _world()
    version = _submit(ann, campaign, [1, 1, -1, -1, -1], segments=SPLIT).solution
    boss = UserFactory(username="boss")
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    with pytest.raises(ValidationFailed, match="adopt this version first"):
        adjudication_resolve(campaign=campaign, solution_id=version.pk, user=boss, ratings=[1, 1, -1, None, None],
                             as_gold=True)
    assert Task.objects.filter(campaign=campaign).count() == 1
    solution_version_adopt(campaign=campaign, version_id=version.pk, user=boss)
    # The original is no longer the task's solution; a verdict on it still lands, on both.
    grader_review_resolve(campaign=campaign, solution_id=task.solution_id, user=boss, verdict=True)
    assert set(Solution.objects.filter(pk__in=[version.pk, task.solution_id]).values_list(
        "answer_is_correct", flat=True)) == {True}


def test_a_manager_adopts_a_version_for_later_labelings_with_its_lineage(client):
    from labeling.models import Membership

    campaign, task, (ann, ben) = _world()
    version = _submit(ann, campaign, [1, 1, -1, -1, -1], segments=SPLIT).solution
    boss = UserFactory(username="boss")
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/solutions/{task.solution_id}/").content.decode()
    assert 'data-role="versions"' in page and "step 2 split in 2" in page and "ann" in page
    r = client.post(f"/manage/{campaign.slug}/solutions/{version.pk}/adopt/")
    assert r.status_code == 302
    task.refresh_from_db()
    assert task.solution_id == version.pk
    adopted = Solution.objects.get(pk=version.pk).metadata["adopted"]
    assert adopted[0]["by"] == "boss" and adopted[0]["replaces"] == version.parent_id
    a = assignment_next(user=ben, campaign=campaign)
    assert a.solution_id == version.pk and a.solution.steps.count() == 5
    page = client.get(f"/manage/{campaign.slug}/solutions/{version.pk}/").content.decode()
    assert 'data-role="lineage"' in page and 'data-role="adopted"' in page
    with pytest.raises(Conflict):
        solution_version_adopt(campaign=campaign, version_id=version.pk, user=boss)
    assert Task.objects.filter(campaign=campaign).count() == 1

"""Grader review: what queues a solution, who resolves it, and that exports use the decision."""

import uuid

import pytest

from labeling.errors import Forbidden
from labeling.models import Campaign, GraderReview, Membership, Solution
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import membership_set
from labeling.services.exports import export_rows
from labeling.services.grader_review import grader_review_resolve, grader_reviews_scan
from labeling.services.submissions import RatingIn, assignment_submit
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

STEPS = ["Since $x = 0.05$,", "$x = \\frac{1}{20}$.", "# Answer\n\n.05"]


def _world(verdict, final_answer=".05"):
    campaign = CampaignFactory(qc_rate=0, mode=Campaign.Mode.FIRST_ERROR)
    sol = SolutionFactory(steps=STEPS, final_answer=final_answer, answer_is_correct=verdict)
    Solution.objects.filter(pk=sol.pk).update(grader_is_correct=verdict)
    TaskFactory(campaign=campaign, solution=sol)
    user = UserFactory(username="ann")
    membership_set(campaign=campaign, user=user)
    return campaign, sol, user


def _submit(campaign, user, ratings, flag_last=False):
    a = assignment_next(user=user, campaign=campaign)
    rs = [RatingIn(i, r, flagged=flag_last and i == len(ratings) - 1) for i, r in enumerate(ratings)]
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(), ratings=rs)


@pytest.mark.parametrize("verdict, ratings, flag_last, reason", [
    (False, [1, 1, 1], False, "annotator_disagrees"),  # every step fine, grader says wrong
    (True, [1, 1, 1], True, "answer_flagged"),  # no error found, the answer step flagged
    (None, [1, -1], False, "grader_unsure"),  # the grader could not decide
])
def test_a_submit_queues_the_solution_with_its_reason(verdict, ratings, flag_last, reason):
    campaign, sol, user = _world(verdict)
    a = _submit(campaign, user, ratings, flag_last)
    review = GraderReview.objects.get(campaign=campaign, solution=sol)
    assert (review.reason, review.status, review.assignment_id, review.grader_verdict) == (reason, "open", a.pk,
                                                                                           verdict)


@pytest.mark.parametrize("verdict, ratings", [(True, [1, 1, 1]), (False, [1, -1]), (True, [1, -1])])
def test_agreeing_labels_queue_nothing(verdict, ratings):
    campaign, sol, user = _world(verdict)
    _submit(campaign, user, ratings)
    assert not GraderReview.objects.exists()


def test_a_manager_overrides_the_grader_and_exports_use_it_while_the_grader_verdict_stays():
    campaign, sol, user = _world(False)
    _submit(campaign, user, [1, 1, 1])
    boss = UserFactory(username="boss")
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    with pytest.raises(Forbidden):
        grader_review_resolve(campaign=campaign, solution_id=sol.pk, user=user, verdict=True)
    review = grader_review_resolve(campaign=campaign, solution_id=sol.pk, user=boss, verdict=True,
                                   note=".05 = 1/20: math-verify missed it")
    sol.refresh_from_db()
    assert (sol.answer_is_correct, sol.grader_is_correct) == (True, False)
    assert (review.status, review.verdict, review.resolved_by, review.note) == (
        "resolved", True, boss, ".05 = 1/20: math-verify missed it")
    assert review.resolved_at is not None
    [row] = export_rows(campaign=campaign, fmt="processbench")
    assert row["final_answer_correct"] is True
    # a later disagreeing label does not reopen it
    other = UserFactory()
    membership_set(campaign=campaign, user=other)
    campaign.overlap = 2
    campaign.save()
    from labeling.models import Task

    Task.objects.filter(campaign=campaign).update(is_open=True)
    _submit(campaign, other, [1, 1, 1])
    assert GraderReview.objects.get().status == "resolved"


def test_nothing_extracted_is_queued_as_unsure_although_the_grader_says_wrong():
    campaign, sol, user = _world(False, final_answer="")
    _submit(campaign, user, [1, -1])
    assert GraderReview.objects.get().reason == "grader_unsure"
    other = CampaignFactory(qc_rate=0)
    TaskFactory(campaign=other, solution=sol)
    TaskFactory(campaign=other, solution=SolutionFactory(steps=STEPS, final_answer="3", answer_is_correct=False))
    assert grader_reviews_scan(campaign=other) == 1


def test_an_expert_resolves_and_other_campaigns_reviews_of_the_solution_close_too():
    campaign, sol, user = _world(None)
    _submit(campaign, user, [1, 1, 1])
    second = CampaignFactory(qc_rate=0)
    TaskFactory(campaign=second, solution=sol)
    assert grader_reviews_scan(campaign=second) == 1
    assert grader_reviews_scan(campaign=second) == 0  # once per campaign
    expert = UserFactory()
    membership_set(campaign=campaign, user=expert, can_adjudicate=True)
    grader_review_resolve(campaign=campaign, solution_id=sol.pk, user=expert, verdict=False)
    assert set(GraderReview.objects.values_list("status", flat=True)) == {"resolved"}
    assert Solution.objects.get(pk=sol.pk).answer_is_correct is False


def test_the_page_shows_the_extraction_and_a_click_resolves(client):
    campaign, sol, user = _world(False)
    _submit(campaign, user, [1, 1, 1])
    boss = UserFactory()
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/grader/").content.decode()
    # A plain answer shows once; its source would read the same.
    assert f'data-grader-review="{sol.pk}"' in page and "<code class=\"raw\" title" not in page and ".05" in page
    assert "Rated correct to the end; the grader says wrong" in page and "by ann" in page
    resp = client.post(f"/manage/{campaign.slug}/grader/{sol.pk}/", {"verdict": "correct", "note": "same number"})
    assert resp.status_code == 302
    assert Solution.objects.get(pk=sol.pk).answer_is_correct is True
    done = client.get(f"/manage/{campaign.slug}/grader/?status=resolved").content.decode()
    assert 'data-role="verdict">correct' in done and "same number" in done
    api = client.get(f"/api/manage/campaigns/{campaign.slug}/grader-reviews/?status=resolved").json()
    assert api["results"][0]["extracted_answer"] == ".05" and api["results"][0]["verdict"] is True
    bad = client.post(f"/api/manage/campaigns/{campaign.slug}/grader-reviews/{sol.pk}/resolve/", {"verdict": "maybe"},
                      content_type="application/json")
    assert bad.status_code == 400


def test_the_page_shows_latex_answers_source_and_says_when_nothing_was_extracted(client):
    campaign, sol, user = _world(False, final_answer="\\frac{1}{20}")
    _submit(campaign, user, [1, 1, 1])
    empty = SolutionFactory(steps=STEPS, final_answer="", answer_is_correct=False)
    TaskFactory(campaign=campaign, solution=empty)
    assert grader_reviews_scan(campaign=campaign) == 1
    boss = UserFactory()
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/grader/").content.decode()
    assert '<code class="raw" title="what the grader extracted, verbatim">\\frac{1}{20}</code>' in page
    assert "The grader found no final answer in the solution" in page and "(nothing extracted)" in page

"""Verified pre-labels in the browser: hints need a key press per step, and gold items never show them."""

import pytest

from labeling.models import Assignment, Step, StepLabel
from labeling.services.prelabels import prelabels_store
from labeling.services.quality import gold_set
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory
from tests.labeling.browser import press, row, wait_done, wait_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

STEPS = ["Let $x = 2$.", "Then $2x = 4$.", "So $x + 1 = 4$.", "# Answer\n\n4"]
SUGGESTED = [1, 1, -1, 1]


def _prelabeled(solution):
    ids = Step.objects.filter(solution=solution).order_by("index").values_list("pk", flat=True)
    prelabels_store(rows=[(sid, "judge", r, None) for sid, r in zip(ids, SUGGESTED, strict=True)])
    return solution


def test_suggestions_are_hints_each_step_takes_a_key_and_an_override_is_kept(login_page):
    campaign = CampaignFactory(qc_rate=0, prelabels="imported", prelabel_share=1.0)
    TaskFactory(campaign=campaign, solution=_prelabeled(SolutionFactory(steps=STEPS)))
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    assert page.locator("[data-role=suggestions-note]").is_visible()
    assert [row(page, i).get_attribute("data-suggested") for i in range(4)] == ["1", "1", "-1", "1"]
    assert page.get_attribute("#task [data-step-index='2'] [data-suggested=true]", "data-rating") == "-1"
    # Shown, not rated: every step is still unrated and the labeling cannot be submitted.
    assert {row(page, i).get_attribute("data-state") for i in range(4)} == {"unrated"}
    press(page, "Enter")
    assert Assignment.objects.get(pk=first).status == "leased"
    press(page, "a a")  # accept the first two suggestions, one key each
    assert [row(page, i).get_attribute("data-state") for i in range(4)] == ["pos", "pos", "unrated", "unrated"]
    press(page, "3 a")  # step 3: the suggestion says wrong, the annotator disagrees; step 4 accepted
    assert [row(page, i).get_attribute("data-state") for i in range(4)] == ["pos"] * 4
    press(page, "Enter")
    wait_done(page, 1)
    labels = StepLabel.objects.filter(assignment_id=first).order_by("step__index")
    assert list(labels.values_list("rating", "hint", "final")) == [(1, 1, True), (1, 1, True), (1, -1, True),
                                                                   (1, 1, True)]
    assert page.js_errors == []


def test_gold_items_never_show_suggestions(login_page):
    campaign = CampaignFactory(qc_rate=1.0, prelabels="imported", prelabel_share=1.0)
    gold_set(campaign=campaign, solution=_prelabeled(SolutionFactory(steps=STEPS)), ratings=[1, 1, -1, None])
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    assert Assignment.objects.get(pk=first).is_quality_control
    assert page.locator("#task [data-suggested]").count() == 0
    assert page.locator("[data-role=suggestions-note]").count() == 0
    press(page, "a a")  # the accept key does nothing without a suggestion
    assert {row(page, i).get_attribute("data-state") for i in range(4)} == {"unrated"}
    assert page.js_errors == []

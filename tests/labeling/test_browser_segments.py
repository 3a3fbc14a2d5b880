"""Step split and merge in the browser: split a glued GSM8K step at the caret, rate both halves,
merge two steps, survive a reload; the review page shows the edit."""

import pytest

from labeling.models import Assignment, Membership, StepLabel
from labeling.services.campaigns import membership_set
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory
from tests.labeling.browser import press, row, rows, wait_done, wait_saved, wait_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# The cupcake is outside the BMP: one code point (the server's offsets), two UTF-16 units (the page's).
GLUED = "She eats 3 and bakes 4 muffins 🧁. So 16 - 7 = 9 eggs are left."
STEPS = ["Janet's ducks lay 16 eggs a day.", GLUED, "She sells them for 9 * 2 = $18.", "The answer is 18"]


def _split_at(page, text: str):
    press(page, "x")
    page.wait_for_selector("[data-role=split-input]")
    offset = len(GLUED[:GLUED.index(text)].encode("utf-16-le")) // 2  # a caret counts UTF-16 units
    page.eval_on_selector("[data-role=split-input]", f"t => t.setSelectionRange({offset}, {offset})")
    page.keyboard.press("Enter")


def test_an_annotator_splits_a_glued_step_rates_both_halves_and_the_review_shows_it(login_page):
    campaign = CampaignFactory(qc_rate=0, mode="all_steps")
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS, answer_is_correct=True))
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    press(page, "3")  # step 1 fine; the cursor is on the glued step
    _split_at(page, "So 16")
    assert rows(page).count() == 5
    texts = page.eval_on_selector_all("#task [data-step-index] .step-text", "els => els.map(e => e.textContent.trim())")
    assert texts[1] == "She eats 3 and bakes 4 muffins 🧁." and texts[2] == "So 16 - 7 = 9 eggs are left."
    assert row(page, 0).get_attribute("data-state") == "pos"  # the step before keeps its rating
    press(page, "3 1")  # the first claim is right, the second wrong (16 - 7 is 9: fine; say it is not)
    wait_saved(page)
    page.reload()
    assert wait_task(page) == first
    assert rows(page).count() == 5 and [row(page, i).get_attribute("data-state") for i in range(3)] == [
        "pos", "pos", "neg"]
    press(page, "k 3 3 3")  # change of mind: the second half is fine too; then rate the rest
    press(page, "Enter")
    wait_done(page, 1)
    a = Assignment.objects.get(pk=first)
    assert a.status == "submitted" and a.edited_from_id == task.solution_id and a.solution_id != task.solution_id
    labels = list(StepLabel.objects.filter(assignment=a).order_by("step__index").values_list("step__text", "rating"))
    assert labels[1] == ("She eats 3 and bakes 4 muffins 🧁.", 1) and labels[2] == ("So 16 - 7 = 9 eggs are left.", 1)
    assert len(labels) == 5
    assert page.js_errors == []

    boss = UserFactory(username="boss")
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    review = login_page(boss, f"/manage/{campaign.slug}/solutions/{task.solution_id}/")
    assert "step 2 split in 2" in review.inner_text("[data-role=versions]")


def test_merging_two_steps_and_splitting_them_back_labels_the_served_steps(login_page):
    campaign = CampaignFactory(qc_rate=0, mode="all_steps")
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS))
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    press(page, "3 3 k m")  # rate two, go back to step 2, merge it with step 3
    assert rows(page).count() == 3
    texts = page.eval_on_selector_all("#task [data-step-index] .step-text", "els => els.map(e => e.textContent.trim())")
    assert "So 16" in texts[1] and "18" in texts[1] and "18" not in texts[0]
    assert row(page, 1).get_attribute("data-state") == "unrated"  # a new step is rated anew
    press(page, "x")
    page.wait_for_selector("[data-role=split-input]")
    cut = len(GLUED.encode("utf-16-le")) // 2  # the boundary between the two served steps
    page.eval_on_selector("[data-role=split-input]", f"t => t.setSelectionRange({cut}, {cut})")
    page.keyboard.press("Enter")
    assert rows(page).count() == 4
    press(page, "3 3 3")
    press(page, "Enter")
    wait_done(page, 1)
    a = Assignment.objects.get(pk=first)
    assert a.solution_id == task.solution_id and a.edited_from_id is None  # back to the served steps
    assert page.js_errors == []

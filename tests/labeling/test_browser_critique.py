"""Critiques and error types in the browser: keyboard only, required ones, reloads, and the review page."""

import pytest

from labeling.models import Assignment, Campaign, Membership, StepLabel
from labeling.services.campaigns import membership_set
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory
from tests.labeling.browser import press, row, wait_done, wait_saved, wait_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

STEPS = ["Let $x = 2$.", "Then $2x = 5$.", "So $x + 1 = 3$.", "# Answer\n\n3"]
PANEL = "[data-role=critique]"


def _campaign(**kw):
    campaign = CampaignFactory(qc_rate=0, **kw)
    for _ in range(2):
        TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS, answer_is_correct=False))
    return campaign


def _picked(page) -> list[str]:
    return page.eval_on_selector_all(f"{PANEL} [data-error-type][aria-pressed=true]",
                                     "els => els.map(e => e.dataset.errorType)")


def test_keyboard_only_critique_and_two_error_types_are_submitted(login_page):
    campaign = _campaign()
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    assert page.locator(PANEL).is_hidden()
    press(page, "3 1")  # step 2 is wrong
    assert page.locator(PANEL).is_visible()
    # the panel sits right under the negative row
    assert page.eval_on_selector(PANEL, "p => p.previousElementSibling.dataset.stepIndex") == "1"
    press(page, "t 1 2 Escape")
    assert _picked(page) == ["calculation", "reasoning"]
    press(page, "t 2 Enter")  # toggled off again; Enter closes the picker and does not submit
    assert _picked(page) == ["calculation"]
    press(page, "t 2 t")
    assert page.get_attribute("[data-role=error-types]", "data-picking") is None
    press(page, "e")
    page.keyboard.type("Since $x = 2$, $2x = 4$, not $5$.")
    page.wait_for_selector("[data-role=critique-preview] .katex")
    press(page, "Escape")
    assert page.locator("#task [data-step-index='1'][data-critiqued]").count() == 1
    wait_saved(page)
    press(page, "Enter")
    wait_done(page, 1)
    lab = StepLabel.objects.get(assignment_id=first, step__index=1)
    assert lab.final and lab.rating == -1
    assert lab.critique == "Since $x = 2$, $2x = 4$, not $5$." and lab.error_types == ["calculation", "reasoning"]
    assert page.js_errors == []


def test_required_critique_and_type_block_the_submit_until_given_and_survive_a_reload(login_page):
    campaign = _campaign(critique="required", error_types="required")
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    press(page, "1 Enter")  # step 1 is wrong, then an attempt to submit
    assert "Write what is wrong with step 1" in page.inner_text("#banner")
    assert page.is_disabled("[data-action=submit]")
    press(page, "e")
    page.keyboard.type("No.")
    press(page, "Escape")
    page.wait_for_selector("[data-role=finish-hint]:has-text('Pick an error type for step 1')")
    press(page, "t 8")
    wait_saved(page)
    page.reload()
    assert wait_task(page) == first
    assert page.input_value("[data-role=critique-input]") == "No." and _picked(page) == ["other"]
    assert "Submits as: found an error" in page.inner_text("[data-role=finish-hint]")
    press(page, "Enter")
    wait_done(page, 1)
    lab = StepLabel.objects.get(assignment_id=first, step__index=0)
    assert (lab.critique, lab.error_types) == ("No.", ["other"])


def test_all_steps_mode_keeps_one_critique_per_negative_step_and_undoing_keeps_the_text(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    m = MembershipFactory(campaign=campaign)
    page = login_page(m.user, f"/label/{campaign.slug}/")
    wait_task(page)
    press(page, "3 1")  # step 2 negative; the cursor goes on to step 3
    press(page, "e")
    page.keyboard.type("first")
    press(page, "Escape 1")  # step 3 negative too: the panel follows it
    assert page.eval_on_selector(PANEL, "p => p.previousElementSibling.dataset.stepIndex") == "2"
    assert page.input_value("[data-role=critique-input]") == ""
    press(page, "e")
    page.keyboard.type("second")
    press(page, "Escape")
    row(page, 1).click()  # back on step 2: its own critique
    assert page.input_value("[data-role=critique-input]") == "first"
    press(page, "u")  # undo the last rating (step 3): step 2's text stays
    assert page.input_value("[data-role=critique-input]") == "first"
    press(page, "3 3 Enter")  # steps 3 and 4 positive
    wait_done(page, 1)
    negatives = StepLabel.objects.filter(assignment__annotator=m.user, rating=-1)
    labs = dict(negatives.values_list("step__index", "critique"))
    assert labs == {1: "first"}  # step 3 went positive: its critique is not sent


def test_campaigns_that_ask_for_neither_show_no_panel_and_the_review_page_shows_both(login_page):
    off = _campaign(critique="off", error_types="off")
    m = MembershipFactory(campaign=off)
    page = login_page(m.user, f"/label/{off.slug}/")
    wait_task(page)
    press(page, "1")
    assert page.locator(PANEL).is_hidden()
    press(page, "t e")  # nothing to open
    assert page.locator("[data-role=critique-input]").count() == 0

    campaign = _campaign()
    annotator = MembershipFactory(campaign=campaign)
    lab_page = login_page(annotator.user, f"/label/{campaign.slug}/")
    wait_task(lab_page)
    press(lab_page, "3 1 t 6 Escape e")
    lab_page.keyboard.type("$\\sqrt{-1}$ is not real <img src=x onerror=window.__xss=1>")
    press(lab_page, "Escape Enter")
    wait_done(lab_page, 1)
    boss = UserFactory()
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    solution = Assignment.objects.get(annotator=annotator.user, status="submitted").solution_id
    review = login_page(boss, f"/manage/{campaign.slug}/solutions/{solution}/")
    note = review.locator("[data-role=critique]")
    note.wait_for()
    assert "Hallucinated fact" in note.inner_text()
    note.locator(".katex").first.wait_for()
    assert review.locator("#review-table img").count() == 0
    assert review.evaluate("window.__xss") is None

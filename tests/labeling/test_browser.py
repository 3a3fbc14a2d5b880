"""The labeling page in a real browser (Playwright + Debian Chromium) against a live server."""

import pytest

from labeling.models import Assignment, Campaign, StepAlternative
from tests.factories import CampaignFactory, MembershipFactory, ProblemFactory, SolutionFactory, TaskFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

STEPS = ["We know $x = 2$.", "So $2x = 4$.", "Then $x^2 = 5$.", "# Answer\n\n5"]


def _campaign(mode=Campaign.Mode.FIRST_ERROR, tasks=2, steps=STEPS, **kw):
    campaign = CampaignFactory(mode=mode, qc_rate=0, **kw)
    for i in range(tasks):
        TaskFactory(campaign=campaign, solution=SolutionFactory(
            steps=steps, problem=ProblemFactory(text=f"Problem number {i}: find $x^2$.")))
    return campaign


def _annotator(campaign):
    return MembershipFactory(campaign=campaign).user


def _ratings(a):
    return list(a.step_labels.order_by("step__index").values_list("rating", flat=True))


def _wait_saved(page):
    page.wait_for_function("document.getElementById('save-state').textContent === 'saved'")


def test_first_error_solution_labeled_by_keyboard_only(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    page.wait_for_selector("#steps li")
    first_problem = page.inner_text("#problem")
    # one step visible at a time; each key rates and reveals the next
    assert page.locator("#steps li").count() == 1
    page.keyboard.press("3")
    page.keyboard.press("2")
    assert page.locator("#steps li").count() == 3
    page.keyboard.press("1")  # first error: rating stops here
    assert page.locator("#steps li").count() == 3
    assert "not rated" in page.inner_text("#more-steps") or "first error" in page.inner_text("#more-steps")
    page.keyboard.press("j")  # nothing to move to: no step after the first negative is shown
    assert page.locator("#steps li.current").get_attribute("data-index") == "2"
    page.keyboard.press("c")
    page.keyboard.type("Then $x^2 = 4$.")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('done-count').textContent === '1'")
    page.wait_for_function(f"!document.getElementById('problem').innerText.includes({first_problem!r})")
    a = Assignment.objects.get(annotator=user, status="submitted")
    assert _ratings(a) == [1, 0, -1]
    assert a.finish_reason == "found_error"
    assert StepAlternative.objects.get(assignment=a).text == "Then $x^2 = 4$."
    assert page.js_errors == []


def test_all_steps_solution_labeled_by_keyboard_only(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    page.wait_for_selector("#steps li")
    assert page.locator("#steps li").count() == 4  # every step visible
    for key in ["3", "1", "f", "2", "3"]:  # f flags step 3 before rating it
        page.keyboard.press(key)
    page.keyboard.press("u")  # undo the last change: step 4 is unrated again
    page.keyboard.press("k")
    page.keyboard.press("j")  # back on step 4
    page.keyboard.press("Enter")  # refused: step 4 unrated
    assert "Rate step 4" in page.inner_text("#banner")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('done-count').textContent === '1'")
    a = Assignment.objects.get(annotator=user, status="submitted")
    assert _ratings(a) == [1, -1, 0, 1]
    assert list(a.step_labels.order_by("step__index").values_list("flagged", flat=True)) == [
        False, False, True, False]
    assert a.finish_reason == "found_error"


def test_reload_mid_task_resumes_with_ratings_intact(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    page.wait_for_selector("#steps li")
    page.keyboard.press("3")
    page.keyboard.press("1")
    _wait_saved(page)
    problem = page.inner_text("#problem")
    page.reload()
    page.wait_for_selector("#steps li")
    assert page.inner_text("#problem") == problem
    pressed = page.locator("button.rate[aria-pressed=true]")
    assert pressed.count() == 2
    assert "Positive" in pressed.nth(0).inner_text() and "Negative" in pressed.nth(1).inner_text()
    page.keyboard.press("2")  # the cursor resumed on step 3
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('done-count').textContent === '1'")
    assert _ratings(Assignment.objects.get(annotator=user, status="submitted")) == [1, -1, 0, 1]


def test_two_annotators_get_different_tasks(login_page):
    campaign = _campaign(tasks=3)
    alice, bob = _annotator(campaign), _annotator(campaign)
    p1 = login_page(alice, f"/label/{campaign.slug}/")
    p2 = login_page(bob, f"/label/{campaign.slug}/")
    p1.wait_for_selector("#steps li")
    p2.wait_for_selector("#steps li")
    assert p1.inner_text("#problem") != p2.inner_text("#problem")
    leased = Assignment.objects.filter(status="leased")
    # each holds the task on screen plus one fetched ahead, never the same solution
    assert leased.values("task_id").distinct().count() == leased.count()


def test_untrusted_text_never_executes(login_page):
    payloads = [
        "<script>window.__xss = 1</script>Step with script.",
        'Image <img src="x" onerror="window.__xss = 2"> here.',
        "[click me](javascript:window.__xss=3)",
        "Math link $\\href{javascript:window.__xss=4}{click}$ and \\(\\url{javascript:alert(1)}\\)",
        '<a href="javascript:window.__xss=5">raw link</a> <svg onload="window.__xss=6"></svg>',
    ]
    campaign = CampaignFactory(mode=Campaign.Mode.ALL_STEPS, qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(
        steps=payloads, problem=ProblemFactory(text="<img src=x onerror='window.__xss=7'> Solve it.")))
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    page.wait_for_selector("#steps li")
    page.wait_for_timeout(300)
    for link in page.locator("#task a").all():
        link.click(modifiers=["Shift"], no_wait_after=True, timeout=2000)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#task script, #task img, #task svg[onload], #task [onerror]").count() == 0
    assert page.locator("#task a[href^='javascript']").count() == 0
    assert "Step with script." in page.inner_text("#steps")


def test_latex_renders_and_bad_latex_shows_its_source(login_page):
    steps = [
        "Inline $\\frac{1}{2} + \\sqrt{x}$ and display \\[x^2 + y^2 = z^2\\]",
        "\\begin{align*} a &= b \\\\ c &= d \\end{align*}",
        "So the answer is $\\boxed{\\frac{3}{4}}$.",
        "Broken $\\frac{1}{$ math, and [asy]draw((0,0)--(1,1));[/asy]",
        "She pays $18 and then $20 more.",
    ]
    campaign = CampaignFactory(mode=Campaign.Mode.ALL_STEPS, qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=steps))
    page = login_page(_annotator(campaign), f"/label/{campaign.slug}/")
    page.wait_for_selector("#steps li")
    rows = page.locator("#steps li")
    assert rows.nth(0).locator(".katex").count() >= 2
    assert rows.nth(0).locator(".katex-display").count() == 1
    assert rows.nth(1).locator(".katex-display").count() == 1
    assert rows.nth(2).locator(".katex .mfrac").count() >= 1
    broken = rows.nth(3)
    assert "\\frac{1}{" in broken.inner_text()  # shown as source, page intact
    assert broken.locator("pre.asy").count() == 1
    assert "$18 and then $20 more" in rows.nth(4).inner_text()  # currency is not math
    assert rows.nth(4).locator(".katex").count() == 0
    assert page.js_errors == []


def test_next_task_is_shown_from_the_prefetch(login_page):
    campaign = _campaign(tasks=3, steps=["Only step."])
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    page.wait_for_selector("#steps li")
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    ahead = page.evaluate("window.PRMLabeler.state.ahead.id")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_function(f"window.PRMLabeler.state.task.id === {ahead}")
    assert page.inner_text("#done-count") == "1"
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")  # the follow-up prefetch landed

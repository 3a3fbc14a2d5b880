"""The labeling page in a real browser (Playwright + Debian Chromium) against a live server:
keyboard labeling in both reveal modes, state that survives a reload, rendering and XSS."""

import pytest

from labeling.models import Assignment, Campaign, StepAlternative
from tests.factories import CampaignFactory, MembershipFactory, ProblemFactory, SolutionFactory, TaskFactory
from tests.labeling.browser import (
    current_index,
    flagged,
    press,
    pressed,
    row,
    rows,
    visible_rows,
    wait_done,
    wait_saved,
    wait_task,
)

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


def test_progressive_first_error_labeled_by_keyboard_only(login_page):
    campaign = _campaign(reveal=Campaign.Reveal.PROGRESSIVE)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    # one step visible at a time; each key rates and reveals the next
    assert visible_rows(page).count() == 1
    press(page, "3 2")
    assert visible_rows(page).count() == 3
    page.keyboard.press("1")  # first error: rating stops here
    assert visible_rows(page).count() == 3
    assert "first error" in page.inner_text("[data-role=more-steps]")
    page.keyboard.press("j")  # nothing to move to: no step after the first negative is shown
    assert current_index(page) == 2
    page.keyboard.press("c")
    page.keyboard.type("Then $x^2 = 4$.")
    page.wait_for_selector("[data-role=correction-preview] .katex")  # live preview, rendered
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")  # 5 keys for an error at step 3 (k + 1), plus the correction
    wait_done(page, 1)
    wait_task(page, first)
    a = Assignment.objects.get(annotator=user, status="submitted")
    assert _ratings(a) == [1, 0, -1]
    assert a.finish_reason == "found_error"
    assert StepAlternative.objects.get(assignment=a).text == "Then $x^2 = 4$."
    assert page.js_errors == []


def test_reveal_all_shows_every_step_and_locks_those_after_the_first_error(login_page):
    campaign = _campaign(steps=STEPS + ["An extra step."])
    assert campaign.reveal == "all"  # the default
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    assert visible_rows(page).count() == 5  # the annotator can read ahead
    assert "Rate step 1" in page.inner_text("[data-role=finish-hint]")
    press(page, "3 3 1")
    for i in (3, 4):
        assert row(page, i).get_attribute("data-locked") == "true"
        assert row(page, i).locator("[data-rating]").first.is_disabled()
    row(page, 4).locator("[data-rating='1']").click(force=True)  # a dimmed row takes no rating
    assert pressed(page) == {0: 1, 1: 1, 2: -1}
    press(page, "j j")  # the cursor stays on the first error
    assert current_index(page) == 2
    page.keyboard.press("u")  # undo the negative: later rows open again
    assert row(page, 3).get_attribute("data-locked") is None
    press(page, "1 Enter")
    wait_task(page, first)
    a = Assignment.objects.get(annotator=user, status="submitted")
    assert (_ratings(a), a.finish_reason) == ([1, 1, -1], "found_error")


def test_reveal_all_correct_solution_takes_n_plus_one_keys_and_rows_are_clickable(login_page):
    campaign = _campaign(tasks=2)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    press(page, "3 3 3 3 Enter")  # n + 1 keys for a correct n-step solution
    second = wait_task(page, first)
    a = Assignment.objects.get(pk=first)
    assert (_ratings(a), a.finish_reason) == ([1, 1, 1, 1], "solution")
    # the same by mouse: the icon buttons at the left of each row
    for i in range(4):
        row(page, i).locator("[data-rating='1']").click()
    page.click("[data-action=submit]")
    wait_done(page, 2)
    assert _ratings(Assignment.objects.get(pk=second)) == [1, 1, 1, 1]


def test_all_steps_solution_labeled_by_keyboard_only(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    wait_task(page)
    assert visible_rows(page).count() == 4  # every step visible
    press(page, "3 1 f 2 3")  # f flags step 3 before rating it
    page.keyboard.press("u")  # undo the last change: step 4 is unrated again
    press(page, "k j")  # back on step 4
    page.keyboard.press("Enter")  # refused: step 4 unrated
    assert "Rate step 4" in page.inner_text("#banner")
    page.keyboard.press("3")
    assert page.locator("#banner").is_hidden()  # the hint goes once it no longer holds
    page.keyboard.press("Enter")
    wait_done(page, 1)
    a = Assignment.objects.get(annotator=user, status="submitted")
    assert _ratings(a) == [1, -1, 0, 1]
    assert list(a.step_labels.order_by("step__index").values_list("flagged", flat=True)) == [
        False, False, True, False]
    assert a.finish_reason == "found_error"


def test_reload_mid_task_resumes_with_ratings_intact(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    shown = wait_task(page)
    press(page, "3 1")
    wait_saved(page)
    problem = page.inner_text("[data-role=problem]")
    page.reload()
    assert wait_task(page) == shown
    assert page.inner_text("[data-role=problem]") == problem
    assert pressed(page) == {0: 1, 1: -1}
    press(page, "2 3 Enter")  # the cursor resumed on step 3
    wait_done(page, 1)
    assert _ratings(Assignment.objects.get(annotator=user, status="submitted")) == [1, -1, 0, 1]


def test_flags_undo_history_and_cursor_survive_a_reload_from_the_server_draft(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS, steps=STEPS + ["Five.", "Six."])
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    wait_task(page)
    press(page, "3 2 f j j k")  # rate steps 1-2, flag step 3 unrated, cursor down to step 5 and back to 4
    assert current_index(page) == 3 and flagged(page) == [2]
    page.wait_for_timeout(900)  # the cursor rides along with a later save
    wait_saved(page)
    page.evaluate("localStorage.clear()")  # only the server draft is left
    page.reload()
    wait_task(page)
    assert flagged(page) == [2] and pressed(page) == {0: 1, 1: 0}
    assert current_index(page) == 3
    press(page, "u")  # undo the flag: the stack came back from the server
    assert flagged(page) == [] and current_index(page) == 2
    press(page, "u")  # then the neutral on step 2
    assert pressed(page) == {0: 1}
    assert page.js_errors == []


def test_density_is_chosen_and_remembered(login_page):
    campaign = _campaign(tasks=1)
    page = login_page(_annotator(campaign), f"/label/{campaign.slug}/")
    wait_task(page)
    assert page.get_attribute("#app", "data-density") == "compact"
    compact = rows(page).first.bounding_box()["height"]
    page.keyboard.press("d")
    assert page.get_attribute("#app", "data-density") == "comfortable"
    assert rows(page).first.bounding_box()["height"] > compact * 1.2
    page.reload()
    wait_task(page)
    assert page.get_attribute("#app", "data-density") == "comfortable"
    page.click("[data-action=density]")
    assert page.get_attribute("#app", "data-density") == "compact"


def test_two_annotators_get_different_tasks(login_page):
    campaign = _campaign(tasks=3)
    alice, bob = _annotator(campaign), _annotator(campaign)
    p1 = login_page(alice, f"/label/{campaign.slug}/")
    p2 = login_page(bob, f"/label/{campaign.slug}/")
    wait_task(p1)
    wait_task(p2)
    assert p1.inner_text("[data-role=problem]") != p2.inner_text("[data-role=problem]")
    leased = Assignment.objects.filter(status="leased")
    # each holds the task on screen plus at most one fetched ahead, never the same solution
    assert leased.values("task_id").distinct().count() == leased.count()


def test_untrusted_text_never_executes(login_page):
    payloads = [
        "<script>window.__xss = 1</script>Step with script.",
        'Image <img src="x" onerror="window.__xss = 2"> here.',
        "[click me](javascript:window.__xss=3)",
        "Math link $\\href{javascript:window.__xss=4}{click}$ and \\(\\url{javascript:alert(1)}\\)",
        '<a href="javascript:window.__xss=5">raw link</a> <svg onload="window.__xss=6"></svg>',
        "# Answer\n\n<img src=x onerror='window.__xss=8'>",
    ]
    campaign = CampaignFactory(mode=Campaign.Mode.ALL_STEPS, qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(
        steps=payloads, problem=ProblemFactory(text="<img src=x onerror='window.__xss=7'> Solve it.",
                                               ground_truth_answer="<img src=x onerror='window.__xss=9'>")))
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    wait_task(page)
    page.keyboard.press("1")
    page.keyboard.press("c")
    page.keyboard.type("<img src=x onerror='window.__xss=10'> fixed")
    page.wait_for_selector("[data-role=correction-preview]:not([hidden])")
    page.wait_for_timeout(300)
    for link in page.locator("#task a").all():
        link.click(modifiers=["Shift"], no_wait_after=True, timeout=2000)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#task script, #task img, #task svg[onload], #task [onerror]").count() == 0
    assert page.locator("#task a[href^='javascript']").count() == 0
    assert "Step with script." in page.inner_text("[data-role=steps]")
    assert "fixed" in page.inner_text("[data-role=correction-preview]")


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
    wait_task(page)
    assert row(page, 0).locator(".katex").count() >= 2
    assert row(page, 0).locator(".katex-display").count() == 1
    assert row(page, 1).locator(".katex-display").count() == 1
    assert row(page, 2).locator(".katex .mfrac").count() >= 1
    broken = row(page, 3)
    assert "\\frac{1}{" in broken.inner_text()  # shown as source, page intact
    assert broken.locator("[aria-label='Asymptote diagram (source)'] pre").count() == 1
    assert "Asymptote diagram (source)" in broken.inner_text()
    assert "$18 and then $20 more" in row(page, 4).inner_text()  # currency is not math
    assert row(page, 4).locator(".katex").count() == 0
    assert page.js_errors == []


def test_next_task_is_shown_from_the_prefetch(login_page):
    campaign = _campaign(tasks=3, steps=["Only step."])
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    ahead = page.evaluate("window.PRMLabeler.state.ahead.id")
    press(page, "3 Enter")
    assert wait_task(page, first) == ahead
    assert page.inner_text("#done-count") == "1"
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")  # the follow-up prefetch landed
    page.wait_for_function(f"window.PRMLabeler.state.ahead.id !== {ahead}")
    a = Assignment.objects.get(pk=ahead)
    assert a.shown_at is not None and a.status == "leased"  # shown: the full lease

"""The labeling page on real MATH data: the 12 real PRM800K solutions, heavy LaTeX, long solutions."""

import json
from pathlib import Path

import pytest

from labeling.models import Assignment, Campaign, Solution
from labeling.services.imports import solutions_import
from tests.factories import CampaignFactory, MembershipFactory, ProblemFactory, SolutionFactory, TaskFactory
from tests.labeling.browser import press, row, rows, visible_rows, wait_done, wait_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

MATH = Path(__file__).resolve().parents[2] / "labeling" / "demo_data" / "prm800k_math_solutions.jsonl"
VIEWPORT = {"width": 1280, "height": 900}


def _records():
    return [json.loads(line) for line in MATH.read_text().splitlines()]


def _math_campaign(**kw):
    campaign = CampaignFactory(qc_rate=0, **kw)
    solutions_import(campaign=campaign, path=MATH, fmt="solutions")
    return campaign


def test_every_real_prm800k_record_renders_its_answers_as_math_and_labels_by_keyboard(login_page):
    """All 12 records, keyboard only at quick pace: the error at step 2 (3 keys) on each."""
    campaign = _math_campaign()
    user = MembershipFactory(campaign=campaign).user
    page = login_page(user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    by_id = {r["id"]: r for r in _records()}
    seen, previous = [], None
    for _ in range(12):
        current = wait_task(page, previous)
        record = by_id[Assignment.objects.get(pk=current).solution.metadata["id"]]
        answer = page.locator("#task [data-role=answer]")
        assert answer.locator(".katex").count() >= 1, record["ground_truth_answer"]
        assert "\\" not in answer.inner_text().split("\n")[0].replace("Answer:", "")  # no raw TeX
        assert answer.locator(".boxed").count() == 1
        last = row(page, len(record["steps"]) - 1)
        if record["steps"][-1].lstrip().startswith("# Answer"):
            final = last.locator("[data-role=final-answer]")
            assert final.locator(".katex").count() >= 1, record["steps"][-1]
            assert final.inner_text().startswith("Answer:")
            assert last.locator("h1").count() == 0  # not a Markdown heading
        assert page.locator("#task .tex-error").count() == 0
        press(page, "3 1 Enter")
        seen.append(current)
        previous = current
    wait_done(page, 12)
    page.wait_for_selector("#empty:not([hidden])")
    assert len(set(seen)) == 12
    assert Assignment.objects.filter(annotator=user, status="submitted", first_error_index=1).count() == 12
    assert page.js_errors == []


@pytest.mark.parametrize("density", ["compact", "comfortable"])
def test_a_20_step_math_solution_fits_in_one_and_a_half_viewports(login_page, density):
    long = max(_records(), key=lambda r: len(r["steps"]))  # 30 steps, display math included
    problem = ProblemFactory(text=long["problem"], ground_truth_answer=long["ground_truth_answer"])
    campaign = CampaignFactory(qc_rate=0, mode=Campaign.Mode.FIRST_ERROR)
    TaskFactory(campaign=campaign, solution=SolutionFactory(problem=problem, steps=long["steps"][:20]))
    user = MembershipFactory(campaign=campaign).user
    page = login_page(user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    page.evaluate(f"localStorage.setItem('prm-density', '{density}')")
    page.reload()
    wait_task(page)
    assert page.get_attribute("#app", "data-density") == density
    assert visible_rows(page).count() == 20
    height = page.locator("#task [data-role=steps]").bounding_box()["height"]
    assert height <= 1.5 * VIEWPORT["height"], height
    # one row per step: each row's rating buttons sit on the same line as the start of its text
    first = rows(page).first
    buttons = first.locator("[data-rating]").first.bounding_box()
    text = first.locator(".step-text").bounding_box()
    assert buttons["x"] < text["x"] and abs(buttons["y"] - text["y"]) < 12


def test_answers_without_dollars_render_as_math_and_words_as_text(login_page):
    cases = [("\\frac{1}{2}", True), ("3R^2", True), ("\\{1, 6\\}", True), ("40_9", True), ("14", True),
             ("Tuesday", False), ("$\\sqrt{2}$", True)]
    campaign = CampaignFactory(qc_rate=0, mode=Campaign.Mode.ALL_STEPS)
    for answer, _ in cases:
        TaskFactory(campaign=campaign, solution=SolutionFactory(
            problem=ProblemFactory(text=f"What is it ({answer})?", ground_truth_answer=answer),
            steps=["A step.", f"# Answer\n\n{answer}"]))
    user = MembershipFactory(campaign=campaign).user
    page = login_page(user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    results, previous = {}, None
    for _ in cases:
        current = wait_task(page, previous)
        answer = Assignment.objects.get(pk=current).solution.problem.ground_truth_answer
        math_top = page.locator("#task [data-role=answer] .katex").count() > 0
        math_step = page.locator("#task [data-role=final-answer] .katex").count() > 0
        results[answer] = (math_top, math_step, page.inner_text("#task [data-role=answer]"))
        press(page, "3 3 Enter")
        previous = current
    for answer, is_math in cases:
        top, step, text = results[answer]
        assert (top, step) == (is_math, is_math), (answer, text)
    assert "Tuesday" in results["Tuesday"][2]


def test_wide_display_math_shows_a_scroll_cue_and_asy_is_labelled_source(login_page):
    wide = "\\[" + " + ".join(f"a_{{{i}}} x^{{{i}}}" for i in range(60)) + "\\]"
    problem = ProblemFactory(text="[asy]\ndraw((0,0)--(1,1));\nlabel(\"$A$\", (0,0));\n[/asy]\nFind the area.")
    campaign = CampaignFactory(qc_rate=0, mode=Campaign.Mode.ALL_STEPS)
    TaskFactory(campaign=campaign, solution=SolutionFactory(problem=problem, steps=[wide, "Short $x$."]))
    page = login_page(MembershipFactory(campaign=campaign).user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    wait_task(page)
    block = row(page, 0).locator(".math-block")
    assert block.get_attribute("data-overflow") == "true"
    cue = page.evaluate("getComputedStyle(document.querySelector('.math-block[data-overflow]'), '::after').content")
    assert "scroll" in cue
    assert row(page, 1).locator(".math-block").count() == 0
    figure = page.locator("#task [data-role=problem] [role=figure]")
    assert figure.get_attribute("aria-label") == "Asymptote diagram (source)"
    assert "draw((0,0)--(1,1));" in figure.locator("pre").inner_text()
    assert figure.locator(".katex").count() == 0  # the source is code, not rendered math
    block.locator(".math-scroll").evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    page.wait_for_function("document.querySelector('.math-block').dataset.atEnd === 'true'")


def test_review_page_renders_the_answers_through_the_same_path(login_page):
    from labeling.models import Membership

    campaign = _math_campaign()
    manager = MembershipFactory(campaign=campaign, role=Membership.Role.MANAGER).user
    sol = Solution.objects.filter(tasks__campaign=campaign, problem__ground_truth_answer="3R^2").first()
    page = login_page(manager, f"/manage/{campaign.slug}/solutions/{sol.pk}/", viewport=VIEWPORT)
    page.wait_for_selector("[data-md-answer] .katex")
    assert page.locator("[data-role=final-answer] .katex").count() >= 1
    assert page.locator("[data-md-answer]").count() == 2  # the solution's answer and the reference


@pytest.mark.parametrize(("text", "answer"), [
    ("# Answer\n\n2016", "2016"),
    ("So the sum is 504.\n\n# Answer\n\n504", "504"),
    ("#### 72", "72"),
    ("A: 26", "26"),
    ("# Answer:\n\n\\frac{1}{9}", "\\frac{1}{9}"),
    ("#### Step two\n\nWe add.", None),  # a heading, not an answer
    ("# Answer", None),  # nothing after it
    ("The answer is $5$.", None),
])
def test_final_answer_lines_are_found(login_page, text, answer):
    campaign = CampaignFactory(qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=[text]))
    page = login_page(MembershipFactory(campaign=campaign).user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    wait_task(page)
    final = row(page, 0).locator("[data-role=final-answer]")
    if answer is None:
        assert final.count() == 0
    else:
        assert final.locator(".katex").count() == 1
        assert final.locator("annotation").text_content() == answer  # KaTeX keeps the source it set


@pytest.mark.parametrize("text", [
    '[a](http://x.org "$x$ <img src=x onerror=window.__xss=1>")',
    '[a](http://x.org "$x$ <div style=position:fixed;inset:0>fake UI</div>")',
    '<a href="http://x.org" title="$x$ <img src=x onerror=window.__xss=2>">hover</a>',
])
def test_math_in_an_attribute_never_becomes_markup(login_page, text):
    """Markdown can move a math marker into an attribute (a link title): it is dropped there, not expanded."""
    campaign = CampaignFactory(qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["plain step"]))
    page = login_page(MembershipFactory(campaign=campaign).user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    wait_task(page)
    # Even as browsers serialised attributes before 2025 (< and > left raw), nothing may escape the title.
    # Only inside tags: text nodes were always serialised with &lt; (raw HTML in the source is now text).
    page.evaluate("""() => { const orig = DOMPurify.sanitize.bind(DOMPurify);
        DOMPurify.sanitize = (h, o) => orig(h, o).replace(/<[^>]*>/g, (tag) => tag.replace(/="([^"]*)"/g,
          (m, v) => '="' + v.replace(/&lt;/g, '<').replace(/&gt;/g, '>') + '"')); }""")
    out = page.evaluate("""(t) => { const d = document.createElement('div'); document.body.appendChild(d);
        PRMRender.renderInto(d, t);
        return {bad: d.querySelectorAll('img, div, [style]:not(.katex *), [onerror]').length,
                titles: [...d.querySelectorAll('[title]')].map(e => e.getAttribute('title')),
                katex: d.querySelectorAll('.katex').length}; }""", text)
    page.wait_for_timeout(200)
    assert out["bad"] == 0, out
    assert page.evaluate("window.__xss") is None
    assert all("katex" not in t for t in out["titles"]), out
    if text.startswith("<a "):  # raw HTML is text now: the $x$ in it is math in the text, not in a title
        assert out["titles"] == [] and out["katex"] == 1, out


def test_text_cannot_reuse_a_rendered_piece(login_page):
    campaign = CampaignFactory(qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["see &#x2063;M0&#x2063; and $y$"]))
    page = login_page(MembershipFactory(campaign=campaign).user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    wait_task(page)
    assert row(page, 0).locator(".katex").count() == 1  # $y$ once, not twice
    assert "M0" in row(page, 0).inner_text()


def test_text_that_looks_like_a_tag_is_shown_not_swallowed(login_page):
    """Plain-text inequalities are math to the annotator and a tag to Markdown: "x<y and y>0" once lost
    "<y and y>" to the sanitiser and read "x0". Raw HTML now shows as the text it is, and is never markup."""
    steps = ["Since x<y and y>0, we get x+y>0.", "A model wrote <b>bold</b> and <i>this</i>."]
    campaign = CampaignFactory(qc_rate=0)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=steps))
    page = login_page(MembershipFactory(campaign=campaign).user, f"/label/{campaign.slug}/", viewport=VIEWPORT)
    wait_task(page)
    assert "Since x<y and y>0, we get x+y>0." in row(page, 0).inner_text()
    assert "A model wrote <b>bold</b> and <i>this</i>." in row(page, 1).inner_text()
    assert page.locator("[data-role=steps] b, [data-role=steps] i").count() == 0

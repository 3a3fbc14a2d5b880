"""The manager dashboard in a real browser (Playwright + Debian Chromium) against a live server.

Uses the `login_page` fixture of tests/conftest.py (one fresh context per
login, CSP bypassed so Playwright can evaluate expressions) and the
`dash_world` / `label` helpers of this folder's conftest.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from active_learning.models import TrainingRun
from labeling.models import Adjudication
from tests.factories import SolutionFactory, TaskFactory
from tests.labeling.conftest import label

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

XSS_STEP = "Look: <img src=x onerror=alert(1)> and <img src=x onerror=window.__xss=1> here."
MATH_STEP = "So $x^2$ is the square."


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # `make test` runs with DJANGO_ENV=test (MD5); a bare `pytest` would spend ~0.25 s per user on PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _rows(page):
    return page.locator("#annotators tbody tr[data-user]").evaluate_all("rs => rs.map(r => r.dataset.user)")


def _bar_heights(chart):
    """(height attribute, rendered height in px) of each bar of a bar chart."""
    return chart.locator("rect.bar").evaluate_all(
        "rs => rs.map(r => [parseFloat(r.getAttribute('height')) || 0, r.getBoundingClientRect().height])"
    )


def test_manager_sees_kpis_charts_annotators_and_model(login_page, dash_world):
    c, manager = dash_world["campaign"], dash_world["manager"]
    ann, ben, cat = dash_world["annotators"]
    label(ann, c, [1, 1, -1])
    label(ann, c, [1, 1, 1, 1, 1])
    label(cat, c, [1, -1])
    for n, auroc in ((10, 0.62), (20, 0.71)):
        TrainingRun.objects.create(
            campaign=c,
            status=TrainingRun.Status.SUCCEEDED,
            stage=TrainingRun.Stage.DONE,
            label_count=n,
            metrics={
                "step_auroc": auroc,
                "first_error_f1": 0.5,
                "best_of_n": {"prm": 0.6, "random": 0.4, "majority": 0.5},
            },
        )

    page = login_page(manager, f"/manage/{c.slug}/")
    # KPIs: 3 labels today on a 5-task pool; task 1 has its 2 labels, 10 - 3 = 7 labels still needed.
    expect(page.locator("[data-k=labels_today]")).to_have_text("3")
    expect(page.locator("[data-k=labels_week]")).to_have_text("3")
    expect(page.locator("[data-k=done]")).to_have_text("1")
    expect(page.locator("[data-k=pool]")).to_have_text("5")
    expect(page.locator("[data-k=labels_remaining]")).to_have_text("7")
    expect(page.locator("header.topbar").get_by_role("link", name="Manage")).to_be_visible()  # staff manager

    charts = page.locator("svg.chart")
    assert charts.count() >= 4
    visible = [b for b in (charts.nth(i).bounding_box() for i in range(charts.count())) if b]
    assert sum(1 for b in visible if b["width"] > 0 and b["height"] > 0) >= 4, visible
    days = page.locator('svg.chart[aria-label="Labels per day, last 7 days"]')
    expect(days).to_be_visible()
    bars = _bar_heights(days)
    assert len(bars) == 7, bars
    assert any(h > 0 and px > 0 for h, px in bars), f"today's bar of the labels-per-day chart is empty: {bars}"
    assert page.js_errors == []

    # annotators: default order is most tasks first; the column links re-sort server-side.
    page.get_by_role("link", name="Annotators", exact=True).click()
    page.wait_for_url(f"**/manage/{c.slug}/annotators/")
    assert _rows(page) == ["ann", "cat", "ben"]
    page.locator("#annotators thead").get_by_role("link", name="Annotator").click()
    page.wait_for_url("**/annotators/?sort=-name")
    assert _rows(page) == ["cat", "ben", "ann"]
    page.locator("#annotators thead").get_by_role("link", name="Annotator").click()
    page.wait_for_url("**/annotators/?sort=name")
    assert _rows(page) == ["ann", "ben", "cat"]
    page.locator("#annotators thead").get_by_role("link", name="Tasks").click()
    page.wait_for_url("**/annotators/?sort=-tasks")
    assert _rows(page) == ["ann", "cat", "ben"]

    # model: the learning curve is drawn from the two successful runs.
    page.get_by_role("link", name="Model", exact=True).click()
    page.wait_for_url(f"**/manage/{c.slug}/model/")
    curve = page.locator('svg.chart[aria-label^="Learning curve"]')
    expect(curve).to_be_visible()
    box = curve.bounding_box()
    assert box["width"] > 0 and box["height"] > 0
    assert curve.locator("circle").count() >= 2
    assert page.js_errors == []


def test_annotator_gets_403_and_no_manage_link(login_page, live_server, dash_world):
    c = dash_world["campaign"]
    annotator = dash_world["annotators"][0]
    page = login_page(annotator)
    expect(page.locator("header.topbar .who")).to_have_text(annotator.username)
    expect(page.locator("header.topbar").get_by_role("link", name="Manage")).to_have_count(0)
    resp = page.goto(f"{live_server.url}/manage/{c.slug}/")
    assert resp.status == 403
    resp = page.goto(f"{live_server.url}/manage/")
    assert resp.status == 403


def test_manager_adjudicates_a_disagreement(login_page, dash_world):
    c, manager = dash_world["campaign"], dash_world["manager"]
    ann, ben, _ = dash_world["annotators"]
    a1 = label(ann, c, [1, 1, -1])
    a2 = label(ben, c, [1, 1, 1, 1, 1])
    assert a1.solution_id == a2.solution_id
    sid = a1.solution_id
    assert Adjudication.objects.get(campaign=c, solution_id=sid).status == Adjudication.Status.OPEN

    page = login_page(manager, f"/manage/{c.slug}/adjudication/")
    page.locator("#adjudication-queue").get_by_role("link", name=f"solution {sid}").click()
    page.wait_for_url(f"**/manage/{c.slug}/solutions/{sid}/")
    for step, mark in ((1, "+"), (2, "+"), (3, "−")):
        page.get_by_role("group", name=f"Resolved rating of step {step}").get_by_role(
            "radio", name=mark, exact=True
        ).check()
    for step in (4, 5):
        expect(
            page.get_by_role("group", name=f"Resolved rating of step {step}").get_by_role("radio", name="·")
        ).to_be_checked()
    page.get_by_role("button", name="Save resolution").click()
    expect(page.locator(".messages .msg-success")).to_contain_text("resolution saved")

    adj = Adjudication.objects.get(campaign=c, solution_id=sid)
    assert adj.status == Adjudication.Status.RESOLVED
    assert adj.ratings == [1, 1, -1, None, None]
    assert adj.first_error_index == 2 and adj.resolved_by == manager
    # the page now shows the resolution preset
    fieldset = page.get_by_role("group", name="Resolved rating of step 3")
    expect(fieldset.get_by_role("radio", name="−", exact=True)).to_be_checked()
    assert page.js_errors == []


def _review_solution(dash_world):
    sol = SolutionFactory(steps=[XSS_STEP, MATH_STEP, "# Answer\n\n4"])
    TaskFactory(campaign=dash_world["campaign"], solution=sol)
    return sol


def test_review_page_sanitises_step_text_and_renders_math(login_page, live_server, dash_world):
    sol = _review_solution(dash_world)
    page = login_page(dash_world["manager"])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/manage/{dash_world['campaign'].slug}/solutions/{sol.pk}/")
    table = page.locator("#review-table")
    math_cell = table.locator("td.step-text").nth(1)
    expect(math_cell.locator(".katex").first).to_be_attached()  # render.js has run
    assert "$x^2$" not in math_cell.inner_text(), "the math is still shown as TeX source"
    expect(table.locator("td.step-text").first).to_contain_text("Look:")
    assert page.locator("#review-table img, #review-table [onerror]").count() == 0
    assert page.evaluate("window.__xss") is None and dialogs == []
    assert page.js_errors == []


def test_review_page_renders_math_under_the_real_csp(browser, live_server, dash_world):
    """Same page without bypass_csp: what a manager's browser actually runs."""
    sol = _review_solution(dash_world)
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = ctx.new_page()
        violations = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", dash_world["manager"].username)
        page.fill("#id_password", "pw-for-tests-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        resp = page.goto(f"{live_server.url}/manage/{dash_world['campaign'].slug}/solutions/{sol.pk}/")
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert page.locator("#review-table img").count() == 0
        rendered = page.locator("#review-table .katex").count()
        assert rendered > 0, (
            "APP BUG: templates/dashboard/review.html renders step text with an inline <script>, which the "
            f"site's CSP (script-src 'self') blocks, so no Markdown/KaTeX is rendered. CSP console: {violations}"
        )
    finally:
        ctx.close()


def test_the_export_menu_greys_out_aggregations_a_per_labeler_format_refuses(login_page, dash_world):
    c = dash_world["campaign"]
    page = login_page(dash_world["manager"], f"/manage/{c.slug}/data/")
    hint, link = page.locator("[data-export=aggregate-hint]"), page.locator("[data-export=stream]")
    page.select_option("#efmt", "trl")
    page.select_option("#agg", "majority")
    expect(hint).to_be_hidden()
    assert "aggregate=majority" in link.get_attribute("href")
    page.select_option("#efmt", "prm800k")  # majority does not apply: set back, greyed out, and said so
    assert page.input_value("#agg") == ""
    assert page.locator("#agg option[value=majority]").is_disabled()
    assert page.locator("#agg option[value=adjudicated]").is_disabled()
    assert not page.locator("#agg option[value=none]").is_disabled()
    expect(hint).to_have_text("prm800k has one line per labeler and solution: aggregation does not apply.")
    assert "aggregate" not in link.get_attribute("href")
    page.select_option("#agg", "none")
    assert "aggregate=none" in link.get_attribute("href")
    page.select_option("#efmt", "trl")
    assert not page.locator("#agg option[value=majority]").is_disabled() and page.input_value("#agg") == "none"
    expect(hint).to_be_hidden()


def test_the_error_types_table_fits_a_1000_px_screen_with_the_default_taxonomy(login_page, dash_world):
    import uuid

    from labeling.models.campaigns import DEFAULT_ERROR_TAXONOMY
    from labeling.services.assignments import assignment_next
    from labeling.services.submissions import RatingIn, assignment_submit

    c = dash_world["campaign"]
    keys = [k for k, _, _ in DEFAULT_ERROR_TAXONOMY]
    for n, user in enumerate(dash_world["annotators"] * 2):  # every type in use: a column each
        a = assignment_next(user=user, campaign=c)
        assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(), active_ms=9000, ratings=[
            RatingIn(step=0, rating=1), RatingIn(step=1, rating=-1, error_types=(keys[n], keys[(n + 3) % 8]))])
    page = login_page(dash_world["manager"], f"/manage/{c.slug}/annotators/", viewport={"width": 1000, "height": 800})
    table = page.locator("#error-types")
    assert table.locator("thead th").count() == 3 + len(keys) + 1
    expect(table.locator("[data-role=error-types-total] td").nth(2)).to_have_text("6 · 0")
    scroll, client = table.evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert scroll <= client, f"the table scrolls sideways: {scroll} px in {client}"

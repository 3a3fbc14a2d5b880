"""No stuck states and nothing lost: late answers, two tabs, lapsed leases, offline, lease hygiene.

Each test drives the real page in Chromium against a live server, with the
network slowed or cut by request interception (Playwright routes that hold a
request until the test releases it) or by taking the browser offline.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Campaign, StepLabel
from labeling.services.assignments import assignment_next
from labeling.services.leases import assignments_expire_stale
from tests.factories import CampaignFactory, MembershipFactory, ProblemFactory, SolutionFactory, TaskFactory
from tests.labeling.browser import (
    HeldRequests,
    is_plain_next,
    is_prefetch,
    log_shown,
    press,
    pressed,
    row,
    shown_id,
    shown_log,
    wait_done,
    wait_saved,
    wait_task,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

STEPS = ["Let $x = 2$.", "Then $x^2 = 4$.", "# Answer\n\n4"]


def _campaign(tasks=4, **kw):
    campaign = CampaignFactory(qc_rate=0, **{"mode": Campaign.Mode.FIRST_ERROR, **kw})
    for i in range(tasks):
        TaskFactory(campaign=campaign, solution=SolutionFactory(
            steps=STEPS, problem=ProblemFactory(text=f"Problem {i}: square $2$.")))
    return campaign


def _annotator(campaign):
    return MembershipFactory(campaign=campaign).user


def _submitted(user):
    return list(Assignment.objects.filter(annotator=user, status="submitted").order_by("submitted_at")
                .values_list("pk", flat=True))


def _no_error_banner(page):
    hidden = page.locator("#banner").is_hidden()
    assert hidden, page.inner_text("#banner")
    return hidden


@pytest.mark.parametrize("order", ["prefetch answers first", "next answers first"])
def test_a_late_prefetch_never_brings_back_the_task_just_submitted(login_page, order):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user)
    log_shown(page)
    prefetches = HeldRequests(page, "**/api/campaigns/*/next/", is_prefetch)
    plain = HeldRequests(page, "**/api/campaigns/*/next/", lambda r: False)
    page.goto(page.url + f"label/{campaign.slug}/")
    first = wait_task(page)
    prefetches.wait_held()  # the fetch-ahead is on the wire, slow
    plain.match = is_plain_next  # hold the load that follows the submit too
    press(page, "3 3 3 Enter")  # submit at quick pace, before the prefetch answered
    plain.wait_held()
    if order == "prefetch answers first":
        prefetches.release()
        page.wait_for_timeout(150)
        plain.release()
    else:
        plain.release()
        page.wait_for_timeout(150)
        prefetches.release()
    prefetches.stop()
    plain.stop()
    second = wait_task(page, first)
    assert second != first
    press(page, "3 3 3 Enter")
    third = wait_task(page, second)
    assert third not in (first, second)
    press(page, "3 3 3 Enter")
    wait_done(page, 3)
    assert _submitted(user) == [first, second, third]
    assert shown_log(page)[:3] == [first, second, third]  # each shown once: never one already submitted
    assert _no_error_banner(page) and page.locator("#notice").is_hidden()
    assert Assignment.objects.filter(annotator=user, status="leased").count() <= 2


def test_a_draft_save_in_a_stale_tab_moves_on_too(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    tab_a = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(tab_a)
    tab_b = tab_a.context.new_page()
    tab_b.goto(tab_a.url)
    assert wait_task(tab_b) == task  # the same task: the shown lease resumes in a second tab
    press(tab_a, "3 3 3 Enter")
    wait_done(tab_a, 1)
    tab_b.keyboard.press("3")  # a draft save, refused: already submitted
    nxt = wait_task(tab_b, task)
    assert nxt != task
    assert "already submitted" in tab_b.inner_text("#notice")
    assert _no_error_banner(tab_b)
    press(tab_b, "3 3 3 Enter")  # and tab B goes on labeling normally
    tab_b.wait_for_function(f"document.getElementById('app').dataset.shownTask !== '{nxt}'")
    assert _submitted(user) == [task, nxt]
    assert list(StepLabel.objects.filter(assignment_id=task).values_list("rating", flat=True)) == [1, 1, 1]


def _lapse(assignment_id):
    Assignment.objects.filter(pk=assignment_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assignments_expire_stale()


def test_resume_after_a_lapsed_lease_gets_the_same_task_back_with_its_draft(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    ahead = page.evaluate("window.PRMLabeler.state.ahead.id")
    page.keyboard.press("3")
    wait_saved(page)
    _lapse(task)
    _lapse(ahead)
    page.keyboard.press("3")  # the save is refused: the lease lapsed
    page.wait_for_selector("#banner[data-kind=lease]")
    assert "Resume" in page.inner_text("#banner")
    page.click("[data-role=banner-action]")
    page.wait_for_selector("#notice:not([hidden])")
    assert "Resumed" in page.inner_text("#notice")
    assert shown_id(page) == task  # the same task, not the one fetched ahead
    assert pressed(page) == {0: 1, 1: 1}  # both ratings, the one refused included
    wait_saved(page)
    assert list(StepLabel.objects.filter(assignment_id=task).order_by("step__index")
                .values_list("rating", flat=True)) == [1, 1]
    press(page, "3 Enter")
    wait_done(page, 1)
    assert _submitted(user) == [task]


def test_resume_after_the_task_went_to_someone_else_shows_the_ratings_read_only(login_page):
    campaign = _campaign(tasks=3)
    user, other = _annotator(campaign), _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    press(page, "3 2")
    wait_saved(page)
    _lapse(task)
    taken = assignment_next(user=other, campaign=campaign)
    assert taken.task_id == Assignment.objects.get(pk=task).task_id  # the freed task went to the other annotator
    page.keyboard.press("3")
    page.wait_for_selector("#banner[data-kind=lease]")
    page.keyboard.press("Enter")  # Resume from the keyboard
    page.wait_for_selector("#banner[data-kind=taken]")
    assert "went to someone else" in page.inner_text("#banner")
    assert page.get_attribute("#app", "data-readonly") == "true"
    assert pressed(page) == {0: 1, 1: 0, 2: 1}  # the kept ratings, on screen
    assert row(page, 2).locator("[data-rating]").first.is_disabled()
    page.keyboard.press("1")  # read-only: nothing changes
    assert pressed(page) == {0: 1, 1: 0, 2: 1}
    page.click("[data-role=banner-action]")  # Dismiss and go on
    nxt = wait_task(page, task)
    assert nxt != task and page.get_attribute("#app", "data-readonly") is None
    press(page, "3 3 3 Enter")
    wait_done(page, 1)


def test_offline_changes_are_kept_counted_and_sent_when_back(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    page.context.set_offline(True)
    press(page, "3 2")
    page.wait_for_selector("#save-state[data-state=offline]")
    page.wait_for_function("document.getElementById('save-state').textContent.includes('2 changes not saved')")
    assert StepLabel.objects.filter(assignment_id=task).count() == 0
    page.keyboard.press("1")
    page.wait_for_function("document.getElementById('save-state').textContent.includes('3 changes not saved')")
    page.context.set_offline(False)
    wait_saved(page)
    assert list(StepLabel.objects.filter(assignment_id=task).order_by("step__index")
                .values_list("rating", flat=True)) == [1, 0, -1]
    # a submit made offline waits for the connection, then goes through once
    page.context.set_offline(True)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('save-state').textContent.includes('submit is waiting')")
    assert _submitted(user) == []
    page.context.set_offline(False)
    wait_done(page, 1)
    assert wait_task(page, task) != task
    assert _submitted(user) == [task]


def test_offline_edits_survive_a_reload_made_before_the_connection_came_back(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    page.context.set_offline(True)
    press(page, "3 1")
    page.wait_for_selector("#save-state[data-state=offline]")
    page.context.set_offline(False)
    page.route("**/api/assignments/*/draft/", lambda route: route.abort())  # the save never arrives
    page.keyboard.press("f")
    page.unroute("**/api/assignments/*/draft/")
    page.reload()
    assert wait_task(page) == task
    assert pressed(page) == {0: 1, 1: -1}  # the browser copy was newer, and wins
    wait_saved(page)
    assert StepLabel.objects.filter(assignment_id=task).count() == 2


def test_the_task_fetched_ahead_holds_a_short_lease_and_is_released_when_the_page_closes(login_page, settings):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    ahead = Assignment.objects.get(pk=page.evaluate("window.PRMLabeler.state.ahead.id"))
    shown = Assignment.objects.get(pk=task)
    assert shown.shown_at is not None and ahead.shown_at is None
    assert ahead.lease_expires_at < timezone.now() + timedelta(seconds=settings.PREFETCH_LEASE_SECONDS + 5)
    assert shown.lease_expires_at > timezone.now() + timedelta(minutes=campaign.lease_minutes - 1)
    for _ in range(3):  # reloads: still the one shown and at most one ahead
        page.reload()
        assert wait_task(page) == task
        page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    page.wait_for_timeout(200)
    assert Assignment.objects.filter(annotator=user, status="leased").count() == 2
    ahead_id = page.evaluate("window.PRMLabeler.state.ahead.id")
    page.goto(page.url.split("/label/")[0] + "/")  # leave the page: the beacon gives the ahead task back
    for _ in range(50):
        if Assignment.objects.get(pk=ahead_id).status == "expired":
            break
        page.wait_for_timeout(100)
    assert Assignment.objects.get(pk=ahead_id).status == "expired"
    assert Assignment.objects.get(pk=ahead_id).task.taken == 0
    assert Assignment.objects.get(pk=task).status == "leased"  # the shown one waits for the annotator


# ----------------------------------------------------------------- found in review, each reproduced first


def test_a_late_heartbeat_for_the_task_just_submitted_does_not_close_the_next_one(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user)
    page.clock.install()
    heartbeats = HeldRequests(page, "**/api/assignments/*/heartbeat/", lambda r: True)
    page.goto(page.url + f"label/{campaign.slug}/")
    first = wait_task(page)
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    page.clock.run_for(31_000)  # the 30-second heartbeat fires, and hangs on the wire
    heartbeats.wait_held()
    press(page, "3 3 3 Enter")
    second = wait_task(page, first)
    heartbeats.stop()  # the late heartbeat for `first` now answers 409 already_submitted
    page.wait_for_timeout(500)
    assert shown_id(page) == second  # still on the second task
    assert page.locator("#notice").is_hidden()
    press(page, "3 3 3 Enter")
    wait_done(page, 2)
    assert _submitted(user) == [first, second]


def test_a_submit_refused_by_a_flaky_proxy_is_sent_again_when_a_save_gets_through(login_page):
    campaign = _campaign(mode=Campaign.Mode.ALL_STEPS)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    press(page, "3 3")
    wait_saved(page)
    drafts = HeldRequests(page, "**/api/assignments/*/draft/", lambda r: True)
    page.keyboard.press("3")
    drafts.wait_held()  # a draft save in flight...
    flaky = {"left": 1}

    def proxy(route):
        if flaky["left"]:
            flaky["left"] -= 1
            route.fulfill(status=503, body="upstream unavailable")
        else:
            route.continue_()

    page.route("**/api/assignments/*/submit/", proxy)
    page.keyboard.press("Enter")  # ...the submit meets a 503...
    page.wait_for_selector("#save-state[data-state=offline]")
    drafts.stop()  # ...and the save then gets through: the waiting submit must go too
    wait_done(page, 1)
    assert wait_task(page, task) != task
    assert _submitted(user) == [task]


def test_enter_right_after_resume_waits_for_it(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    press(page, "3 3")
    wait_saved(page)
    _lapse(task)
    page.keyboard.press("3")
    page.wait_for_selector("#banner[data-kind=lease]")
    opens = HeldRequests(page, "**/api/assignments/*/open/", lambda r: True)
    page.keyboard.press("Enter")  # Resume
    opens.wait_held()
    page.keyboard.press("Enter")  # submit: ignored while Resume is in flight
    page.keyboard.press("1")  # and no rating either
    opens.stop()
    page.wait_for_selector("#notice:not([hidden])")
    assert "Resumed" in page.inner_text("#notice")
    assert pressed(page) == {0: 1, 1: 1, 2: 1}
    page.keyboard.press("Enter")
    wait_done(page, 1)
    assert _submitted(user) == [task]
    assert "already submitted" not in page.inner_text("#notice")


def test_enter_on_a_focused_button_is_that_buttons(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(page)
    page.keyboard.press("s")  # skip asks to confirm
    page.focus("#confirm-no")
    page.keyboard.press("Enter")  # Enter on Cancel cancels
    assert page.locator("#confirm").is_hidden()
    page.wait_for_timeout(200)
    assert Assignment.objects.get(pk=task).status == "leased"
    press(page, "3 3 3")
    page.focus("#btn-undo")
    page.keyboard.press("Enter")  # Enter on Undo undoes, it does not submit
    assert pressed(page) == {0: 1, 1: 1}
    assert Assignment.objects.get(pk=task).status == "leased"


def test_a_failed_load_offers_retry_instead_of_a_dead_page(login_page):
    campaign = _campaign(tasks=3)
    user = _annotator(campaign)
    page = login_page(user, f"/label/{campaign.slug}/")
    first = wait_task(page)
    page.wait_for_function("window.PRMLabeler.state.ahead !== null")
    page.evaluate("window.PRMLabeler.state.ahead = null")  # as if the fetch ahead had found nothing
    failing = {"on": True}
    page.route("**/api/campaigns/*/next/", lambda route: route.fulfill(status=500, body="{}")
               if failing["on"] and is_plain_next(route.request) else route.fallback())
    press(page, "3 3 3 Enter")
    page.wait_for_selector("#banner[data-kind=load]")
    assert page.locator("#task").is_hidden()  # the submitted task is not left on screen
    failing["on"] = False
    page.click("[data-role=banner-action]")
    assert wait_task(page, first) != first


def test_a_second_tab_submitting_the_same_task_is_told_it_was_already_submitted(login_page):
    campaign = _campaign()
    user = _annotator(campaign)
    tab_a = login_page(user, f"/label/{campaign.slug}/")
    task = wait_task(tab_a)
    tab_b = tab_a.context.new_page()
    tab_b.goto(tab_a.url)
    wait_task(tab_b)
    press(tab_b, "3 1")  # tab B rates the task its own way...
    wait_saved(tab_b)
    press(tab_a, "3 3 3")
    wait_saved(tab_a)
    tab_a.keyboard.press("Enter")  # ...tab A submits first
    wait_done(tab_a, 1)
    tab_b.keyboard.press("Enter")  # tab B's submit is not a replay of tab A's
    tab_b.wait_for_selector("#notice:not([hidden])")
    assert "already submitted" in tab_b.inner_text("#notice")
    assert tab_b.inner_text("#done-count") == "0"
    assert list(StepLabel.objects.filter(assignment_id=task).order_by("step__index")
                .values_list("rating", flat=True)) == [1, 1, 1]

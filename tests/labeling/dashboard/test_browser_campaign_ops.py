"""A manager who is not a superuser runs a campaign end to end in the browser:
create it, invite an annotator, import files (through a real Celery worker),
and the invited annotator sets a password, passes screening and labels."""

import json
import re

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Permission

from annotate.celery import app
from labeling.models import Assignment, Campaign, GoldStepLabel, Job, Membership
from tests.factories import UserFactory
from tests.labeling.browser import press, wait_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

KEY = {1: "3", 0: "2", -1: "1"}


def _wait(page, predicate, what, timeout_ms=30000):
    for _ in range(timeout_ms // 100):
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_manager_runs_a_campaign_from_the_dashboard(login_page, browser, live_server, settings, tmp_path,
                                                      prm800k_records_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    settings.EMAIL_ENABLED = False
    manager = UserFactory(username="lab-lead")
    manager.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    assert not manager.is_superuser and not manager.is_staff

    # -- create the campaign from the dashboard
    page = login_page(manager, "/manage/")
    page.click("[data-action=new-campaign]")
    page.fill("#id_slug", "math-run")
    page.fill("#id_name", "MATH run, December")
    page.fill("#id_overlap", "1")
    page.fill("#id_qc_rate", "0")
    page.fill("#id_screening_size", "1")
    page.fill("#id_screening_threshold", "0.5")
    page.fill("#id_instructions", "Rate each step. A step with $\\frac{1}{2}$ is fine.")
    page.wait_for_selector("[data-role=instructions-preview] .katex")  # the Markdown + math preview
    page.click("[data-role=campaign-form] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/manage/math-run/members/")
    campaign = Campaign.objects.get(slug="math-run")
    assert (campaign.overlap, campaign.screening_size, campaign.created_by) == (1, 1, manager)
    assert Membership.objects.get(campaign=campaign, user=manager).role == "manager"

    # -- invite a new annotator
    page.fill("#id_people", "newbie@example.com")
    page.click("[data-role=members-form] button[type=submit]")
    invite_url = page.input_value("[data-role=invite-url]")
    assert re.match(rf"{live_server.url}/invite/[\w-]+/$", invite_url), invite_url
    assert page.locator("#members [data-member=newbie]").count() == 1

    # -- import gold (one real PRM800K record with a first error) and a pool of plain solutions
    record = json.loads(open(prm800k_records_path).readlines()[11])  # phase 2, 3 steps, error at step 2
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text(json.dumps(record) + "\n")
    pool_file = tmp_path / "pool.jsonl"
    pool_file.write_text("".join(
        json.dumps({"problem": f"What is {i} + {i}?", "ground_truth_answer": str(2 * i),
                    "steps": [f"{i} + {i} = {2 * i}.", f"# Answer\n\n{2 * i}"]}) + "\n" for i in range(3)))
    page.goto(f"{live_server.url}/manage/math-run/data/")
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        page.set_input_files("#file", str(gold_file))
        page.check("input[name=labels][value=gold]")
        page.click("form[enctype] button[type=submit]")
        page.wait_for_url(f"{live_server.url}/manage/math-run/data/")
        page.set_input_files("#file", str(pool_file))
        page.click("form[enctype] button[type=submit]")
        page.wait_for_url(f"{live_server.url}/manage/math-run/data/")
        page.goto(f"{live_server.url}/manage/math-run/")  # off the data page, whose job poll reloads it
        _wait(page, lambda: Job.objects.filter(campaign=campaign, status="succeeded").count() == 2, "both imports")
    assert campaign.tasks.filter(is_gold=True).count() == 1 and campaign.tasks.filter(is_gold=False).count() == 3
    gold = list(GoldStepLabel.objects.filter(solution__tasks__campaign=campaign).order_by("step__index")
                .values_list("rating", flat=True))

    # -- the invited annotator sets a password, passes screening and labels
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.set_default_timeout(10000)
    ann = ctx.new_page()
    ann.goto(invite_url)
    assert ann.inner_text("[data-role=username]") == "newbie"
    ann.fill("#password1", "a-long-passphrase-for-2026")
    ann.fill("#password2", "a-long-passphrase-for-2026")
    ann.click("button[type=submit]")
    ann.wait_for_url(f"{live_server.url}/")
    ann.click(f"a[href='/label/{campaign.slug}/']")
    first = wait_task(ann)
    assert Assignment.objects.get(pk=first).is_screening  # the screening item comes first
    press(ann, " ".join(KEY[r] for r in gold) + " Enter")  # right on the gold item
    second = wait_task(ann, first)
    newbie = Membership.objects.get(campaign=campaign, user__username="newbie")
    assert newbie.status == "active", newbie.status_reason
    press(ann, "3 3 Enter")
    ann.wait_for_function("document.getElementById('done-count').textContent === '2'")
    assert Assignment.objects.get(pk=second).status == "submitted"
    ann.goto(f"{live_server.url}/invite/{invite_url.rstrip('/').rsplit('/', 1)[1]}/")
    assert "not valid any more" in ann.content()  # the link worked once
    ctx.close()

    # -- the manager sees the work, raises the overlap and downloads the cost report
    page.goto(f"{live_server.url}/manage/math-run/annotators/")
    assert "newbie" in page.inner_text("#annotators")
    page.goto(f"{live_server.url}/manage/math-run/settings/")
    page.fill("#id_overlap", "2")
    page.click("[data-role=campaign-form] button[type=submit]")
    page.wait_for_selector(".messages .msg-success")
    # the task labeled, and those the annotator's page still held, were full at overlap 1: all open now
    reopened = int(re.search(r"reopened (\d+) task", page.inner_text(".messages")).group(1))
    assert reopened >= 1
    assert not campaign.tasks.filter(is_gold=False, is_open=False).exists()
    page.goto(f"{live_server.url}/manage/math-run/cost/")
    assert "newbie" in page.inner_text("#cost")
    with page.expect_download() as dl:
        page.click("[data-action=cost-csv]")
    csv_text = open(dl.value.path()).read()
    assert "newbie" in csv_text and csv_text.startswith("period,annotator")
    assert page.js_errors == []

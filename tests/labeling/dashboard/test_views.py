import pytest

from labeling.dashboard.views import _queue_label


def test_queue_labels_name_strategy_and_model_once():
    refill = {"queue_strategy": "convincing_wrong", "queue_model_version": "v2", "queue_generation": 2}
    assert _queue_label(refill) == "convincing_wrong · v2"
    imported = {"queue_strategy": "", "queue_model_version": "", "queue_generation": 3}
    assert _queue_label(imported) == "import · gen 3"
    assert _queue_label({"queue_strategy": None, "queue_model_version": None, "queue_generation": None}) == "import"


@pytest.mark.django_db
def test_review_adjudication_and_annotator_pages_show_everything_an_annotator_wrote(dash_world, client):
    from labeling.models import Assignment, StepLabel
    from tests.labeling.conftest import label

    c = dash_world["campaign"]
    ann, ben, _ = dash_world["annotators"]
    a1 = label(ann, c, [1, 1, -1], corrected_step="So $4 + 1 = 5$, not 6.")
    StepLabel.objects.filter(assignment=a1, step__index=1).update(flagged=True)
    label(ben, c, [1, -1], note="I cannot tell whether step 2 follows.")  # a different first error: queued
    Assignment.objects.filter(pk=a1.pk).update(active_ms=83_000)
    client.force_login(dash_world["manager"])
    review = client.get(f"/manage/{c.slug}/solutions/{a1.solution_id}/").content.decode()
    assert "So $4 + 1 = 5$, not 6." in review and "corrected by ann" in review
    assert "I cannot tell whether step 2 follows." in review
    assert "1 min 23 s" in review  # the time spent
    assert 'data-labeling="ann"' in review and 'data-labeling="ben"' in review
    queue = client.get(f"/manage/{c.slug}/adjudication/").content.decode()
    assert "I cannot tell whether step 2 follows." in queue and "1 correction" in queue and "1 flagged" in queue
    person = client.get(f"/manage/{c.slug}/annotators/{ann.pk}/").content.decode()
    assert "So $4 + 1 = 5$, not 6." in person and "step 3" in person


@pytest.mark.django_db
def test_the_jobs_table_lists_imports_and_exports_together_newest_first(dash_world, client):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Job

    c = dash_world["campaign"]
    start = timezone.now() - timedelta(days=1)
    for i in range(23):  # imports and exports interleaved in time
        job = Job.objects.create(campaign=c, kind="import" if i % 2 else "export", status="succeeded")
        Job.objects.filter(pk=job.pk).update(created_at=start + timedelta(minutes=i))
    client.force_login(dash_world["manager"])
    page = client.get(f"/manage/{c.slug}/data/").content.decode()
    table = page.split('id="jobs"', 1)[1].split("</table>", 1)[0]
    shown = [int(row.split("<td>", 1)[1].split("</td>", 1)[0]) for row in table.split('<tr class="job"')[1:]]
    newest = list(Job.objects.filter(campaign=c).order_by("-created_at").values_list("pk", flat=True))
    assert shown == newest[:20]
    assert "The latest 20 of 23 jobs" in page and 'href="?jobs=all#jobs"' in page
    page = client.get(f"/manage/{c.slug}/data/?jobs=all").content.decode()
    assert page.count('<tr class="job"') == 23 and 'data-role="jobs-more"' not in page


@pytest.mark.django_db
def test_bad_problem_reports_read_plainly_on_the_page_and_in_the_api(dash_world, client):
    from rest_framework.test import APIClient

    from tests.labeling.conftest import label

    c = dash_world["campaign"]
    ann = dash_world["annotators"][0]
    a = label(ann, c, [], finish_reason="bad_problem", note="The problem states two different prices.")
    client.force_login(dash_world["manager"])
    page = client.get(f"/manage/{c.slug}/").content.decode()
    assert f"solution {a.solution_id}</a> · ann ·" in page and "two different prices" in page
    api = APIClient()
    api.force_authenticate(dash_world["manager"])
    [report] = api.get(f"/api/manage/campaigns/{c.slug}/overview/").json()["bad_reports"]
    assert set(report) == {"id", "solution_id", "problem_id", "finish_note", "submitted_at", "username"}
    assert (report["username"], report["problem_id"]) == ("ann", a.solution.problem_id)

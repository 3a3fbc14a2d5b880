"""What a lab running its own MATH campaign tripped over: imported labels filling the overlap
unannounced, a refused resolution wiping the form, raw LaTeX in reasons, and durations."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from labeling.errors import ValidationFailed
from labeling.models import Adjudication, Assignment, Job, Task
from labeling.quality.metrics import agreed_prefix
from labeling.services.imports import solutions_import
from labeling.templatetags.dashboard_extras import elapsed, when
from tests.labeling.conftest import label

pytestmark = pytest.mark.django_db


def _records(path) -> int:
    return sum(1 for x in path.read_text().splitlines() if x.strip())


def test_an_import_says_when_its_labels_fill_the_overlap(dash_world, prm800k_records_path):
    c = dash_world["campaign"]
    c.overlap = 1
    c.save()
    result = solutions_import(campaign=c, path=prm800k_records_path)
    assert result.assignments_created > 0 and result.overlap == 1
    full = Task.objects.filter(campaign=c, solution__assignments__source="imported", completed__gte=1).distinct()
    assert result.tasks_filled_by_import == full.count() > 0
    assert (f"imported labels count toward the campaign's 1 label per solution: {result.tasks_filled_by_import} "
            "solutions need no more from your annotators, 0 need fewer") in result.summary()


def test_an_import_says_its_labels_leave_fewer_for_annotators(dash_world, prm800k_records_path):
    result = solutions_import(campaign=dash_world["campaign"], path=prm800k_records_path)  # overlap 2
    assert result.tasks_filled_by_import == 0 and result.tasks_part_filled_by_import == result.tasks_created > 0
    assert f"2 labels per solution: 0 solutions need no more from your annotators, {result.tasks_created} need " \
           "fewer" in result.summary()


def test_labels_can_be_left_out_so_annotators_label_the_solutions(dash_world, prm800k_records_path):
    c = dash_world["campaign"]
    before = Assignment.objects.count()
    result = solutions_import(campaign=c, path=prm800k_records_path, drop_labels=True)
    assert result.labels_dropped == _records(prm800k_records_path) and result.assignments_created == 0
    assert Assignment.objects.count() == before and result.tasks_filled_by_import == 0
    assert result.tasks_created > 0 and "labels left out" in result.summary()
    assert Task.objects.filter(campaign=c, is_open=True, completed=0).count() >= result.tasks_created


def test_gold_and_left_out_at_once_is_refused(dash_world, prm800k_records_path):
    with pytest.raises(ValidationFailed, match="not both"):
        solutions_import(campaign=dash_world["campaign"], path=prm800k_records_path, as_gold=True, drop_labels=True)


def test_the_data_page_offers_the_three_choices_and_queues_the_one_taken(dash_world, settings, tmp_path,
                                                                        prm800k_records_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path
    web = Client()
    web.force_login(dash_world["manager"])
    slug = dash_world["campaign"].slug
    page = web.get(f"/manage/{slug}/data/").content.decode()
    assert 'name="labels" value="none"' in page and "counts toward the 2 labels per solution" in page
    # Export filters read as words, with the key the API and CLI take beside them.
    assert 'value="give_up" data-export="finish_reason"> Gave up <code>give_up</code>' in page
    with open(prm800k_records_path, "rb") as fh:
        web.post(f"/manage/{slug}/data/import/", {"file": fh, "labels": "none"})
    job = Job.objects.get(kind="import")
    assert (job.params["drop_labels"], job.params["as_gold"]) == (True, False)
    with open(prm800k_records_path, "rb") as fh:
        r = web.post(f"/manage/{slug}/data/import/", {"file": fh, "labels": "maybe"}, follow=True)
    assert "labels must be one of labels, gold, none" in r.content.decode() and Job.objects.count() == 1


def test_agreed_prefix_stops_at_the_first_difference():
    assert agreed_prefix([[1, 1, -1], [1, 1, 1, 1]], 5) == {0: 1, 1: 1}
    assert agreed_prefix([[1, 0, -1], [1, 0, -1]], 5) == {0: 1, 1: 0, 2: -1}  # first-error: nothing after
    assert agreed_prefix([[1, -1, 1], [1, -1, 1]], 3) == {0: 1, 1: -1, 2: 1}  # every-step mode goes on
    assert agreed_prefix([{0: 1}, {0: 1, 1: 1}], 2) == {0: 1}
    assert agreed_prefix([[1, 1]], 2) == {}
    with pytest.raises(ValueError):
        agreed_prefix([[2], [2]], 1)


def _disputed(dash_world):
    c = dash_world["campaign"]
    ann, ben, _ = dash_world["annotators"]
    a = label(ann, c, [1, 1, -1])
    label(ben, c, [1, 1, 1, 1, 1])
    assert Adjudication.objects.filter(campaign=c, solution_id=a.solution_id, status="open").exists()
    web = Client()
    web.force_login(dash_world["manager"])
    return web, f"/manage/{c.slug}/solutions/{a.solution_id}/", a.solution_id


def test_a_resolution_starts_from_the_agreed_steps(dash_world):
    web, url, _ = _disputed(dash_world)
    page = web.get(url)
    assert page.context["prefilled"] and [r["preset"] for r in page.context["rows"]] == [1, 1, None, None, None]
    assert 'data-role="prefilled"' in page.content.decode()


def test_a_refused_resolution_keeps_what_was_entered(dash_world):
    web, url, sid = _disputed(dash_world)
    r = web.post(url, {"step-0": "1", "step-1": "", "step-2": "-1", "note": "step 3 drops a $\\frac{1}{2}$",
                       "as_gold": "1", "action": "resolve"})
    assert r.status_code == 400
    body = r.content.decode()
    assert 'data-role="resolve-error"' in body and "step 1 (row 2) is unrated while a later one is rated" in body
    assert [row["preset"] for row in r.context["rows"]] == [1, None, -1, None, None]
    assert 'value="step 3 drops a $\\frac{1}{2}$"' in body
    assert r.context["as_gold"] and not r.context["next_checked"]
    assert Adjudication.objects.get(solution_id=sid).status == "open"
    ok = web.post(url, {"step-0": "1", "step-1": "1", "step-2": "-1", "note": "fine", "action": "resolve"})
    assert ok.status_code == 302 and Adjudication.objects.get(solution_id=sid).status == "resolved"


def test_reasons_render_as_math_and_finish_reasons_read_as_words(dash_world):
    c = dash_world["campaign"]
    ann = dash_world["annotators"][0]
    a = label(ann, c, [1], finish_reason="bad_problem", note="the bound on $a_1$ is missing")
    web = Client()
    web.force_login(dash_world["manager"])
    review = web.get(f"/manage/{c.slug}/solutions/{a.solution_id}/").content.decode()
    assert '<span class="note md" data-md data-role="note">the bound on $a_1$ is missing</span>' in review
    assert "Bad problem" in review and ">bad_problem<" not in review
    overview = web.get(f"/manage/{c.slug}/").content.decode()
    assert '<div class="muted md clamp" data-md>the bound on $a_1$ is missing</div>' in overview
    assert "js/render.js" in overview
    annotator = web.get(f"/manage/{c.slug}/annotators/{ann.pk}/").content.decode()
    assert '<div class="note md" data-md>the bound on $a_1$ is missing</div>' in annotator


def test_elapsed_reads_seconds_not_zero_minutes():
    t = datetime(2026, 12, 3, tzinfo=UTC)
    assert elapsed(t, t + timedelta(seconds=37)) == "37 s"
    assert elapsed(t, t + timedelta(minutes=3, seconds=5)) == "3 min 05 s"
    assert elapsed(None, t) == "—"


def test_when_gives_the_year_only_for_another_year():
    now = timezone.localtime()
    assert str(now.year) not in when(now)
    old = now.replace(year=now.year - 4)
    assert when(old).endswith(f", {old.year} {old:%H:%M}") and when(None) == "—"

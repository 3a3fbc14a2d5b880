"""Dashboard figures against hand-computed fixtures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.dashboard import selectors as sel
from labeling.errors import Forbidden, NotFound
from labeling.services.agreement import agreement_refresh
from tests.factories import UserFactory
from tests.labeling.conftest import label

pytestmark = pytest.mark.django_db


def test_overview_counts(dash_world, gold_task):
    c = dash_world["campaign"]
    ann, ben, cat = dash_world["annotators"]
    label(ann, c, [1, 1, 1, 1, 1])  # task 0
    label(ben, c, [1, -1])  # task 0 again (overlap 2): now fully labeled
    label(cat, c, [1, 0, -1])  # task 1
    o = sel.overview(campaign=c)
    assert (o["pool"], o["done"], o["started"], o["gold_items"]) == (5, 1, 2, 1)
    assert o["labels_total"] == o["labels_today"] == o["labels_last_hour"] == 3
    assert o["labels_remaining"] == 5 * 2 - 3
    assert o["ratings"] == {"positive": 7, "neutral": 1, "negative": 2} and o["steps_rated"] == 10
    assert o["first_errors"] == [(1, 1), (2, 1), (None, 1)]
    assert o["finish_reasons"] == {"solution": 1, "found_error": 2, "give_up": 0, "bad_problem": 0}
    # 3 labels within the last hour: the pace is counted over one hour, not a whole day.
    assert o["per_hour"] == pytest.approx(3.0)
    assert o["eta_hours"] == pytest.approx(7 / 3.0)
    assert o["adjudication_open"] == 1  # ann said no error, ben said step 2
    assert sum(n for _, n in o["days"]) == 3 and o["days"][-1][1] == 3


def test_annotator_rows_qc_and_sorting(dash_world, gold_task):
    c = dash_world["campaign"]
    ann, ben, cat = dash_world["annotators"]
    c.qc_rate = 1.0
    c.save()
    label(ann, c, [1, 1, -1])  # gold [1, 1, -1]: 3/3
    label(ben, c, [-1])  # 0/1, a false alarm
    c.qc_rate = 0
    c.save()
    label(ann, c, [1, 1, 1, 1, 1])
    label(ben, c, [1, 1, 1, 1, 1])
    agreement_refresh(campaign=c)
    rows = {r["username"]: r for r in sel.annotator_rows(campaign=c)}
    assert rows["ann"]["qc_accuracy"] == 1.0 and rows["ben"]["qc_accuracy"] == 0.0
    assert rows["ben"]["qc_false_alarm_rate"] == 1.0 and rows["ann"]["qc_first_error_exact"] == 1.0
    assert rows["ann"]["tasks"] == 2 and rows["ann"]["steps"] == 8
    assert rows["cat"]["tasks"] == 0 and rows["cat"]["qc_accuracy"] is None
    assert rows["ann"]["median_task_s"] == pytest.approx((15 + 25) / 2)
    assert rows["ann"]["median_step_s"] == pytest.approx(5.0)
    # Both rated the same work solution identically (5 steps) and the gold item differently.
    assert rows["ann"]["agreement_units"] == rows["ben"]["agreement_units"] == 6
    order = [r["username"] for r in sel.annotator_rows(campaign=c, sort="-qc_accuracy")]
    assert order[:2] == ["ann", "ben"] and order[-1] == "cat"  # no QC yet: last
    assert [r["username"] for r in sel.annotator_rows(campaign=c, sort="qc_accuracy")][:2] == ["ben", "ann"]
    assert [r["username"] for r in sel.annotator_rows(campaign=c, sort="name")] == ["ann", "ben", "cat"]


def test_pace_falls_back_to_the_week(dash_world):
    c = dash_world["campaign"]
    ann = dash_world["annotators"][0]
    a = label(ann, c, [1, 1, 1, 1, 1])
    a.submitted_at = timezone.now() - timedelta(days=3)
    a.save(update_fields=["submitted_at"])
    o = sel.overview(campaign=c)
    assert o["labels_today"] == 0 and o["labels_week"] == 1
    assert o["per_hour"] == pytest.approx(1 / 72, rel=0.01)


def test_only_managers_and_admins_get_the_campaign(dash_world):
    c = dash_world["campaign"]
    assert sel.campaign_for_manager(user=dash_world["manager"], slug=c.slug) == c
    assert sel.campaign_for_manager(user=UserFactory(is_superuser=True), slug=c.slug) == c
    with pytest.raises(Forbidden):
        sel.campaign_for_manager(user=dash_world["annotators"][0], slug=c.slug)
    with pytest.raises(NotFound):
        sel.campaign_for_manager(user=dash_world["manager"], slug="nope")


def test_agreement_pairs_named(dash_world):
    c = dash_world["campaign"]
    ann, ben, _ = dash_world["annotators"]
    label(ann, c, [1, 1, -1])
    label(ben, c, [1, -1])
    pairs = sel.agreement_pairs(snapshot=agreement_refresh(campaign=c))
    assert len(pairs) == 1
    p = pairs[0]
    assert {p["a_name"], p["b_name"]} == {"ann", "ben"} and p["step_units"] == 2 and p["solution_pairs"] == 1
    assert p["first_error_exact"] == 0.0 and p["first_error_within_one"] == 1.0
    assert sel.agreement_pairs(snapshot=None) == []

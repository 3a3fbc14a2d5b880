"""Time and cost figures against hand-computed fixtures."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from labeling.dashboard.costs import time_cost, time_cost_csv, time_cost_totals
from labeling.errors import ValidationFailed
from labeling.models import Assignment, Membership
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")


def _work(campaign, user, when, active_ms, steps):
    task = TaskFactory(campaign=campaign, solution=SolutionFactory())
    return Assignment.objects.create(campaign=campaign, task=task, solution=task.solution, annotator=user,
                                     status="submitted", submitted_at=when, leased_at=when, active_ms=active_ms,
                                     rated_steps=steps, finish_reason="solution")


@pytest.fixture
def world(settings):
    settings.TIME_ZONE = "UTC"
    c = CampaignFactory(hourly_rate=Decimal("30.00"))
    ann = MembershipFactory(campaign=c, user=UserFactory(username="ann")).user
    ben = MembershipFactory(campaign=c, user=UserFactory(username="ben"), hourly_rate=Decimal("45.00")).user
    # Mon 2026-11-23 and Tue 2026-11-24 (one week), Mon 2026-11-30 (the next)
    _work(c, ann, datetime(2026, 11, 23, 9, tzinfo=UTC), 30 * 60_000, 5)  # 0.5 h
    _work(c, ann, datetime(2026, 11, 24, 9, tzinfo=UTC), 90 * 60_000, 7)  # 1.5 h
    _work(c, ann, datetime(2026, 11, 30, 9, tzinfo=UTC), 60 * 60_000, 4)  # 1 h
    _work(c, ben, datetime(2026, 11, 24, 10, tzinfo=UTC), 20 * 60_000, 3)  # 1/3 h at 45
    return c


def test_weekly_rows_match_hand_computed_figures(world):
    rows = {(r.username, r.period.isoformat()): r for r in time_cost(campaign=world, period="week")}
    ann_w1 = rows[("ann", "2026-11-23")]
    assert (ann_w1.tasks, ann_w1.steps, ann_w1.active_hours) == (2, 12, Decimal("2.000"))
    assert ann_w1.cost == Decimal("60.00") and ann_w1.cost_per_label == Decimal("30.00")
    assert ann_w1.tasks_per_hour == Decimal("1.0")
    ben_w1 = rows[("ben", "2026-11-23")]
    assert ben_w1.hourly_rate == Decimal("45.00")  # his own rate beats the campaign's
    assert ben_w1.cost == Decimal("15.00") and ben_w1.active_hours == Decimal("0.333")
    assert rows[("ann", "2026-11-30")].cost == Decimal("30.00")
    totals = time_cost_totals(list(rows.values()))
    assert totals == {"active_hours": Decimal("3.333"), "tasks": 4, "steps": 19, "cost": Decimal("105.00"),
                      "cost_per_label": Decimal("26.25")}


def test_daily_rows_and_date_range(world):
    rows = time_cost(campaign=world, period="day", since="2026-11-24", until="2026-11-24")
    assert sorted((r.username, r.period.isoformat(), r.tasks) for r in rows) == [
        ("ann", "2026-11-24", 1), ("ben", "2026-11-24", 1)]
    with pytest.raises(ValidationFailed, match="period must be one of"):
        time_cost(campaign=world, period="month")
    with pytest.raises(ValidationFailed, match="YYYY-MM-DD"):
        time_cost(campaign=world, since="last tuesday")


def test_no_rate_means_no_cost_and_the_csv_is_spreadsheet_safe(world):
    world.hourly_rate = None
    world.save()
    Membership.objects.filter(campaign=world).update(hourly_rate=None)
    Assignment.objects.filter(annotator__username="ann").update(annotator=UserFactory(username="-1+1"))
    rows = time_cost(campaign=world, period="week")
    assert all(r.cost is None for r in rows) and time_cost_totals(rows)["cost"] is None
    text = time_cost_csv(rows)
    assert text.splitlines()[0] == ("period,annotator,active_hours,tasks,steps,labels_per_hour,hourly_rate,cost,"
                                    "cost_per_label")
    assert ",'-1+1," in text  # a username that reads as a formula is quoted for spreadsheets

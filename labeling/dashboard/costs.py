"""Time and cost per annotator, per day or week: what managers pay contractors from.

Active time is the labeling page's idle-aware timer (paused when the tab is
hidden or after a minute without input), summed over submitted work; tasks
are submitted labelings (give-ups and bad-problem reports included: they
took the time), steps the steps rated in them. Cost is active hours times
the member's hourly rate, else the campaign's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncWeek
from django.utils import timezone

from labeling.errors import ValidationFailed
from labeling.models import Assignment, Campaign, Membership

PERIODS = {"day": TruncDay, "week": TruncWeek}
CENT = Decimal("0.01")
MS_PER_HOUR = Decimal(3_600_000)


@dataclass(frozen=True)
class CostRow:
    annotator_id: int
    username: str
    period: date  # the day, or the Monday of the week
    active_ms: int
    tasks: int
    steps: int
    hourly_rate: Decimal | None

    @property
    def active_hours(self) -> Decimal:
        return (Decimal(self.active_ms) / MS_PER_HOUR).quantize(Decimal("0.001"), ROUND_HALF_UP)

    @property
    def tasks_per_hour(self) -> Decimal | None:
        if not self.active_ms:
            return None
        return (Decimal(self.tasks) * MS_PER_HOUR / Decimal(self.active_ms)).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def cost(self) -> Decimal | None:
        if self.hourly_rate is None:
            return None
        return (Decimal(self.active_ms) * self.hourly_rate / MS_PER_HOUR).quantize(CENT, ROUND_HALF_UP)

    @property
    def cost_per_label(self) -> Decimal | None:
        cost = self.cost
        if cost is None or not self.tasks:
            return None
        return (cost / self.tasks).quantize(CENT, ROUND_HALF_UP)

    def as_dict(self) -> dict:
        def s(v):
            return None if v is None else str(v)

        return {"annotator": self.username, "annotator_id": self.annotator_id, "period": self.period.isoformat(),
                "active_hours": s(self.active_hours), "tasks": self.tasks, "steps": self.steps,
                "labels_per_hour": s(self.tasks_per_hour), "hourly_rate": s(self.hourly_rate),
                "cost": s(self.cost), "cost_per_label": s(self.cost_per_label)}


def _day(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"dates are YYYY-MM-DD, got {value!r}") from None


def time_cost(*, campaign: Campaign, period: str = "week", since=None, until=None) -> list[CostRow]:
    """Rows per (annotator, day or week) over submitted work, newest period first. `until` is inclusive."""
    if period not in PERIODS:
        raise ValidationFailed(f"period must be one of {', '.join(PERIODS)}")
    since, until = _day(since), _day(until)
    tz = timezone.get_current_timezone()
    qs = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED,
                                   source=Assignment.Source.NATIVE)
    if since:
        qs = qs.filter(submitted_at__gte=datetime.combine(since, datetime.min.time(), tzinfo=tz))
    if until:
        qs = qs.filter(submitted_at__lt=datetime.combine(until, datetime.max.time(), tzinfo=tz))
    rows = (
        qs.annotate(p=PERIODS[period]("submitted_at", tzinfo=tz))
        .values("annotator_id", "annotator__username", "p")
        .annotate(ms=Sum("active_ms"), tasks=Count("pk"), steps=Sum("rated_steps"))
        .order_by("-p", "annotator__username")
    )
    rates = dict(Membership.objects.filter(campaign=campaign).values_list("user_id", "hourly_rate"))
    return [
        CostRow(annotator_id=r["annotator_id"], username=r["annotator__username"], period=r["p"].date(),
                active_ms=int(r["ms"] or 0), tasks=r["tasks"], steps=int(r["steps"] or 0),
                hourly_rate=rates.get(r["annotator_id"]) if rates.get(r["annotator_id"]) is not None
                else campaign.hourly_rate)
        for r in rows
    ]


def time_cost_totals(rows: list[CostRow]) -> dict:
    """Totals over the rows; cost only where every row has a rate."""
    ms = sum(r.active_ms for r in rows)
    tasks = sum(r.tasks for r in rows)
    costs = [r.cost for r in rows]
    cost = sum(costs, Decimal(0)) if rows and all(c is not None for c in costs) else None
    return {"active_hours": (Decimal(ms) / MS_PER_HOUR).quantize(Decimal("0.001"), ROUND_HALF_UP), "tasks": tasks,
            "steps": sum(r.steps for r in rows), "cost": cost,
            "cost_per_label": (cost / tasks).quantize(CENT, ROUND_HALF_UP) if cost is not None and tasks else None}


CSV_COLUMNS = ["period", "annotator", "active_hours", "tasks", "steps", "labels_per_hour", "hourly_rate", "cost",
               "cost_per_label"]


def _cell(v) -> str:
    # A spreadsheet runs a cell that starts like a formula: "-1+1", "@SUM(...)" (usernames may).
    s = "" if v is None else str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@") and not s.lstrip("-").replace(".", "", 1).isdigit() else s


def time_cost_csv(rows: list[CostRow]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.as_dict().items()})
    return out.getvalue()

"""Read-only queries behind the manager dashboard.

Every figure is aggregated in PostgreSQL over assignments (one row per
labeled solution, carrying its label summary) or tasks, never by looping
over step labels in Python: a campaign with a million step labels renders
in a handful of indexed queries. Agreement comes from the latest background
snapshot (see labeling.services.agreement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from labeling.errors import Forbidden, NotFound
from labeling.models import (
    Adjudication,
    AgreementSnapshot,
    Assignment,
    Campaign,
    GoldScore,
    GoldStepLabel,
    Job,
    Membership,
    Profile,
    Solution,
    Step,
    StepAlternative,
    StepLabel,
    Task,
)
from labeling.services.segments import describe

SUBMITTED = Assignment.Status.SUBMITTED


def is_manager(*, user, campaign: Campaign) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(campaign=campaign, user=user, role=Membership.Role.MANAGER).exists()


def managed_campaigns(*, user):
    """Campaigns the user manages (all of them for an admin), with pool and label counts."""
    qs = Campaign.objects.exclude(status=Campaign.Status.ARCHIVED)
    if not user.is_superuser:
        qs = qs.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER)
    return qs.order_by("slug")


def campaign_by_slug(*, slug: str) -> Campaign:
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        raise NotFound(f"no campaign '{slug}'")
    return campaign


def campaign_for_manager(*, user, slug: str) -> Campaign:
    """The campaign if `user` manages it (or is an admin); Forbidden for anyone else, NotFound if none."""
    campaign = campaign_by_slug(slug=slug)
    if not is_manager(user=user, campaign=campaign):
        raise Forbidden(f"only managers of campaign '{slug}' see this page")
    return campaign


def _pct(part, whole):
    return (part / whole) if whole else None


def overview(*, campaign: Campaign, now=None, headline_only: bool = False) -> dict:
    """Progress, pace, ETA, queue, rating and finish-reason breakdowns of a campaign.

    `headline_only` skips the histograms, queue and reports (the 15-second
    live poll needs only the totals).
    """
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    overlap = campaign.overlap
    work = ~Q(is_gold=True)
    tasks = Task.objects.filter(campaign=campaign).aggregate(
        pool=Count("id", filter=work),
        done=Count("id", filter=work & Q(completed__gte=overlap)),
        started=Count("id", filter=work & Q(completed__gt=0)),
        labels_done=Sum("completed", filter=work),
        open=Count("id", filter=work & Q(is_open=True)),
        leased=Sum(F("taken") - F("completed"), filter=work),
        gold=Count("id", filter=Q(is_gold=True)),
    )
    # Labels still needed: each work task wants `overlap` submitted labelings.
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT coalesce(sum(greatest(%s - completed, 0)), 0) FROM {Task._meta.db_table} "  # noqa: S608
            "WHERE campaign_id = %s AND NOT is_gold",
            [overlap, campaign.pk],
        )
        remaining = int(cur.fetchone()[0])

    subs = Assignment.objects.filter(campaign=campaign, status=SUBMITTED)
    a = subs.aggregate(
        total=Count("id"),
        last_hour=Count("id", filter=Q(submitted_at__gte=now - timedelta(hours=1))),
        last_24h=Count("id", filter=Q(submitted_at__gte=now - timedelta(hours=24))),
        today=Count("id", filter=Q(submitted_at__gte=today)),
        week=Count("id", filter=Q(submitted_at__gte=now - timedelta(days=7))),
        pos=Sum("positive_steps"), neu=Sum("neutral_steps"), neg=Sum("negative_steps"),
        steps=Sum("rated_steps"),
        solution=Count("id", filter=Q(finish_reason="solution")),
        found_error=Count("id", filter=Q(finish_reason="found_error")),
        give_up=Count("id", filter=Q(finish_reason="give_up")),
        bad_problem=Count("id", filter=Q(finish_reason="bad_problem")),
        annotators=Count("annotator", distinct=True, filter=Q(submitted_at__gte=now - timedelta(days=7))),
        first_24h=Min("submitted_at", filter=Q(submitted_at__gte=now - timedelta(hours=24))),
        first_week=Min("submitted_at", filter=Q(submitted_at__gte=now - timedelta(days=7))),
    )
    # Pace over the time labeling actually ran in the last 24 hours (at least
    # an hour), else over the last 7 days: a campaign that started an hour ago
    # is not averaged over a day it did not exist.
    per_hour = 0.0
    for n, since in ((a["last_24h"], a["first_24h"]), (a["week"], a["first_week"])):
        if n:
            per_hour = n / max((now - since).total_seconds() / 3600, 1.0)
            break
    eta_hours = remaining / per_hour if per_hour and remaining else None

    headline = {
        "pool": tasks["pool"], "done": tasks["done"], "open": tasks["open"], "leased": tasks["leased"] or 0,
        "progress": _pct(tasks["done"], tasks["pool"]), "labels_remaining": remaining,
        "labels_total": a["total"], "labels_last_hour": a["last_hour"], "labels_today": a["today"],
        "labels_week": a["week"], "per_hour": per_hour, "eta_hours": eta_hours,
    }
    if headline_only:
        headline["adjudication_open"] = Adjudication.objects.filter(campaign=campaign, status="open").count()
        gold = GoldScore.objects.filter(campaign=campaign).aggregate(m=Sum("matches"), c=Sum("compared"))
        headline["qc_accuracy"] = _pct(gold["m"] or 0, gold["c"] or 0)
        return headline
    hourly = {
        row["hour"]: row["n"]
        for row in subs.filter(submitted_at__gte=now - timedelta(days=7))
        .annotate(hour=TruncHour("submitted_at"))
        .values("hour")
        .annotate(n=Count("id"))
    }
    hours_today = []
    start = today
    while start <= now:
        hours_today.append((f"{timezone.localtime(start):%H}h", hourly.get(start, 0)))
        start += timedelta(hours=1)
    days = []
    for d in range(6, -1, -1):
        day = today - timedelta(days=d)
        n = sum(v for k, v in hourly.items() if day <= k < day + timedelta(days=1))
        days.append((f"{timezone.localtime(day):%a %d}", n))

    first_errors = list(
        subs.filter(finish_reason__in=["solution", "found_error"])
        .values("first_error_index")
        .annotate(n=Count("id"))
        .order_by(F("first_error_index").asc(nulls_last=True))
    )
    queue = list(
        Task.objects.filter(campaign=campaign, is_open=True, is_gold=False)
        .values("queue_strategy", "queue_model_version", "queue_generation")
        .annotate(n=Count("id"), top=Max("priority"))
        .order_by("-n")[:12]
    )
    bad = list(
        subs.filter(finish_reason="bad_problem")
        .order_by("-submitted_at")
        .values("id", "solution_id", "finish_note", "submitted_at",
                problem_id=F("solution__problem_id"), username=F("annotator__username"))[:10]
    )
    adjudications = dict(
        Adjudication.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))
    )
    gold = GoldScore.objects.filter(campaign=campaign).aggregate(
        m=Sum("matches"), c=Sum("compared"), n=Count("id"), fe=Count("id", filter=Q(first_error_exact=True))
    )
    return {
        "pool": tasks["pool"], "done": tasks["done"], "started": tasks["started"], "open": tasks["open"],
        "leased": tasks["leased"] or 0, "gold_items": tasks["gold"], "overlap": overlap,
        "labels_done": tasks["labels_done"] or 0, "labels_remaining": remaining,
        "progress": _pct(tasks["done"], tasks["pool"]),
        "labels_total": a["total"], "labels_last_hour": a["last_hour"], "labels_today": a["today"],
        "labels_24h": a["last_24h"], "labels_week": a["week"], "active_annotators_week": a["annotators"],
        "per_hour": per_hour, "eta_hours": eta_hours,
        "eta_at": (now + timedelta(hours=eta_hours)) if eta_hours else None,
        "hours_today": hours_today, "days": days,
        "ratings": {"positive": a["pos"] or 0, "neutral": a["neu"] or 0, "negative": a["neg"] or 0},
        "steps_rated": a["steps"] or 0,
        "finish_reasons": {k: a[k] for k in ("solution", "found_error", "give_up", "bad_problem")},
        "first_errors": [(r["first_error_index"], r["n"]) for r in first_errors],
        "queue": queue, "bad_reports": bad,
        "adjudication_open": adjudications.get("open", 0), "adjudication_resolved": adjudications.get("resolved", 0),
        "qc_scored": gold["n"], "qc_accuracy": _pct(gold["m"] or 0, gold["c"] or 0),
        "qc_first_error_exact": _pct(gold["fe"], gold["n"]),
    }


def agreement_latest(*, campaign: Campaign) -> AgreementSnapshot | None:
    return AgreementSnapshot.objects.filter(campaign=campaign).order_by("-computed_at").first()


def agreement_behind(*, campaign: Campaign, snapshot: AgreementSnapshot | None) -> int:
    """Submitted labels the snapshot does not count yet (beat catches up every AGREEMENT_REFRESH_SECONDS)."""
    submitted = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED).count()
    return max(0, submitted - (snapshot.assignment_count if snapshot else 0))


def agreement_pairs(*, snapshot: AgreementSnapshot | None, limit: int = 20) -> list[dict]:
    """The snapshot's best-covered annotator pairs, with usernames."""
    if snapshot is None:
        return []
    pairs = snapshot.data.get("pairs", [])[:limit]
    ids = {p["a"] for p in pairs} | {p["b"] for p in pairs}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return [{**p, "a_name": names.get(p["a"], p["a"]), "b_name": names.get(p["b"], p["b"])} for p in pairs]


ANNOTATOR_SQL = """
SELECT annotator_id, count(*) AS tasks, sum(rated_steps) AS steps, max(submitted_at) AS last_active,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY active_ms) / 1000.0 AS median_task_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY active_ms::float / rated_steps)
         FILTER (WHERE rated_steps > 0) / 1000.0 AS median_step_s,
       count(*) FILTER (WHERE finish_reason = 'give_up') AS give_up,
       count(*) FILTER (WHERE finish_reason = 'bad_problem') AS bad_problem,
       count(*) FILTER (WHERE submitted_at >= %s) AS today
FROM {assignment} WHERE campaign_id = %s AND status = 'submitted' {only_user}
GROUP BY annotator_id
"""

SORT_KEYS = {
    "name": lambda r: r["username"].lower(),
    "tasks": lambda r: r["tasks"],
    "steps": lambda r: r["steps"],
    "today": lambda r: r["today"],
    "median_step_s": lambda r: r["median_step_s"],
    "median_task_s": lambda r: r["median_task_s"],
    "qc_accuracy": lambda r: r["qc_accuracy"],
    "agreement": lambda r: r["agreement"],
    "give_up_rate": lambda r: r["give_up_rate"],
    "bad_problem_rate": lambda r: r["bad_problem_rate"],
    "last_active": lambda r: r["last_active"],
    "status": lambda r: r["status"],
}


def annotator_rows(*, campaign: Campaign, sort: str = "-tasks", now=None, user_id: int | None = None) -> list[dict]:
    """One row per annotator who is a member or has labels in the campaign (three grouped queries).

    `user_id` restricts every query to one annotator (their own page).
    """
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    one = {} if user_id is None else {"annotator_id": user_id}
    with connection.cursor() as cur:
        cur.execute(
            ANNOTATOR_SQL.format(assignment=Assignment._meta.db_table,
                                 only_user="" if user_id is None else "AND annotator_id = %s"),
            [today, campaign.pk] + ([] if user_id is None else [user_id]),
        )
        cols = [c.name for c in cur.description]
        work = {row[0]: dict(zip(cols, row, strict=True)) for row in cur.fetchall()}
    qc = {
        r["annotator_id"]: r
        for r in GoldScore.objects.filter(campaign=campaign, is_screening=False, **one)
        .values("annotator_id")
        .annotate(
            m=Sum("matches"), c=Sum("compared"), n=Count("id"), misses=Sum("misses"), neg=Sum("gold_negatives"),
            fa=Sum("false_alarms"), fine=Sum("gold_fine"), fe=Count("id", filter=Q(first_error_exact=True)),
            fe1=Count("id", filter=Q(first_error_within_one=True)),
        )
    }
    screening = {
        r["annotator_id"]: r
        for r in GoldScore.objects.filter(campaign=campaign, is_screening=True, **one)
        .values("annotator_id")
        .annotate(m=Sum("matches"), c=Sum("compared"), n=Count("id"))
    }
    members = {
        m.user_id: m
        for m in Membership.objects.filter(campaign=campaign, role=Membership.Role.ANNOTATOR)
        .filter(**({} if user_id is None else {"user_id": user_id}))
        .select_related("user")
    }
    ids = set(work) | set(members)
    names = dict(
        Profile.objects.filter(user_id__in=ids).values_list("user_id", "user__username")
    ) | {uid: m.user.username for uid, m in members.items()}
    snap = agreement_latest(campaign=campaign)
    agree = snap.data.get("annotators", {}) if snap else {}
    rows = []
    for uid in ids:
        w = work.get(uid, {})
        q = qc.get(uid)
        s = screening.get(uid)
        m = members.get(uid)
        tasks = w.get("tasks", 0)
        ag = agree.get(str(uid), {})
        rows.append({
            "user_id": uid, "username": names.get(uid, f"user {uid}"),
            "tasks": tasks, "steps": w.get("steps") or 0, "today": w.get("today", 0),
            "median_task_s": w.get("median_task_s"), "median_step_s": w.get("median_step_s"),
            "give_up_rate": _pct(w.get("give_up", 0), tasks), "bad_problem_rate": _pct(w.get("bad_problem", 0), tasks),
            "last_active": w.get("last_active"),
            "qc_items": q["n"] if q else 0, "qc_accuracy": _pct(q["m"], q["c"]) if q else None,
            "qc_miss_rate": _pct(q["misses"], q["neg"]) if q else None,
            "qc_false_alarm_rate": _pct(q["fa"], q["fine"]) if q else None,
            "qc_first_error_exact": _pct(q["fe"], q["n"]) if q else None,
            "qc_first_error_within_one": _pct(q["fe1"], q["n"]) if q else None,
            "screening_items": s["n"] if s else 0, "screening_accuracy": _pct(s["m"], s["c"]) if s else None,
            "agreement": ag.get("alpha"), "agreement_units": ag.get("step_units", 0),
            "first_error_agreement": ag.get("first_error_exact"),
            "status": m.status if m else "external", "status_reason": m.status_reason if m else "",
            "is_member": m is not None,
        })
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        key, sort = "tasks", "-tasks"
    present = [r for r in rows if SORT_KEYS[key](r) is not None]
    missing = [r for r in rows if SORT_KEYS[key](r) is None]
    present.sort(key=SORT_KEYS[key], reverse=sort.startswith("-"))
    # Rows without the figure (no QC items yet, never active) go last either way.
    return present + sorted(missing, key=lambda r: r["username"].lower())


def _written(assignment_ids: list[int]) -> tuple[dict[int, list[tuple[int, str]]], dict[int, int]]:
    """What annotators wrote beyond ratings: corrected steps (step index, text) and flag counts, per assignment."""
    corrections: dict[int, list[tuple[int, str]]] = {}
    for aid, idx, text in StepAlternative.objects.filter(
        assignment_id__in=assignment_ids, kind=StepAlternative.Kind.HUMAN
    ).values_list("assignment_id", "step__index", "text"):
        corrections.setdefault(aid, []).append((idx, text))
    flags = dict(
        StepLabel.objects.filter(assignment_id__in=assignment_ids, flagged=True)
        .values_list("assignment_id").annotate(n=Count("pk")).values_list("assignment_id", "n")
    )
    return corrections, flags


@dataclass(frozen=True)
class Critique:
    step: int
    text: str
    types: list[str]  # the taxonomy's labels (a key no longer in it is shown as it is)


def _critiques(campaign: Campaign, assignment_ids: list[int]) -> dict[int, list[Critique]]:
    """What annotators said is wrong with negative steps: critique and error types, per assignment."""
    names = {t["key"]: t["label"] for t in campaign.error_taxonomy or []}
    out: dict[int, list[Critique]] = {}
    rows = (StepLabel.objects.filter(assignment_id__in=assignment_ids, rating=-1)
            .exclude(critique="", error_types=[])
            .order_by("assignment_id", "step__index")
            .values_list("assignment_id", "step__index", "critique", "error_types"))
    for aid, idx, text, types in rows:
        out.setdefault(aid, []).append(Critique(step=idx, text=text, types=[names.get(t, t) for t in types]))
    return out


def annotator_detail(*, campaign: Campaign, user_id: int, limit: int = 50) -> dict:
    """An annotator's recent work with QC results, corrections, flags and notes, and their membership."""
    recent = list(
        Assignment.objects.filter(campaign=campaign, annotator_id=user_id)
        .exclude(status=Assignment.Status.EXPIRED)
        .select_related("gold_score", "solution")
        .order_by(F("submitted_at").desc(nulls_first=True), "-pk")[:limit]
    )
    corrections, flags = _written([a.pk for a in recent])
    critiques = _critiques(campaign, [a.pk for a in recent])
    for a in recent:
        a.corrections = corrections.get(a.pk, [])
        a.critiques = critiques.get(a.pk, [])
        a.flag_count = flags.get(a.pk, 0)
    membership = Membership.objects.filter(campaign=campaign, user_id=user_id).select_related("user").first()
    return {"recent": recent, "membership": membership}


def adjudication_queue(*, campaign: Campaign, status: str = "open", limit: int = 100) -> list[Adjudication]:
    """Disagreements, each with its labelings: who, finish reason and note, time, flags and corrections."""
    items = list(
        Adjudication.objects.filter(campaign=campaign, status=status)
        .select_related("solution__problem", "resolved_by")
        .order_by("created_at", "pk")[:limit]
    )
    labelings = list(
        Assignment.objects.filter(campaign=campaign, status=SUBMITTED, solution_id__in=[i.solution_id for i in items])
        .select_related("annotator").order_by("submitted_at", "pk")
    )
    corrections, flags = _written([a.pk for a in labelings])
    critiques = _critiques(campaign, [a.pk for a in labelings])
    by_solution: dict[int, list[Assignment]] = {}
    for a in labelings:
        a.corrections = corrections.get(a.pk, [])
        a.critiques = critiques.get(a.pk, [])
        a.flag_count = flags.get(a.pk, 0)
        by_solution.setdefault(a.solution_id, []).append(a)
    for item in items:
        item.labelings = by_solution.get(item.solution_id, [])
    return items


def solution_review(*, campaign: Campaign, solution_id: int) -> dict:
    """A solution with every submitted labeling in the campaign side by side, its gold and adjudication."""
    task = Task.objects.filter(campaign=campaign, solution_id=solution_id).select_related("solution__problem").first()
    solution = task.solution if task else None
    if task is None:
        # A version re-segmented by a labeling (or one adopted since): the task it was served by.
        served = Assignment.objects.filter(campaign=campaign, solution_id=solution_id).select_related(
            "task", "solution__problem").first()
        if served is None:
            raise NotFound(f"solution {solution_id} is not in campaign '{campaign.slug}'")
        task, solution = served.task, served.solution
    steps = list(Step.objects.filter(solution_id=solution_id).order_by("index").values_list("index", "text"))
    labelings = list(
        Assignment.objects.filter(campaign=campaign, solution_id=solution_id, status=SUBMITTED)
        .select_related("annotator")
        .order_by("submitted_at", "pk")
    )
    ratings: dict[int, dict[int, tuple]] = {a.pk: {} for a in labelings}
    shown = {a.pk for a in labelings if a.prelabel_shown}
    for aid, idx, rating, flagged, hint in StepLabel.objects.filter(assignment__in=labelings).values_list(
        "assignment_id", "step__index", "rating", "flagged", "hint"
    ):
        # The suggestion only where the annotator saw it (the control's stays in the bias report).
        ratings[aid][idx] = (rating, flagged, hint if aid in shown else None)
    gold = dict(GoldStepLabel.objects.filter(solution_id=solution_id).values_list("step__index", "rating"))
    adjudication = Adjudication.objects.filter(campaign=campaign, solution_id=solution_id).first()
    corrections, flags = _written([a.pk for a in labelings])
    critiques = _critiques(campaign, [a.pk for a in labelings])
    for a in labelings:
        a.corrections = corrections.get(a.pk, [])
        a.critiques = critiques.get(a.pk, [])
        a.flag_count = flags.get(a.pk, 0)
    return {
        "task": task, "solution": solution, "problem": solution.problem, "steps": steps,
        "labelings": labelings, "ratings": ratings, "gold": gold, "adjudication": adjudication,
        "versions": _versions(campaign, solution), "lineage": _lineage(solution),
        "current": task.solution_id == solution.pk,
    }


def _versions(campaign: Campaign, solution) -> list[dict]:
    """Re-segmentations of this solution labeled in the campaign: their edits and who labeled them."""
    labelers: dict[int, list[str]] = {}
    for sid, name in (Assignment.objects.filter(campaign=campaign, solution__parent=solution, status=SUBMITTED)
                      .order_by("submitted_at").values_list("solution_id", "annotator__username")):
        labelers.setdefault(sid, []).append(name)
    versions = Solution.objects.filter(pk__in=labelers).annotate(n_steps=Count("steps")).order_by("pk")
    return [{"solution": v, "edits": describe(v.segment_spans or []), "labelers": labelers[v.pk], "steps": v.n_steps}
            for v in versions]


def _lineage(solution) -> dict | None:
    if solution.parent_id is None:
        return None
    return {"parent_id": solution.parent_id, "edits": describe(solution.segment_spans or []),
            "adopted": solution.metadata.get("adopted", [])}


def campaign_job(*, campaign: Campaign, job_id: int) -> Job:
    """One of the campaign's jobs; NotFound for another campaign's or none."""
    job = Job.objects.filter(pk=job_id, campaign=campaign).first()
    if job is None:
        raise NotFound(f"campaign '{campaign.slug}' has no job {job_id}")
    return job


def job_export_file(*, job: Job) -> tuple[Path, str]:
    """The file a finished export job wrote and the name to download it as; NotFound while there is
    none or if it left EXPORT_DIR."""
    path = Path(job.result.get("path", ""))
    if job.kind != Job.Kind.EXPORT or job.status != Job.Status.SUCCEEDED or not path.is_file():
        raise NotFound(f"job {job.pk} has no export file (yet)")
    if Path(settings.EXPORT_DIR).resolve() not in path.resolve().parents:
        raise NotFound(f"job {job.pk}'s file is outside the export directory")
    return path, job.result.get("filename", path.name)


def campaign_jobs(*, campaign: Campaign, kinds: tuple[str, ...], limit: int | None = 20) -> tuple[list[Job], int]:
    """The campaign's latest jobs of these kinds (all with limit None), newest first, and how many there are."""
    jobs = (Job.objects.filter(campaign=campaign, kind__in=kinds).select_related("campaign")
            .order_by("-created_at", "-pk"))
    return list(jobs if limit is None else jobs[:limit]), jobs.count()

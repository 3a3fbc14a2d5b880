"""Manager pages. Interfaces only: parse, call a service or selector, render.

Every page requires the campaign's manager role (or admin); anyone else gets
403, including annotators of the campaign.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from labeling import extensions
from labeling.dashboard import campaign_selectors as csel
from labeling.dashboard import charts
from labeling.dashboard import selectors as sel
from labeling.dashboard.error_types import error_type_report
from labeling.dashboard.prelabels import prelabel_report
from labeling.errors import Forbidden, LabelingError, NotFound, ValidationFailed
from labeling.exporting.filters import params_from_querydict
from labeling.exporting.formats import AGGREGATIONS, DIRECTORY_FORMATS, EXPORT_FORMATS
from labeling.importing.formats import FORMATS
from labeling.models import Adjudication, Assignment, Job, Membership
from labeling.quality.metrics import agreed_prefix
from labeling.services import adjudication as adj_svc
from labeling.services import agreement as agreement_svc
from labeling.services import jobs as job_svc
from labeling.services import quality as qc_svc
from labeling.services import segments as seg_svc
from labeling.services.exports import export_lines, export_options_parse
from labeling.services.jobs import IMPORT_LABELS


def manager_page(view):
    """Resolve `slug` to a campaign the user manages; 403 otherwise, 404 for no such campaign."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        try:
            campaign = sel.campaign_for_manager(user=request.user, slug=slug)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except NotFound as exc:
            raise Http404(exc.message) from exc
        return view(request, campaign, *args, **kwargs)

    return wrapper


def adjudicator_page(view):
    """Like manager_page, but designated experts (Membership.can_adjudicate) get in too."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        try:
            campaign = sel.campaign_by_slug(slug=slug)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        if not adj_svc.can_adjudicate(user=request.user, campaign=campaign):
            raise PermissionDenied("only managers and designated experts of this campaign adjudicate")
        return view(request, campaign, *args, **kwargs)

    return wrapper


def svg(markup: str):
    # charts.* escape every data-derived string themselves.
    return mark_safe(markup)  # noqa: S308


@login_required
def index(request):
    campaigns = list(sel.managed_campaigns(user=request.user))
    can_create = csel.can_create_campaigns(user=request.user)
    if not campaigns and not can_create:
        raise PermissionDenied("you do not manage any campaign")
    rows = [{"campaign": c, "o": sel.overview(campaign=c)} for c in campaigns]
    return render(request, "dashboard/index.html", {"rows": rows, "can_create": can_create})


def _queue_label(q: dict) -> str:
    """"convincing_wrong · v2": the generation is shown only where it differs from the model version
    (the refill sets both; an import can carry its own generation)."""
    label = q["queue_strategy"] or "import"
    version = q["queue_model_version"] or ""
    if version:
        label += f" · {version}"
    if q["queue_generation"] is not None and version != f"v{q['queue_generation']}":
        label += f" · gen {q['queue_generation']}"
    return label


def _overview_charts(o: dict) -> dict:
    fe = [("no error" if idx is None else f"step {idx + 1}", n) for idx, n in o["first_errors"]]
    reasons = [(k.replace("_", " "), v) for k, v in o["finish_reasons"].items()]
    queue = [(_queue_label(q), q["n"]) for q in o["queue"]]
    r = o["ratings"]
    return {
        "ratings": svg(charts.stacked_bar(
            [("positive", r["positive"], "rating-pos"), ("neutral", r["neutral"], "rating-neu"),
             ("negative", r["negative"], "rating-neg")], title="Step ratings", width=520)),
        "first_errors": svg(charts.bar_chart(fe[:25], title="First-error position", width=520)),
        "reasons": svg(charts.hbar_chart(reasons, title="Finish reasons", width=520)),
        "hours": svg(charts.bar_chart(o["hours_today"], title="Labels per hour today", width=520, height=180)),
        "days": svg(charts.bar_chart(o["days"], title="Labels per day, last 7 days", width=520, height=180)),
        "queue": svg(charts.hbar_chart(queue, title="Open queue by strategy, model and generation", width=520)),
    }


@manager_page
def overview(request, campaign):
    o = sel.overview(campaign=campaign)
    snap = sel.agreement_latest(campaign=campaign)
    return render(request, "dashboard/overview.html", {
        "campaign": campaign, "o": o, "charts": _overview_charts(o), "snap": snap, "tab": "overview",
        "behind": sel.agreement_behind(campaign=campaign, snapshot=snap),
        "panels": [render_to_string(p.template, {"campaign": campaign, **p.context(campaign)}, request=request)
                   for p in extensions.overview_panels()],
    })


@require_POST
@manager_page
def agreement_refresh(request, campaign):
    if agreement_svc.agreement_refresh_request(campaign=campaign):
        messages.success(request, "agreement is being recomputed by a worker: reload in a moment")
    else:
        messages.success(request, "agreement is up to date: it counts every submitted label")
    back = "dashboard:overview" if request.POST.get("back") == "overview" else "dashboard:annotators"
    return redirect(back, slug=campaign.slug)


@manager_page
def overview_json(request, campaign):
    return JsonResponse(sel.overview(campaign=campaign, headline_only=True))


@manager_page
def annotators(request, campaign):
    sort = request.GET.get("sort", "-tasks")
    rows = sel.annotator_rows(campaign=campaign, sort=sort)
    snap = sel.agreement_latest(campaign=campaign)
    return render(request, "dashboard/annotators.html", {
        "campaign": campaign, "rows": rows, "sort": sort, "snap": snap, "pairs": sel.agreement_pairs(snapshot=snap),
        "behind": sel.agreement_behind(campaign=campaign, snapshot=snap),
        "tab": "annotators", "errors": error_type_report(campaign=campaign),
        "prelabels": prelabel_report(campaign=campaign),
        "columns": [("name", "Annotator"), ("status", "Status"), ("tasks", "Tasks"), ("steps", "Steps"),
                    ("today", "Today"), ("median_step_s", "Median s/step"), ("median_task_s", "Median s/task"),
                    ("qc_accuracy", "QC accuracy"), ("agreement", "Agreement α"),
                    ("give_up_rate", "Give-up"), ("bad_problem_rate", "Bad problem"), ("last_active", "Last active")],
    })


@manager_page
def annotator(request, campaign, user_id: int):
    detail = sel.annotator_detail(campaign=campaign, user_id=user_id)
    if detail["membership"] is None and not detail["recent"]:
        raise Http404("no such annotator in this campaign")
    rows = sel.annotator_rows(campaign=campaign, user_id=user_id)
    row = rows[0] if rows else None
    return render(request, "dashboard/annotator.html", {
        "campaign": campaign, "detail": detail, "row": row, "tab": "annotators",
        "statuses": Membership.Status.values,
    })


@require_POST
@manager_page
def annotator_status(request, campaign, user_id: int):
    try:
        qc_svc.membership_status_set(campaign=campaign, member_id=user_id, status=request.POST.get("status", ""),
                                     by=request.user, reason=request.POST.get("reason", ""))
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"status set to {request.POST.get('status')}")
    return redirect("dashboard:annotator", slug=campaign.slug, user_id=user_id)


@adjudicator_page
def adjudication(request, campaign):
    status = request.GET.get("status", "open")
    if status not in Adjudication.Status.values:
        status = "open"
    return render(request, "dashboard/adjudication.html", {
        "campaign": campaign, "items": sel.adjudication_queue(campaign=campaign, status=status), "status": status,
        "tab": "adjudication", "expert_only": not sel.is_manager(user=request.user, campaign=campaign),
    })


@require_POST
@manager_page
def adjudication_rescan(request, campaign):
    n = adj_svc.adjudications_sync(campaign=campaign)
    messages.success(request, f"{n} new disagreement(s) queued")
    return redirect("dashboard:adjudication", slug=campaign.slug)


def _form_ratings(post, n_steps: int) -> list[int | None]:
    out: list[int | None] = []
    for i in range(n_steps):
        raw = post.get(f"step-{i}", "")
        out.append(int(raw) if raw in ("-1", "0", "1") else None)
    return out


@adjudicator_page
def review(request, campaign, solution_id: int):
    try:
        data = sel.solution_review(campaign=campaign, solution_id=solution_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    manager = sel.is_manager(user=request.user, campaign=campaign)
    refused = None  # a POST the service refused: the page comes back with what was entered
    if request.method == "POST":
        ratings = _form_ratings(request.POST, len(data["steps"]))
        action = request.POST.get("action", "resolve")
        try:
            if (action == "gold" or request.POST.get("as_gold")) and not manager:
                raise PermissionDenied("only campaign managers make gold items")
            if action == "gold":
                qc_svc.gold_set(campaign=campaign, solution=data["solution"], ratings=ratings, user=request.user,
                                note=request.POST.get("note", ""))
                messages.success(request, "saved as a gold item: it is now served at the campaign's QC rate")
            else:
                adj_svc.adjudication_resolve(
                    campaign=campaign, solution_id=solution_id, user=request.user, ratings=ratings,
                    note=request.POST.get("note", ""), as_gold=bool(request.POST.get("as_gold")),
                )
                messages.success(request, "resolution saved; exports with 'adjudicated' aggregation use it")
                nxt = sel.adjudication_queue(campaign=campaign, limit=1)
                if nxt and request.POST.get("next"):
                    return redirect("dashboard:review", slug=campaign.slug, solution_id=nxt[0].solution_id)
        except LabelingError as exc:
            refused = {"error": exc.message, "ratings": dict(enumerate(ratings)), "note": request.POST.get("note", ""),
                       "as_gold": bool(request.POST.get("as_gold")), "next": bool(request.POST.get("next"))}
        else:
            return redirect("dashboard:review", slug=campaign.slug, solution_id=solution_id)
    adj = data["adjudication"]
    prefilled = False
    if refused:
        preset = refused["ratings"]
    elif adj and adj.ratings:
        preset = dict(enumerate(adj.ratings))
    elif data["gold"]:
        preset = data["gold"]
    else:  # nothing saved yet: start from what every labeler agrees on, so only the disputed steps need a click
        preset = agreed_prefix([{i: r[0] for i, r in data["ratings"][a.pk].items()} for a in data["labelings"]],
                               len(data["steps"]))
        prefilled = bool(preset)
    rows = []
    for idx, text in data["steps"]:
        rows.append({
            "index": idx, "text": text,
            "labels": [data["ratings"][a.pk].get(idx, (None, None, None)) for a in data["labelings"]],
            "gold": data["gold"].get(idx), "preset": preset.get(idx),
            "corrections": [(a.annotator.username, t) for a in data["labelings"] for i, t in a.corrections if i == idx],
            "critiques": [(a.annotator.username, c) for a in data["labelings"] for c in a.critiques if c.step == idx],
        })
    return render(request, "dashboard/review.html", {
        "campaign": campaign, "data": data, "rows": rows, "tab": "adjudication",
        "is_manager": manager, "expert_only": not manager, "refused": refused, "prefilled": prefilled,
        "note": refused["note"] if refused else (adj.note if adj else ""),
        "as_gold": bool(refused and refused["as_gold"]), "next_checked": refused["next"] if refused else True,
    }, status=400 if refused else 200)


@manager_page
def data(request, campaign):
    jobs, jobs_total = sel.campaign_jobs(campaign=campaign, kinds=(Job.Kind.IMPORT, Job.Kind.EXPORT),
                                         limit=None if request.GET.get("jobs") == "all" else 20)
    return render(request, "dashboard/data.html", {
        "campaign": campaign, "tab": "data", "import_formats": FORMATS, "export_formats": EXPORT_FORMATS,
        "aggregations": AGGREGATIONS, "jobs": jobs,
        "finish_reasons": Assignment.FinishReason.choices, "jobs_total": jobs_total,
        "max_mb": settings.IMPORT_UPLOAD_MAX_MB,
    })


def _import_labels(post) -> dict:
    """The form's "labels in the file" choice (labels, gold, none); a bare `as_gold` tick still means gold."""
    choice = post.get("labels") or ("gold" if post.get("as_gold") else "labels")
    if choice not in IMPORT_LABELS:
        raise ValidationFailed(f"labels must be one of {', '.join(IMPORT_LABELS)}")
    return {"as_gold": choice == "gold", "drop_labels": choice == "none"}


@require_POST
@manager_page
def import_create(request, campaign):
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "choose a JSONL file to import")
        return redirect("dashboard:data", slug=campaign.slug)
    try:
        job = job_svc.import_job_create(
            campaign=campaign, filename=upload.name, chunks=upload.chunks(), user=request.user,
            fmt=request.POST.get("format", "auto"), split=request.POST.get("split") or "blank",
            **_import_labels(request.POST),
        )
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"import job {job.pk} queued: {upload.name}")
    return redirect("dashboard:data", slug=campaign.slug)


@require_POST
@manager_page
def export_create(request, campaign):
    try:
        options = export_options_parse(params_from_querydict(request.POST))
        job = job_svc.export_job_create(campaign=campaign, user=request.user, options=options)
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"export job {job.pk} queued")
    return redirect("dashboard:data", slug=campaign.slug)


@manager_page
def export_stream(request, campaign):
    """Stream an export straight to the browser (no job, constant memory)."""
    params = params_from_querydict(request.GET)
    params.setdefault("format", "prm800k")
    try:
        options = export_options_parse(params)
        if options.fmt in DIRECTORY_FORMATS:
            raise ValidationFailed(f"{options.fmt} is a directory: create an export file (a .zip) instead")
        fmt, aggregate = options.fmt, options.resolved_aggregate
        lines = export_lines(campaign=campaign, fmt=fmt, options=options)
        first = next(lines, b"")
    except LabelingError as exc:
        return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status_code)

    def body():
        if first:
            yield first
        yield from lines

    resp = StreamingHttpResponse(body(), content_type="application/x-ndjson")
    resp["Content-Disposition"] = f'attachment; filename="{campaign.slug}-{fmt}-{aggregate}.jsonl"'
    return resp


def _job(campaign, job_id: int) -> Job:
    try:
        return sel.campaign_job(campaign=campaign, job_id=job_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@manager_page
def job_json(request, campaign, job_id: int):
    job = _job(campaign, job_id)
    download = (
        reverse("dashboard:job-download", kwargs={"slug": campaign.slug, "job_id": job.pk})
        if job.kind == Job.Kind.EXPORT and job.status == Job.Status.SUCCEEDED else None
    )
    return JsonResponse({
        "id": job.pk, "kind": job.kind, "status": job.status, "done": job.progress_done, "total": job.progress_total,
        "error": job.error, "summary": job.result.get("summary", ""), "rows": job.result.get("rows"),
        "download": download,
    })


@manager_page
def job_download(request, campaign, job_id: int):
    job = _job(campaign, job_id)
    try:
        path, name = sel.job_export_file(job=job)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name)


@require_POST
@manager_page
def version_adopt(request, campaign, solution_id: int):
    """Adopt a re-segmented version (step split and merge) as the task's solution for later labelings."""
    try:
        task = seg_svc.solution_version_adopt(campaign=campaign, version_id=solution_id, user=request.user)
    except LabelingError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:review", slug=campaign.slug, solution_id=solution_id)
    messages.success(request, f"solution {solution_id} is now served in place of solution "
                              f"{task.solution.parent_id}; labels already given keep their segmentation")
    return redirect("dashboard:review", slug=campaign.slug, solution_id=solution_id)

"""The grader review pages: solutions whose final-answer verdict a person decides. Interfaces only."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling.dashboard import selectors as sel
from labeling.dashboard.grader_selectors import grader_review_queue
from labeling.dashboard.views import adjudicator_page, manager_page
from labeling.errors import LabelingError, ValidationFailed
from labeling.models import GraderReview
from labeling.services import grader_review as svc


@adjudicator_page
def grader(request, campaign):
    status = request.GET.get("status", "open")
    if status not in GraderReview.Status.values:
        status = "open"
    items = grader_review_queue(campaign=campaign, status=status)
    return render(request, "dashboard/grader.html", {
        "campaign": campaign, "items": items, "status": status, "tab": "grader",
        "expert_only": not sel.is_manager(user=request.user, campaign=campaign),
    })


@require_POST
@adjudicator_page
def grader_resolve(request, campaign, solution_id: int):
    verdict = {"correct": True, "wrong": False}.get(request.POST.get("verdict", ""))
    try:
        if verdict is None:
            raise ValidationFailed("choose whether the answer is correct or wrong")
        svc.grader_review_resolve(campaign=campaign, solution_id=solution_id, user=request.user, verdict=verdict,
                                  note=request.POST.get("note", ""))
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"solution {solution_id}: the answer is now {'correct' if verdict else 'wrong'}"
                                  " for exports and training")
    return redirect("dashboard:grader", slug=campaign.slug)


@require_POST
@manager_page
def grader_scan(request, campaign):
    n = svc.grader_reviews_scan(campaign=campaign)
    messages.success(request, f"{n} solution(s) the grader could not decide queued")
    return redirect("dashboard:grader", slug=campaign.slug)

"""Read-only queries used by views and the API."""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from rest_framework.authtoken.models import Token

from labeling.errors import NotFound
from labeling.models import Assignment, Campaign, Step, StepAlternative, StepLabel, Task
from labeling.services.prelabels import step_hints

EMPTY_UI = {"cursor": 0, "flags": [], "history": []}


def api_token_of(*, user) -> Token | None:
    """The person's API token, if they made one."""
    return Token.objects.filter(user=user).first()


def can_create_campaigns(*, user) -> bool:
    """Whether `user` may create campaigns (and so let others): the labeling.add_campaign permission."""
    return bool(user is not None and user.is_authenticated and user.is_active
                and user.has_perm("labeling.add_campaign"))


def campaigns_for_user(*, user):
    """Campaigns the user belongs to, with pool and progress counts (one query). Gold items are not counted:
    an annotator never learns how many there are, and the figures match the dashboard's pool."""
    return (
        Campaign.objects.filter(memberships__user=user)
        .exclude(status=Campaign.Status.ARCHIVED)
        .annotate(
            role=F("memberships__role"),
            can_adjudicate=F("memberships__can_adjudicate"),
            pool=Count("tasks", filter=Q(tasks__is_gold=False), distinct=True),
            done=Count("tasks", filter=Q(tasks__is_gold=False, tasks__completed__gte=F("overlap")), distinct=True),
        )
        .order_by("slug")
    )


def campaign_for_member(*, user, slug: str) -> Campaign:
    """The campaign if `user` is a member; NotFound otherwise (no existence leak)."""
    campaign = Campaign.objects.filter(slug=slug, memberships__user=user).first()
    if campaign is None:
        raise NotFound(f"no campaign '{slug}' for you")
    return campaign


def _remaining_for(*, user, campaign: Campaign) -> int:
    """Tasks this annotator may still be given, counted as assignment_next serves them.

    A new open task, the one they hold (shown or fetched ahead: it is not done
    yet), and one of theirs that expired while the task still has room (it is
    re-let to them, drafts intact). Gold items are left out, as everywhere an
    annotator can see.
    """
    # Two disjoint counts (untouched tasks; tasks with an assignment of theirs), so the
    # first keeps to the open-task index instead of walking the whole pool.
    theirs = Assignment.objects.filter(task_id=OuterRef("pk"), annotator=user)
    untouched = Task.objects.filter(campaign=campaign, is_open=True, is_gold=False).filter(~Exists(theirs)).count()
    held = Assignment.objects.filter(campaign=campaign, annotator=user, task__is_gold=False).filter(
        Q(status=Assignment.Status.LEASED) | Q(status=Assignment.Status.EXPIRED, task__is_open=True)
    ).values("task_id").distinct().count()
    return untouched + held


def annotator_campaign_stats(*, user) -> list[dict]:
    """Per campaign of the user: done today, done in total, and tasks still open to them."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for c in campaigns_for_user(user=user):
        mine = Assignment.objects.filter(campaign=c, annotator=user, status=Assignment.Status.SUBMITTED)
        remaining = _remaining_for(user=user, campaign=c)
        out.append(
            {
                "campaign": c,
                "slug": c.slug,
                "name": c.name,
                "mode": c.mode,
                "role": c.role,
                "can_adjudicate": c.can_adjudicate,
                "done_today": mine.filter(submitted_at__gte=start).count(),
                "done_total": mine.count(),
                "remaining": remaining,
                "pool": c.pool,
                "fully_labeled": c.done,
            }
        )
    return out


def assignment_payload(*, assignment) -> dict:
    """What the labeling page shows for one assignment. Never reveals QC/gold status."""
    a = assignment
    campaign = a.campaign
    solution = a.solution
    problem = solution.problem
    steps = list(solution.steps.order_by("index").values_list("text", flat=True))
    labels = {
        row[0]: row[1:]
        for row in StepLabel.objects.filter(assignment=a).values_list(
            "step__index", "rating", "flagged", "critique", "error_types"
        )
    }
    unlabeled = (None, False, "", [])
    correction = (
        StepAlternative.objects.filter(assignment=a, kind=StepAlternative.Kind.HUMAN)
        .values_list("text", flat=True)
        .first()
    )
    draft = a.extra.get("draft", {})
    # Suggestions only where the page is meant to show them; gold and screening items never carry
    # them (the hints stored for the bias report's control group stay on the server).
    hints = step_hints(a) if a.prelabel_shown and not a.is_quality_control and not a.is_screening else None
    segments = a.extra.get("segments") if a.edited_from_id else None
    return {
        "id": a.pk,
        "campaign": campaign.slug,
        "status": a.status,
        "mode": campaign.mode,
        "reveal": campaign.reveal,
        "allow_corrections": campaign.allow_corrections,
        "critique": campaign.critique,
        "error_types": campaign.error_types,
        "error_taxonomy": [
            {"key": t["key"], "label": t["label"], "description": t.get("description", "")}
            for t in campaign.error_taxonomy or []
        ] if campaign.error_types != "off" else [],
        "lease_expires_at": a.lease_expires_at.isoformat() if a.lease_expires_at else None,
        "shown": a.shown_at is not None,
        "problem": problem.text,
        "ground_truth_answer": problem.ground_truth_answer if campaign.show_ground_truth else None,
        "steps": [
            {
                "index": i,
                "text": text,
                "rating": labels.get(i, unlabeled)[0],
                "flagged": bool(labels.get(i, unlabeled)[1]),
                "critique": labels.get(i, unlabeled)[2],
                "error_types": list(labels.get(i, unlabeled)[3]),
                "suggested": hints[i] if hints and i < len(hints) else None,
            }
            for i, text in enumerate(steps)
        ],
        "corrected_step": correction or draft.get("corrected_step", ""),
        "note": a.finish_note or draft.get("note", ""),
        "finish_reason": a.finish_reason,
        "active_ms": a.active_ms,
        "ui": draft.get("ui") or EMPTY_UI,
        "suggestions": bool(hints),
        "segments": segments,
        "served_steps": list(Step.objects.filter(solution_id=a.edited_from_id).order_by("index")
                             .values_list("text", flat=True)) if segments else None,
        # The served steps' suggestions, so a step cut and joined back gets its suggestion again.
        "served_suggested": a.prelabel_hints if segments and hints is not None else None,
    }

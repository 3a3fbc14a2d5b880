"""Reads behind the campaign settings and members pages (and their API)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from labeling.errors import ValidationFailed
from labeling.models import Assignment, Campaign, Invite, Membership, Task
from labeling.selectors import can_create_campaigns  # noqa: F401 - the dashboard's name for it
from labeling.services.campaigns import SETTINGS


def campaign_settings(*, campaign: Campaign) -> dict:
    """Every setting a manager edits, plus status and pool counts."""
    pool = Task.objects.filter(campaign=campaign).aggregate(
        tasks=Count("pk"), open=Count("pk", filter=Q(is_open=True, is_gold=False)),
        gold=Count("pk", filter=Q(is_gold=True)),
    )
    out = {"slug": campaign.slug, "status": campaign.status}
    for name in SETTINGS:
        value = getattr(campaign, name)
        out[name] = str(value) if name == "hourly_rate" and value is not None else value
    out.update({
        "created_at": campaign.created_at.isoformat(),
        "created_by": campaign.created_by.get_username() if campaign.created_by else None,
        "members": Membership.objects.filter(campaign=campaign).count(),
        "pool": pool,
    })
    return out


def campaign_members(*, campaign: Campaign) -> list[dict]:
    """Members with role, status, expert flag, whether an invite is still open, and their submitted labels."""
    now = timezone.now()
    open_invite = Invite.objects.filter(user_id=OuterRef("user_id"), used_at__isnull=True, expires_at__gt=now)
    labels = dict(
        Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED)
        .values_list("annotator_id").annotate(n=Count("pk")).values_list("annotator_id", "n")
    )
    rows = (
        Membership.objects.filter(campaign=campaign)
        .select_related("user")
        .annotate(invited=Exists(open_invite))
        .order_by("role", "user__username")
    )
    return [
        {
            "user_id": m.user_id, "username": m.user.get_username(), "email": m.user.email, "role": m.role,
            "role_name": "expert" if m.role == Membership.Role.ANNOTATOR and m.can_adjudicate else m.role,
            "expert": m.can_adjudicate, "status": m.status, "status_reason": m.status_reason,
            "invite_pending": m.invited and not m.user.has_usable_password(), "labels": labels.get(m.user_id, 0),
            "hourly_rate": str(m.hourly_rate) if m.hourly_rate is not None else None,
        }
        for m in rows
    ]


def user_id_for(*, campaign: Campaign, who: str) -> int:
    """The id of the campaign's member or past labeler named by username (first) or user id.

    ValidationFailed (a 400 naming the parameter) when it names no one there; people outside
    the campaign are never looked up, so the answer says nothing about other campaigns.
    """
    text = who.strip()
    people = get_user_model().objects.filter(
        Q(memberships__campaign=campaign) | Q(assignments__campaign=campaign)).distinct()
    found = people.filter(username=text).values_list("pk", flat=True).first()
    if found is None and text.isascii() and text.isdigit():
        found = people.filter(pk=int(text)).values_list("pk", flat=True).first()
    if found is None:
        raise ValidationFailed(f"annotator: no one called {text!r} in this campaign",
                               details={"annotator": ["no such member"]})
    return found

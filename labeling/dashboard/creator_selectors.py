"""Reads behind the Campaign creators page and its API."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from labeling.dashboard.history import event_actors
from labeling.services.creators import creator_permission, creators_queryset

User = get_user_model()


def _events():
    return (apps.get_model("labeling", "UserPermissionEvent").objects
            .filter(permission_id=creator_permission().pk).select_related("pgh_context"))


def _by(events) -> dict[int, str | None]:
    return {pgh_id: name for pgh_id, (name, _url) in event_actors(events).items()}


def campaign_creators(*, viewer) -> list[dict]:
    """Everyone who can create campaigns, by username: how (granted here, a group, administrator),
    who granted it and when (where the audit trail has it), and how many campaigns they manage.

    The list spans every campaign, so an email address (personal data; a username is enough
    to grant or revoke) is shown only to administrators and to its owner; others get None."""
    perm = creator_permission()
    users = (creators_queryset()
             .annotate(managing=Count("memberships", filter=Q(memberships__role="manager"), distinct=True))
             .order_by("username"))
    direct = set(perm.user_set.values_list("pk", flat=True))
    groups: dict[int, list[str]] = {}
    for uid, name in User.objects.filter(groups__permissions=perm).values_list("pk", "groups__name"):
        groups.setdefault(uid, []).append(name)
    grants = list(_events().filter(pgh_label="permission.granted").order_by("-pgh_id"))
    by = _by(grants)
    latest = {}
    for e in grants:
        latest.setdefault(e.user_id, e)
    rows = []
    for u in users:
        e = latest.get(u.pk) if u.pk in direct else None
        rows.append({
            "user_id": u.pk, "username": u.get_username(),
            "email": u.email if viewer.is_superuser or viewer.pk == u.pk else None,
            "how": "granted" if u.pk in direct else "group" if u.pk in groups else "administrator",
            "groups": sorted(groups.get(u.pk, [])), "is_superuser": u.is_superuser,
            "revocable": u.pk in direct,
            "granted_by": by.get(e.pgh_id) if e else None,
            "granted_at": e.pgh_created_at if e else None,
            "managing": u.managing, "last_login": u.last_login,
        })
    return rows


def creator_changes(*, limit: int = 50) -> list[dict]:
    """Grants and revokes, newest first, with who made them."""
    events = list(_events().order_by("-pgh_id")[:limit])
    by = _by(events)
    names = dict(User.objects.filter(pk__in={e.user_id for e in events}).values_list("pk", "username"))
    return [{"at": e.pgh_created_at, "change": "granted" if e.pgh_label == "permission.granted"
             else "revoked", "username": names.get(e.user_id), "by": by.get(e.pgh_id)} for e in events]


def creator_candidates(*, user) -> list[str]:
    """Usernames to suggest: managers and experts of the campaigns `user` manages who cannot create campaigns."""
    Membership = apps.get_model("labeling", "Membership")
    mine = Membership.objects.filter(user=user, role="manager").values("campaign_id")
    people = (Membership.objects.filter(campaign_id__in=mine, user__is_active=True)
              .filter(Q(role="manager") | Q(can_adjudicate=True))
              .exclude(user_id__in=creators_queryset().values("pk"))
              .values_list("user__username", flat=True).distinct())
    return sorted(people)

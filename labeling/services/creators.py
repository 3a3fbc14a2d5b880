"""Who may create campaigns: grant and revoke the labeling.add_campaign permission.

Anyone who can create campaigns may let colleagues do the same, so a lab never
needs an administrator or a shell to add a campaign manager. The permission
stays Django's (the admin, groups and superusers keep working); grants and
revokes are recorded by a trigger on auth's table (labeling.models.access).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q

from labeling.errors import Conflict, Forbidden, NotFound, ValidationFailed
from labeling.selectors import can_create_campaigns
from labeling.services.users import user_find

User = get_user_model()
MAX_PEOPLE = 100


def creator_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="labeling", codename="add_campaign")


def creators_queryset():
    """Active, non-imported accounts that can create campaigns: directly, through a group, or as superusers."""
    perm = creator_permission()
    return (User.objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(user_permissions=perm) | Q(groups__permissions=perm))
            .exclude(profile__is_external=True).distinct())


@transaction.atomic
def campaign_creator_grant(*, user) -> None:
    """Let `user` create campaigns (the labeling.add_campaign permission); idempotent. No check of who asks:
    for set-up code (the demo, operators' commands). People go through campaign_creators_add."""
    user.user_permissions.add(creator_permission())


@transaction.atomic
def campaign_creators_add(*, who: list[str], by) -> list[dict]:
    """Let the people named (usernames or email addresses of existing accounts) create campaigns.

    Invariants: only someone who can create campaigns may grant it; all or nothing (an unknown,
    inactive or imported account refuses the whole list, naming it); idempotent per person;
    returns one row per person, `granted` false where they already could.
    """
    if not can_create_campaigns(user=by):
        raise Forbidden("letting others create campaigns needs the labeling.add_campaign permission yourself")
    names = list(dict.fromkeys(w.strip() for w in who if w and w.strip()))
    if not names:
        raise ValidationFailed("name at least one person (a username or an email address)",
                               details={"who": ["empty"]})
    if len(names) > MAX_PEOPLE:
        raise ValidationFailed(f"at most {MAX_PEOPLE} people at a time", details={"who": ["too many"]})
    users, problems = [], {}
    for name in names:
        user = None if "\x00" in name or len(name) > 254 else user_find(name)
        if user is None:
            problems[name] = ["no such account: add them to a campaign first (that invites them), then here"]
        elif not user.is_active or getattr(getattr(user, "profile", None), "is_external", False):
            problems[name] = ["this account cannot log in"]
        else:
            users.append((name, user))
    if problems:
        first = next(iter(problems))
        raise ValidationFailed(f"{first}: {problems[first][0]}",
                               details={"who": [f"{name}: {msgs[0]}" for name, msgs in problems.items()]})
    _lock_holders(also=[by.pk])
    if not can_create_campaigns(user=User.objects.get(pk=by.pk)):
        raise Forbidden("letting others create campaigns needs the labeling.add_campaign permission yourself")
    perm = creator_permission()
    rows, seen = [], set()
    for name, user in users:
        if user.pk in seen:  # the same person by username and by email
            continue
        seen.add(user.pk)
        # A fresh object: has_perm caches per instance.
        already = can_create_campaigns(user=User.objects.get(pk=user.pk))
        if not already:
            user.user_permissions.add(perm)
        rows.append({"who": name, "user_id": user.pk, "username": user.get_username(), "granted": not already})
    return rows


def _checked_name(username: str) -> str:
    if not isinstance(username, str) or not username or len(username) > 150 or "\x00" in username:
        raise NotFound("no such account")
    return username


def _lock_holders(*, also: list[int]) -> list:
    """Lock every account that can create campaigns, and `also`, in one pk-ordered statement: two revokes
    at once then queue behind each other instead of deadlocking, and each sees the other's result."""
    return list(User.objects.select_for_update()
                .filter(Q(pk__in=creators_queryset().values("pk")) | Q(pk__in=also)).order_by("pk"))


@transaction.atomic
def campaign_creator_revoke(*, username: str, by) -> dict:
    """Take back someone's permission to create campaigns. Campaigns they made, and their roles in
    them, stay as they are.

    Invariants: only someone who can create campaigns may revoke, checked under the lock (a
    revoke of the caller committed meanwhile counts); only a direct grant can be taken back here
    (a superuser's or a group's permission is the administrator's: Conflict, naming it, where it
    is the only one); someone must still be able to create campaigns afterwards (Conflict);
    NotFound for an unknown username or someone who could not create campaigns anyway. The
    result's `still_can` says whether they keep it by another route.
    """
    username = _checked_name(username)
    if not can_create_campaigns(user=by):
        raise Forbidden("revoking needs the labeling.add_campaign permission yourself")
    target = User.objects.filter(username=username).values_list("pk", flat=True).first()
    if target is None:
        raise NotFound(f"no account '{username}'")
    _lock_holders(also=[target, by.pk])
    if not can_create_campaigns(user=User.objects.get(pk=by.pk)):
        raise Forbidden("revoking needs the labeling.add_campaign permission yourself (it was just taken back)")
    perm = creator_permission()
    user = User.objects.get(pk=target)
    direct = user.user_permissions.filter(pk=perm.pk).exists()
    groups = list(user.groups.filter(permissions=perm).values_list("name", flat=True))
    if not direct:
        if user.is_superuser:
            raise Conflict(f"'{username}' is an administrator: only the admin can change that")
        if groups:
            raise Conflict(f"'{username}' can create campaigns through the group {', '.join(groups)}: "
                           f"change it in the admin")
        raise NotFound(f"'{username}' cannot create campaigns")
    still_can = user.is_superuser or bool(groups)
    if not still_can and not creators_queryset().exclude(pk=user.pk).exists():
        raise Conflict(f"'{username}' is the last person who can create campaigns: let someone else first")
    user.user_permissions.remove(perm)
    return {"username": user.get_username(), "user_id": user.pk, "revoked": True, "still_can": still_can}

"""Staffing a campaign: add people by username or email (inviting new ones), remove them, accept invites."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from labeling.errors import NotFound, ValidationFailed
from labeling.models import Campaign, Invite, Membership
from labeling.services.accounts import user_password_set
from labeling.services.campaigns import MEMBER_ROLES, membership_remove, membership_set, user_create
from labeling.services.users import user_find

User = get_user_model()
log = logging.getLogger(__name__)

ROLES = MEMBER_ROLES
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERNAME = re.compile(r"^[\w.@+-]{1,150}$")
MAX_ENTRIES = 500


@dataclass(frozen=True)
class MemberEntry:
    who: str  # a username or an email address
    role: str = "annotator"


@dataclass
class MemberResult:
    who: str
    user_id: int
    username: str
    role: str
    created: bool  # a new account was made for them
    invite_url: str | None = None  # shown once to the manager when it was not mailed
    emailed: bool = False


def member_entries_parse(text: str, *, default_role: str = "annotator") -> list[MemberEntry]:
    """Parse a pasted list or CSV into people: `who, role` lines, or people separated by
    newlines, commas, tabs or spaces (with `default_role`).

    A header line naming the columns (`email,role`, `username,role`) is skipped.
    Refuses malformed entries, naming the line.
    """
    if default_role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    entries: list[MemberEntry] = []
    rows = csv.reader(io.StringIO(text.replace("\t", ",")))
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row if c.strip()]
        if len(cells) == 1 and " " in cells[0]:
            cells = cells[0].split()
        if not cells:
            continue
        if n == 1 and cells[0].lower() in ("email", "username", "user", "who", "name"):
            continue
        if len(cells) == 2 and cells[1].lower() in ROLES:
            pairs = [(cells[0], cells[1].lower())]  # CSV: who, role
        elif len(cells) > 1 and any(c.lower() in ROLES for c in cells[1:]):
            raise ValidationFailed(f"line {n}: expected 'username or email, role', got {len(cells)} fields")
        else:
            pairs = [(c, default_role) for c in cells]  # several people on one line
        for who, role in pairs:
            if not (EMAIL.match(who) or USERNAME.match(who)):
                raise ValidationFailed(f"line {n}: {who!r} is neither a username nor an email address")
            entries.append(MemberEntry(who=who, role=role))
    if len(entries) > MAX_ENTRIES:
        raise ValidationFailed(f"at most {MAX_ENTRIES} people at a time")
    return entries


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_username(who: str) -> str:
    base = who.split("@")[0] if EMAIL.match(who) else who
    base = (re.sub(r"[^\w.+-]", "", base.lower()) or "member")[:140]
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _mail_invite(*, to: str, username: str, campaign_name: str, inviter: str, url: str) -> None:
    try:
        send_mail(
            subject=f"You are invited to label for {campaign_name}",
            message=(f"{inviter} added you to the labeling campaign \"{campaign_name}\".\n\n"
                     f"Set your password and start here (the link works once, for {settings.INVITE_DAYS} days):\n"
                     f"{url}\n\nYour username is {username}.\n"),
            from_email=None, recipient_list=[to],
        )
    except Exception:  # noqa: BLE001 - the member and invite exist; the manager can send the link again
        log.exception("could not mail the invite to %s", to)


def _invite(*, user, campaign: Campaign, by, base_url: str) -> tuple[str, bool]:
    """A fresh one-time link for `user` (their earlier unused ones stop working).

    Mailed after commit when email is configured (a rolled-back request
    sends nothing), else returned for the manager to pass on.
    """
    now = timezone.now()
    Invite.objects.filter(user=user, used_at__isnull=True).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    Invite.objects.create(
        user=user, campaign=campaign, token_hash=_hash(token), created_by=by,
        expires_at=now + timedelta(days=settings.INVITE_DAYS), emailed=bool(settings.EMAIL_ENABLED and user.email),
    )
    url = f"{base_url.rstrip('/')}/invite/{token}/"
    if settings.EMAIL_ENABLED and user.email:
        mail = {"to": user.email, "username": user.get_username(), "campaign_name": campaign.name,
                "inviter": by.get_username() if by is not None else "A campaign manager", "url": url}
        transaction.on_commit(lambda: _mail_invite(**mail))
        return url, True
    return url, False


def _may_reinvite(user, campaign: Campaign) -> bool:
    """Whether this campaign may issue a new link for an existing account without a password.

    Only for its own invitee (the last invite was this campaign's): a link sets
    the account's password, so no other campaign's manager may ever get one.
    """
    last = Invite.objects.filter(user=user).order_by("-created_at").first()
    return last is not None and last.campaign_id == campaign.pk and last.used_at is None


def _refuse_account(user, n: int, who: str) -> None:
    profile = getattr(user, "profile", None)
    if not user.is_active or (profile is not None and profile.is_external):
        raise ValidationFailed(f"entry {n}: '{who}' is not an account that can label (disabled or an imported "
                               "labeler's record)")


@transaction.atomic
def members_add(*, campaign: Campaign, entries: list[MemberEntry], by, base_url: str) -> list[MemberResult]:
    """Add people to a campaign by username or email, one or many.

    Invariants: all or nothing (an unknown username that is not an email,
    say, refuses the whole list with its line); a known person keeps their
    account and password; an unknown email gets an account with no usable
    password and a one-time invite link (mailed after commit when email is
    configured, else returned for the manager to pass on); a link is only
    ever issued for an account this campaign invited (never for someone
    else's invitee, an imported labeler or a disabled account: a link sets a
    password); re-adding a member changes their role but never demotes a
    manager; new annotators start in screening when the campaign screens.
    """
    results: list[MemberResult] = []
    done: set[int] = set()
    for n, e in enumerate(entries, start=1):
        user = user_find(e.who)
        created = False
        if user is None:
            if not EMAIL.match(e.who):
                raise ValidationFailed(
                    f"entry {n}: there is no user '{e.who}'; give an email address to invite someone new"
                )
            user = user_create(username=_new_username(e.who), password=None, email=e.who)
            created = True
        else:
            _refuse_account(user, n, e.who)
        if user.pk in done:
            continue  # the same person twice in one list
        done.add(user.pk)
        current = Membership.objects.filter(campaign=campaign, user=user).values_list("role", flat=True).first()
        role = Membership.Role.MANAGER if e.role == "manager" or current == Membership.Role.MANAGER \
            else Membership.Role.ANNOTATOR
        membership_set(campaign=campaign, user=user, role=role, can_adjudicate=e.role == "expert" or None)
        url, emailed = (None, False)
        if created or (not user.has_usable_password() and _may_reinvite(user, campaign)):
            url, emailed = _invite(user=user, campaign=campaign, by=by, base_url=base_url)
        results.append(MemberResult(who=e.who, user_id=user.pk, username=user.get_username(),
                                    role=role if role == Membership.Role.MANAGER else e.role,
                                    created=created, invite_url=None if emailed else url, emailed=emailed))
    return results


@transaction.atomic
def members_remove(*, campaign: Campaign, who: list[str]) -> int:
    """Take people off a campaign by username or email; their submitted work stays. Returns how many."""
    removed = 0
    members = Membership.objects.filter(campaign=campaign).select_related("user")
    for n, w in enumerate(who, start=1):
        # Among this campaign's members: an email may belong to several accounts.
        m = members.filter(user__username=w).first() or members.filter(user__email__iexact=w).first()
        if m is None:
            raise NotFound(f"entry {n}: '{w}' is not a member of campaign '{campaign.slug}'")
        removed += membership_remove(campaign=campaign, user=m.user)
    return removed


def invite_lookup(*, token: str) -> Invite:
    """The open invite for `token`; NotFound when it is unknown, used or expired."""
    invite = Invite.objects.select_related("user", "campaign").filter(token_hash=_hash(token)).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= timezone.now():
        raise NotFound("this invite link is not valid any more: ask the campaign manager for a new one")
    return invite


@transaction.atomic
def invite_accept(*, token: str, password: str):
    """Set the invited person's password and use the link up. Returns the user.

    Invariants: a link works once; the password passes Django's validators.
    """
    invite = invite_lookup(token=token)
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    if invite.used_at is not None:
        raise NotFound("this invite link was already used")
    user = invite.user
    user_password_set(user=user, password=password)
    invite.used_at = timezone.now()
    invite.save(update_fields=["used_at"])
    return user

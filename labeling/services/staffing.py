"""Staffing a campaign: add people by username or email (inviting new ones), remove them, accept invites."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from labeling.errors import NotFound, ValidationFailed
from labeling.models import Campaign, Invite, Membership
from labeling.services.campaigns import membership_remove, membership_set, user_create

User = get_user_model()

ROLES = ("annotator", "manager", "expert")  # an expert is an annotator who may also adjudicate
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


def _find(who: str):
    user = User.objects.filter(username=who).first()
    if user is None and EMAIL.match(who):
        user = User.objects.filter(email__iexact=who).order_by("pk").first()
    return user


def _new_username(who: str) -> str:
    base = who.split("@")[0] if EMAIL.match(who) else who
    base = (re.sub(r"[^\w.+-]", "", base.lower()) or "member")[:140]
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _invite(*, user, campaign: Campaign, by, base_url: str) -> tuple[str, bool]:
    """A fresh one-time link (earlier unused ones stop working); mailed when email is configured."""
    now = timezone.now()
    Invite.objects.filter(user=user, used_at__isnull=True).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        user=user, campaign=campaign, token_hash=_hash(token), created_by=by,
        expires_at=now + timedelta(days=settings.INVITE_DAYS),
    )
    url = f"{base_url.rstrip('/')}/invite/{token}/"
    emailed = False
    if settings.EMAIL_ENABLED and user.email:
        inviter = by.get_username() if by is not None else "A campaign manager"
        send_mail(
            subject=f"You are invited to label for {campaign.name}",
            message=(f"{inviter} added you to the labeling campaign \"{campaign.name}\".\n\n"
                     f"Set your password and start here (the link works once, for {settings.INVITE_DAYS} days):\n"
                     f"{url}\n\nYour username is {user.get_username()}.\n"),
            from_email=None, recipient_list=[user.email],
        )
        emailed = True
        invite.emailed = True
        invite.save(update_fields=["emailed"])
    return url, emailed


@transaction.atomic
def members_add(*, campaign: Campaign, entries: list[MemberEntry], by, base_url: str) -> list[MemberResult]:
    """Add people to a campaign by username or email, one or many.

    Invariants: all or nothing (an unknown username that is not an email,
    say, refuses the whole list with its line); a known person keeps their
    account and password; an unknown email gets an account with no usable
    password and a one-time invite link (mailed when email is configured,
    else returned for the manager to pass on); new annotators start in
    screening when the campaign screens. Re-adding a member changes their role.
    """
    results: list[MemberResult] = []
    for n, e in enumerate(entries, start=1):
        user = _find(e.who)
        created = False
        if user is None:
            if not EMAIL.match(e.who):
                raise ValidationFailed(
                    f"entry {n}: there is no user '{e.who}'; give an email address to invite someone new"
                )
            user = user_create(username=_new_username(e.who), password=None, email=e.who)
            created = True
        role = Membership.Role.MANAGER if e.role == "manager" else Membership.Role.ANNOTATOR
        membership_set(campaign=campaign, user=user, role=role, can_adjudicate=e.role == "expert" or None)
        url, emailed = (None, False)
        if created or not user.has_usable_password():
            url, emailed = _invite(user=user, campaign=campaign, by=by, base_url=base_url)
        results.append(MemberResult(who=e.who, user_id=user.pk, username=user.get_username(), role=e.role,
                                    created=created, invite_url=None if emailed else url, emailed=emailed))
    return results


@transaction.atomic
def members_remove(*, campaign: Campaign, who: list[str]) -> int:
    """Take people off a campaign by username or email; their submitted work stays. Returns how many."""
    removed = 0
    for n, w in enumerate(who, start=1):
        user = _find(w)
        if user is None:
            raise NotFound(f"entry {n}: no user '{w}'")
        removed += membership_remove(campaign=campaign, user=user)
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
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages)) from exc
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    invite.used_at = timezone.now()
    invite.save(update_fields=["used_at"])
    return user

"""Users, profiles and external labelers."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.models import Profile

User = get_user_model()


def user_find(who: str):
    """The account named by a username, or else by an email address (case-insensitive; the oldest
    account where several share it); None if there is none."""
    who = who.strip()
    user = User.objects.filter(username=who).first()
    if user is None and "@" in who:
        user = User.objects.filter(email__iexact=who).order_by("pk").first()
    return user


@transaction.atomic
def profile_get_or_create(*, user) -> Profile:
    """Every user has exactly one Profile (its PRM800K `labeler` id)."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


@transaction.atomic
def external_labelers_get_or_create(*, labelers: set[str], source: str) -> dict[str, int]:
    """Map external labeler ids (PRM800K UUIDs) to user ids, creating inactive users.

    Invariants: one user per (source, labeler); the users cannot log in; a
    UUID labeler keeps its UUID as `labeler_uid`, anything else is kept
    verbatim in `external_id` so exports give back the same string.
    """
    if not labelers:
        return {}
    by_uid = {lab: u for lab in labelers if (u := _as_uuid(lab)) is not None}
    raw = labelers - set(by_uid)
    found: dict[str, int] = {}
    uid_to_label = {u: lab for lab, u in by_uid.items()}
    for p in Profile.objects.filter(labeler_uid__in=list(by_uid.values()), external_id="").only(
        "labeler_uid", "user_id"
    ):
        found[uid_to_label[p.labeler_uid]] = p.user_id
    for p in Profile.objects.filter(external_source=source, external_id__in=list(raw)).only(
        "external_id", "user_id"
    ):
        found[p.external_id] = p.user_id
    for lab in sorted(labelers - set(found)):
        uid = by_uid.get(lab)
        username = f"{source}-{lab}"[:150] if uid else f"{source}-{uuid.uuid4()}"
        user = User(username=username, is_active=False)
        user.set_unusable_password()
        user.save()
        Profile.objects.create(
            user=user,
            labeler_uid=uid or uuid.uuid4(),
            is_external=True,
            external_source=source,
            external_id="" if uid else lab,
        )
        found[lab] = user.pk
    return found

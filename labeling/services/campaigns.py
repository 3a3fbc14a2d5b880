"""Campaigns, memberships and user accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.errors import Conflict, ValidationFailed
from labeling.models import Campaign, Membership
from labeling.services.users import profile_get_or_create

User = get_user_model()


@transaction.atomic
def campaign_create(
    *,
    slug: str,
    name: str,
    mode: str = Campaign.Mode.FIRST_ERROR,
    reveal: str = Campaign.Reveal.ALL,
    overlap: int = 1,
    show_ground_truth: bool = True,
    qc_rate: float = 0.05,
    lease_minutes: int = 30,
    allow_corrections: bool = True,
    instructions: str = "",
    description: str = "",
    created_by=None,
) -> Campaign:
    """Create a campaign. Invariant: settings satisfy the model's check constraints."""
    if Campaign.objects.filter(slug=slug).exists():
        raise Conflict(f"a campaign with slug '{slug}' already exists")
    if mode not in Campaign.Mode.values:
        raise ValidationFailed(f"mode must be one of {', '.join(Campaign.Mode.values)}")
    if reveal not in Campaign.Reveal.values:
        raise ValidationFailed(f"reveal must be one of {', '.join(Campaign.Reveal.values)}")
    if overlap < 1:
        raise ValidationFailed("overlap must be at least 1")
    if not 0 <= qc_rate <= 1:
        raise ValidationFailed("qc_rate must be between 0 and 1")
    if lease_minutes < 1:
        raise ValidationFailed("lease_minutes must be at least 1")
    return Campaign.objects.create(
        slug=slug, name=name, mode=mode, reveal=reveal, overlap=overlap, show_ground_truth=show_ground_truth,
        qc_rate=qc_rate, lease_minutes=lease_minutes, allow_corrections=allow_corrections,
        instructions=instructions, description=description, created_by=created_by,
    )


@transaction.atomic
def membership_set(*, campaign: Campaign, user, role: str = Membership.Role.ANNOTATOR) -> Membership:
    """Make `user` a member of `campaign` with `role` (idempotent; updates the role).

    A new annotator of a campaign with a screening set starts in screening;
    an existing membership keeps its status.
    """
    if role not in Membership.Role.values:
        raise ValidationFailed(f"role must be one of {', '.join(Membership.Role.values)}")
    status = (
        Membership.Status.SCREENING
        if role == Membership.Role.ANNOTATOR and campaign.screening_size > 0
        else Membership.Status.ACTIVE
    )
    membership, created = Membership.objects.get_or_create(
        campaign=campaign, user=user, defaults={"role": role, "status": status}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def user_create(*, username: str, password: str | None, email: str = "", is_staff: bool = False,
                is_superuser: bool = False):
    """Create a login (with its labeler profile). Invariant: usernames are unique."""
    if User.objects.filter(username=username).exists():
        raise Conflict(f"user '{username}' already exists")
    user = User(username=username, email=email, is_staff=is_staff, is_superuser=is_superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    profile_get_or_create(user=user)
    return user

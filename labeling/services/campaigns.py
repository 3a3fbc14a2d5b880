"""Campaigns: create, change settings (applied to the existing pool), status; memberships; accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from labeling import extensions
from labeling.errors import Conflict, NotFound, ValidationFailed
from labeling.models import Assignment, Campaign, Membership, Task
from labeling.models.campaigns import MAX_ERROR_TYPES, RESERVED_SLUGS
from labeling.services.assignments import free_slot
from labeling.services.users import profile_get_or_create

User = get_user_model()

# The settings a manager edits, with how each is checked. Status has its own service.
SETTINGS = (
    "name", "description", "mode", "reveal", "overlap", "show_ground_truth", "qc_rate", "lease_minutes",
    "allow_corrections", "instructions", "screening_size", "screening_threshold", "autopause_window",
    "autopause_threshold", "hourly_rate", "critique", "error_types", "error_taxonomy",
    "prelabels", "prelabel_share", "prelabel_threshold",
)
# Status moves a manager may make; archived campaigns come back as closed.
STATUS_MOVES = {
    Campaign.Status.ACTIVE: {Campaign.Status.PAUSED, Campaign.Status.CLOSED},
    Campaign.Status.PAUSED: {Campaign.Status.ACTIVE, Campaign.Status.CLOSED},
    Campaign.Status.CLOSED: {Campaign.Status.ACTIVE, Campaign.Status.ARCHIVED},
    Campaign.Status.ARCHIVED: {Campaign.Status.CLOSED},
}


def _fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed(f"{name} must be a number between 0 and 1")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed(f"{name} must be a number between 0 and 1") from None
    if not 0 <= v <= 1:  # NaN fails this too
        raise ValidationFailed(f"{name} must be between 0 and 1")
    return v


def _int(name: str, value, *, low: int, high: int = 32767) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationFailed(f"{name} must be a whole number")
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed(f"{name} must be a whole number") from None
    if (isinstance(value, float) and v != value) or (isinstance(value, str) and str(v) != value.strip()):
        raise ValidationFailed(f"{name} must be a whole number")
    if not low <= v <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}")
    return v


def _bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    raise ValidationFailed(f"{name} must be true or false")


def _text(name: str, value, *, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be text")
    if required and not value.strip():
        raise ValidationFailed(f"{name} must not be empty")
    if len(value) > limit or "\x00" in value:
        raise ValidationFailed(f"{name} must be at most {limit:,} characters, without NUL characters")
    return value.strip() if required else value


def _rate(value) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed("hourly_rate must be an amount such as 42.50")
    try:
        v = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("hourly_rate must be an amount such as 42.50") from None
    if not v.is_finite() or v < 0 or v >= Decimal("1000000") or v.as_tuple().exponent < -2:
        raise ValidationFailed("hourly_rate must be an amount between 0 and 999999.99, in cents at most")
    return v


def taxonomy_clean(value) -> list[dict]:
    """An error taxonomy: 1 to 9 types (digits pick them), each {key, label, description?}.

    Keys are stored with the labels, so they are short slugs and unique; a label
    or description is what annotators read. A removed key stays on the labels
    that carry it (the dashboard lists it as it is).
    """
    if isinstance(value, str):
        # The dashboard's form: one type per line, "key: label: description" (description optional).
        rows = []
        for n, line in enumerate(value.splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(":", 2)]
            if len(parts) < 2:
                raise ValidationFailed(
                    f"error taxonomy line {n}: write it as 'key: label' or 'key: label: description'")
            rows.append({"key": parts[0], "label": parts[1], "description": parts[2] if len(parts) > 2 else ""})
        value = rows
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ERROR_TYPES:
        raise ValidationFailed(f"error_taxonomy must list 1 to {MAX_ERROR_TYPES} error types")
    out, seen = [], set()
    for i, t in enumerate(value):
        if not isinstance(t, dict) or set(t) - {"key", "label", "description"}:
            raise ValidationFailed(f"error_taxonomy[{i}] must be an object with key, label and description")
        key = t.get("key")
        if not isinstance(key, str) or slugify(key) != key or not 1 <= len(key) <= 32:
            raise ValidationFailed(f"error_taxonomy[{i}].key must be 1 to 32 lowercase letters, digits or hyphens")
        if key in seen:
            raise ValidationFailed(f"error_taxonomy: the key '{key}' appears twice")
        seen.add(key)
        label = _text(f"error_taxonomy[{i}].label", t.get("label"), limit=80, required=True)
        description = _text(f"error_taxonomy[{i}].description", t.get("description", ""), limit=300)
        out.append({"key": key, "label": label, "description": description.strip()})
    return out


def settings_clean(changes: dict) -> dict:
    """Check campaign settings; returns them converted. Unknown names are refused."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ValidationFailed(f"unknown campaign setting(s): {', '.join(unknown)}")
    out: dict = {}
    for name, value in changes.items():
        if name == "name":
            value = _text("name", value, limit=200, required=True)
        elif name in ("description", "instructions"):
            value = _text(name, value, limit=50000)
        elif name == "mode":
            if value not in Campaign.Mode.values:
                raise ValidationFailed(f"mode must be one of {', '.join(Campaign.Mode.values)}")
        elif name == "reveal":
            if value not in Campaign.Reveal.values:
                raise ValidationFailed(f"reveal must be one of {', '.join(Campaign.Reveal.values)}")
        elif name == "overlap":
            value = _int("overlap", value, low=1, high=100)
        elif name == "lease_minutes":
            value = _int("lease_minutes", value, low=1, high=7 * 24 * 60)
        elif name in ("screening_size", "autopause_window"):
            value = _int(name, value, low=0, high=1000)
        elif name == "prelabels":
            if value not in Campaign.Prelabels.values:
                raise ValidationFailed(f"prelabels must be one of {', '.join(Campaign.Prelabels.values)}")
        elif name in ("qc_rate", "screening_threshold", "autopause_threshold", "prelabel_share",
                      "prelabel_threshold"):
            value = _fraction(name, value)
        elif name in ("show_ground_truth", "allow_corrections"):
            value = _bool(name, value)
        elif name == "hourly_rate":
            value = _rate(value)
        elif name in ("critique", "error_types"):
            if value not in Campaign.Ask.values:
                raise ValidationFailed(f"{name} must be one of {', '.join(Campaign.Ask.values)}")
        elif name == "error_taxonomy":
            value = taxonomy_clean(value)
        out[name] = value
    return out


def _slug_clean(slug: str) -> str:
    slug = str(slug or "").strip()
    if not slug or slugify(slug) != slug or len(slug) > 64:
        raise ValidationFailed("slug must be 1 to 64 lowercase letters, digits, hyphens or underscores")
    if slug in RESERVED_SLUGS:
        raise ValidationFailed(f"'{slug}' is reserved: choose another slug")
    return slug


@transaction.atomic
def campaign_create(*, slug: str, name: str, created_by=None, **settings) -> Campaign:
    """Create a campaign; its creator becomes its manager.

    Invariants: the slug is unique and URL-safe; every setting passes
    settings_clean (so the model's check constraints hold); unknown settings
    are refused rather than ignored.
    """
    slug = _slug_clean(slug)
    if "status" in settings:
        raise ValidationFailed("a new campaign starts active: change its status once it exists")
    if Campaign.objects.filter(slug=slug).exists():
        raise Conflict(f"a campaign with slug '{slug}' already exists")
    values = settings_clean({"name": name, **settings})
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(slug=slug, created_by=created_by, **values)
    except IntegrityError:  # the same slug raced in
        raise Conflict(f"a campaign with slug '{slug}' already exists") from None
    if created_by is not None:
        membership_set(campaign=campaign, user=created_by, role=Membership.Role.MANAGER)
    return campaign


@transaction.atomic
def campaign_copy(*, source: Campaign, slug: str, name: str, created_by=None, members: bool = False,
                  **settings) -> tuple[Campaign, int]:
    """A new campaign made from `source`: the given settings (the form starts from source's), plus, with
    `members`, source's people with their roles, adjudication rights and hourly rates.

    Invariants: all or nothing (one transaction, copy hooks included); nothing of the
    source's pool is copied (no solution, task, label or gold item): the new campaign
    starts empty; a copied annotator joins as any new member does (in screening when
    the new campaign screens), except that someone paused there stays paused, with why;
    people whose accounts are inactive (imported PRM800K labelers) are not copied.
    Returns the campaign and how many people were added.
    """
    campaign = campaign_create(slug=slug, name=name, created_by=created_by, **settings)
    added = 0
    if members:
        for m in source.memberships.select_related("user").filter(user__is_active=True).order_by("pk"):
            if created_by is not None and m.user_id == created_by.pk:
                continue
            copied = membership_set(campaign=campaign, user=m.user, role=m.role, can_adjudicate=m.can_adjudicate)
            copied.hourly_rate = m.hourly_rate
            if m.status == Membership.Status.PAUSED:  # paused for a reason (QC): still paused in the copy
                copied.status, copied.status_reason = m.status, f"paused in '{source.slug}': {m.status_reason}"
                copied.status_changed_at = timezone.now()
            copied.save(update_fields=["hourly_rate", "status", "status_reason", "status_changed_at"])
            added += 1
    for hook in extensions.campaign_copy_hooks():
        hook(source=source, target=campaign)
    return campaign, added


@dataclass
class CampaignChange:
    campaign: Campaign
    changed: list[str] = field(default_factory=list)
    reopened: int = 0
    closed: int = 0

    def summary(self) -> str:
        if not self.changed:
            return "nothing changed"
        parts = [f"changed {', '.join(self.changed)}"]
        if "overlap" in self.changed:
            parts.append(f"reopened {self.reopened} task{'s' if self.reopened != 1 else ''}")
            parts.append(f"closed {self.closed} open slot{'s' if self.closed != 1 else ''}")
        return "; ".join(parts)


def _has_labels(campaign: Campaign) -> bool:
    return Assignment.objects.filter(campaign=campaign).exclude(status=Assignment.Status.SKIPPED).exists()


@transaction.atomic
def campaign_update(*, campaign: Campaign, changes: dict) -> CampaignChange:
    """Change settings (and `status`, see campaign_status_set) and apply them to the existing pool.

    Invariants: all or nothing; a new overlap reopens the tasks that now have room (taken <
    overlap) and closes those that are full, in one statement under the
    campaign's row lock; submitted work is never touched and live leases run
    to their end (a task may hold more than the new overlap until they do).
    QC rate, lease and screening settings apply from the next lease. The mode
    cannot change once anyone has labeled, since earlier labels would not fit it.
    """
    # FOR NO KEY UPDATE: assignment inserts (a key-share lock on the campaign) are not blocked,
    # so this never deadlocks with assignment_next holding a task it is about to lease.
    campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    changes = dict(changes)
    status = changes.pop("status", None)
    values = settings_clean(changes)
    result = CampaignChange(campaign=campaign)
    if status is not None and status != campaign.status:
        campaign = campaign_status_set(campaign=campaign, status=status)
        result.campaign = campaign
        result.changed.append("status")
    if "mode" in values and values["mode"] != campaign.mode and _has_labels(campaign):
        raise ValidationFailed("the mode cannot change once labeling has started: create a new campaign instead")
    fields = [name for name, value in values.items() if getattr(campaign, name) != value]
    for name in fields:
        setattr(campaign, name, values[name])
    result.changed += fields
    if not fields:
        return result
    campaign.save(update_fields=[*fields, "updated_at"])
    if "overlap" in result.changed:
        pool = Task.objects.filter(campaign=campaign, is_gold=False)
        result.reopened = pool.filter(is_open=False, taken__lt=campaign.overlap).update(is_open=True)
        result.closed = pool.filter(is_open=True, taken__gte=campaign.overlap).update(is_open=False)
    return result


@transaction.atomic
def campaign_status_set(*, campaign: Campaign, status: str) -> Campaign:
    """Pause, resume, close, reopen or archive a campaign.

    Invariants: only the moves in STATUS_MOVES; pausing or closing stops new
    leases at once (assignment_next refuses), while leases already held may
    still be submitted until they run out, so no started work is lost.
    """
    campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    if status not in Campaign.Status.values:
        raise ValidationFailed(f"status must be one of {', '.join(Campaign.Status.values)}")
    if status == campaign.status:
        return campaign
    if status not in STATUS_MOVES[campaign.status]:
        raise ValidationFailed(f"a {campaign.status} campaign cannot become {status}")
    campaign.status = status
    campaign.save(update_fields=["status", "updated_at"])
    return campaign


def _keep_a_manager(*, campaign: Campaign, losing) -> None:
    """Refuse a change that would leave the campaign without a manager.

    The campaign row is locked (FOR NO KEY UPDATE: labeling's inserts, which
    take key-share locks on it, go on) so two managers removing each other
    at once cannot both pass the check.
    """
    Campaign.objects.select_for_update(no_key=True).filter(pk=campaign.pk).first()
    managers = Membership.objects.filter(campaign=campaign, role=Membership.Role.MANAGER)
    if managers.filter(user=losing).exists() and not managers.exclude(user=losing).exists():
        raise ValidationFailed("a campaign needs a manager: add another one before this one stops managing it")


@transaction.atomic
def membership_set(*, campaign: Campaign, user, role: str = Membership.Role.ANNOTATOR,
                   can_adjudicate: bool | None = None) -> Membership:
    """Make `user` a member of `campaign` with `role` (idempotent; updates the role).

    A new annotator of a campaign with a screening set starts in screening;
    an existing membership keeps its status. `can_adjudicate` None leaves it as it is.
    """
    if role not in Membership.Role.values:
        raise ValidationFailed(f"role must be one of {', '.join(Membership.Role.values)}")
    if role != Membership.Role.MANAGER:
        _keep_a_manager(campaign=campaign, losing=user)
    status = (
        Membership.Status.SCREENING
        if role == Membership.Role.ANNOTATOR and campaign.screening_size > 0
        else Membership.Status.ACTIVE
    )
    membership, created = Membership.objects.get_or_create(
        campaign=campaign, user=user,
        defaults={"role": role, "status": status, "can_adjudicate": bool(can_adjudicate)},
    )
    changed = []
    if not created and membership.role != role:
        membership.role = role
        changed.append("role")
    if not created and can_adjudicate is not None and membership.can_adjudicate != can_adjudicate:
        membership.can_adjudicate = can_adjudicate
        changed.append("can_adjudicate")
    if changed:
        membership.save(update_fields=changed)
    return membership


@transaction.atomic
def membership_remove(*, campaign: Campaign, user) -> bool:
    """Take `user` off the campaign. Their submitted work stays; tasks they hold go back to the pool.

    Invariant: a campaign keeps at least one manager. Returns whether a membership was removed.
    """
    _keep_a_manager(campaign=campaign, losing=user)
    membership = Membership.objects.select_for_update().filter(campaign=campaign, user=user).first()
    if membership is None:
        return False
    held = list(
        Assignment.objects.select_for_update(of=("self",))
        .filter(campaign=campaign, annotator=user, status=Assignment.Status.LEASED)
        .values_list("pk", "task_id")
    )
    if held:
        Assignment.objects.filter(pk__in=[pk for pk, _ in held]).update(
            status=Assignment.Status.EXPIRED, lease_expires_at=timezone.now()
        )
        for _, task_id in held:
            free_slot(task_id)
    membership.delete()
    return True


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


MEMBER_ROLES = ("annotator", "manager", "expert")  # an expert is an annotator who may also adjudicate


@transaction.atomic
def membership_role_change(*, campaign: Campaign, user_id: int, role: str) -> Membership:
    """Give a member another role: annotator, expert (an annotator who may adjudicate) or manager.

    Invariants: the campaign keeps at least one manager; the member's status (screening,
    paused) and everything they submitted stay as they are; NotFound for a non-member.
    """
    if role not in MEMBER_ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(MEMBER_ROLES)}, not {role!r}",
                               details={"role": ["not a role"]})
    membership = Membership.objects.select_for_update().filter(campaign=campaign, user_id=user_id).first()
    if membership is None:
        raise NotFound(f"user {user_id} is not a member of campaign '{campaign.slug}'")
    if role == "expert":
        return membership_set(campaign=campaign, user=membership.user, role=Membership.Role.ANNOTATOR,
                              can_adjudicate=True)
    return membership_set(campaign=campaign, user=membership.user, role=role,
                          can_adjudicate=False if role == Membership.Role.ANNOTATOR else None)


@transaction.atomic
def membership_rate_set(*, campaign: Campaign, user_id: int, hourly_rate) -> Membership:
    """Set a member's own hourly rate for the cost report (blank: the campaign's rate applies)."""
    membership = Membership.objects.select_for_update().filter(campaign=campaign, user_id=user_id).first()
    if membership is None:
        raise NotFound(f"user {user_id} is not a member of campaign '{campaign.slug}'")
    membership.hourly_rate = _rate(hourly_rate)
    membership.save(update_fields=["hourly_rate"])
    return membership

"""The assignment engine's leasing half: next task, open, release, heartbeat, skip.

Invariants every function here keeps:
- a task never has more leased + submitted assignments than the campaign's
  overlap (`Task.taken`, moved only under the task's row lock);
- an annotator never holds two assignments for one solution in a campaign
  (database unique constraint), so never sees a solution twice;
- an annotator holds at most one *shown* lease (the task on their screen,
  the campaign's full lease) and one *fetched-ahead* lease (not yet shown,
  `PREFETCH_LEASE_SECONDS`) per campaign;
- every write happens in one transaction. next and open, which choose among
  an annotator's leases, run under the annotator's membership row lock, so
  their concurrent requests (two tabs, a double click) are serialised without
  touching anyone else's; the other writes lock the one assignment row, and
  those that also need the membership (submit) take it first, in that order.

Drafts and submits live in `labeling.services.submissions`.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from labeling.errors import (
    AlreadySkipped,
    AlreadySubmitted,
    Conflict,
    Forbidden,
    LeaseExpired,
    NotFound,
    TaskTaken,
    ValidationFailed,
)
from labeling.models import Assignment, Campaign, Membership, Task
from labeling.services.prelabels import prelabels_for


def _membership(*, user, campaign: Campaign, lock: bool = False) -> Membership:
    qs = Membership.objects.filter(campaign=campaign, user=user)
    # Locking the membership row serialises one annotator's requests (a
    # double click, two tabs) without touching anyone else's.
    membership = (qs.select_for_update() if lock else qs).first()
    if membership is None:
        raise Forbidden(f"you are not a member of campaign '{campaign.slug}'")
    if membership.status == Membership.Status.PAUSED:
        raise Forbidden(
            "your labeling in this campaign is paused"
            + (f": {membership.status_reason}" if membership.status_reason else "")
            + "; your submitted work is kept. Contact the campaign manager."
        )
    if campaign.status != Campaign.Status.ACTIVE:
        raise Forbidden(f"campaign '{campaign.slug}' is {campaign.status}")
    return membership


def lease_until(campaign: Campaign, *, shown: bool):
    """When a lease taken or renewed now runs out: the campaign's lease on screen, a short one ahead."""
    if shown:
        return timezone.now() + timedelta(minutes=campaign.lease_minutes)
    return timezone.now() + timedelta(seconds=settings.PREFETCH_LEASE_SECONDS)


def _overlap():
    # The campaign's overlap read by the statement itself, never a value read earlier in the
    # transaction: a concurrent change of the overlap is then seen the moment it commits.
    return Subquery(Campaign.objects.filter(pk=OuterRef("campaign_id")).values("overlap")[:1])


def _take_slot(task_id: int) -> None:
    # SET clauses read the old row: after the increment the task stays open
    # only if taken + 1 < overlap. Gold items stay open: every annotator gets them.
    Task.objects.filter(pk=task_id).update(
        taken=F("taken") + 1,
        is_open=Case(When(Q(is_gold=True) | Q(taken__lt=_overlap() - 1), then=Value(True)), default=Value(False)),
    )


def free_slot(task_id: int) -> None:
    """Give one slot of a task back; it opens if that leaves room under the overlap (always for gold)."""
    # SET clauses read the old row: after the decrement there is room iff taken - 1 < overlap.
    Task.objects.filter(pk=task_id).update(
        taken=F("taken") - 1,
        is_open=Case(When(Q(is_gold=True) | Q(taken__lte=_overlap()), then=Value(True)), default=Value(False)),
    )


def _renew(a: Assignment, *, shown: bool) -> Assignment:
    now = timezone.now()
    if shown and a.shown_at is None:
        a.shown_at = now
    a.lease_expires_at = lease_until(a.campaign, shown=a.shown_at is not None)
    a.save(update_fields=["shown_at", "lease_expires_at", "updated_at"])
    return a


def _relet(a: Assignment, *, shown: bool, wait: bool = False) -> bool:
    """Lease an expired assignment of the annotator's again if its task still has room (drafts intact).

    `wait`: block on the task's row lock (Resume asks for this one task) rather
    than skip it, so a moment of contention is not mistaken for "no room".
    """
    qs = Task.objects.filter(pk=a.task_id)
    task = (qs.select_for_update() if wait else qs.select_for_update(skip_locked=True)).first()
    if task is None or not task.is_open:
        return False
    _take_slot(task.pk)
    now = timezone.now()
    a.status = Assignment.Status.LEASED
    a.leased_at = now
    a.shown_at = now if shown else None
    a.lease_expires_at = lease_until(a.campaign, shown=shown)
    a.save(update_fields=["status", "leased_at", "shown_at", "lease_expires_at", "updated_at"])
    return True


def _expire(a: Assignment) -> None:
    a.status = Assignment.Status.EXPIRED
    a.lease_expires_at = timezone.now()
    a.save(update_fields=["status", "lease_expires_at", "updated_at"])
    free_slot(a.task_id)


def _leases(campaign: Campaign, user):
    # of=self: the lookups join the task, whose row must not be locked here.
    return Assignment.objects.select_for_update(of=("self",)).select_related("campaign").filter(
        campaign=campaign, annotator=user
    )


def _show_only(a: Assignment) -> None:
    """Make `a` the annotator's one shown lease: any other shown lease of theirs lapses (drafts kept)."""
    others = _leases(a.campaign, a.annotator_id).filter(status=Assignment.Status.LEASED, shown_at__isnull=False)
    for other in others.exclude(pk=a.pk):
        _expire(other)


@transaction.atomic
def assignment_next(
    *, user, campaign: Campaign, exclude_id: int | None = None, prefetch: bool = False,
    rng: random.Random | None = None,
) -> Assignment | None:
    """The annotator's next assignment in `campaign`.

    Without `prefetch` it is the task to show now, on the campaign's full
    lease: the annotator's shown lease if they hold one (a reload resumes it),
    else their fetched-ahead one, else one of theirs that expired while the
    task still has room (drafts intact), else a new task.

    With `prefetch` it is the task to fetch ahead of `exclude_id` (the task on
    screen, which is marked shown), on a short lease: their fetched-ahead
    lease if they hold one, else an expired one of theirs with room, else a
    new task.

    A new assignment carries the task's suggested ratings when the campaign
    has pre-labels (services.prelabels: never shown on gold or screening
    items). A new task is a gold item with probability qc_rate (falling back to normal
    work when no gold is left), else the highest-priority open task (import
    order breaks ties); gold is never served in place of normal work. A member
    in screening gets only gold items (screening ones first) until they have
    submitted the screening set, then nothing until it is scored. Tasks are
    picked with SELECT ... FOR UPDATE SKIP LOCKED, so concurrent callers never
    block on or double-assign a task. Returns None when nothing is left.
    """
    if exclude_id is not None and not prefetch:
        raise ValidationFailed("only a fetch ahead (prefetch) excludes the task on screen")
    membership = _membership(user=user, campaign=campaign, lock=True)
    mine = _leases(campaign, user)
    leased = list(mine.filter(status=Assignment.Status.LEASED).order_by("leased_at", "pk"))
    shown = [a for a in leased if a.shown_at is not None]
    ahead = [a for a in leased if a.shown_at is None and a.pk != exclude_id]
    if prefetch:
        on_screen = next((a for a in leased if a.pk == exclude_id), None)
        if on_screen is not None and on_screen.shown_at is None:
            _renew(on_screen, shown=True)
            _show_only(on_screen)
        if ahead:
            return _renew(ahead[0], shown=False)
    else:
        if shown:
            return _renew(shown[0], shown=True)
        if ahead:
            return _renew(ahead[0], shown=True)

    expired = mine.filter(status=Assignment.Status.EXPIRED, task__is_open=True)
    for a in expired.exclude(pk=exclude_id).order_by("-updated_at")[:5]:
        if _relet(a, shown=not prefetch):
            return a

    screening = membership.status == Membership.Status.SCREENING
    if screening:
        task = _next_screening_task(campaign, user)
    else:
        rng = rng or random.Random()
        want_gold = campaign.qc_rate > 0 and rng.random() < campaign.qc_rate
        task = (_pick(campaign, user, gold=True) if want_gold else None) or _pick(campaign, user, gold=False)
    if task is None:
        return None
    _take_slot(task.pk)
    now = timezone.now()
    pre = prelabels_for(campaign=campaign, task=task, screening=screening)
    return Assignment.objects.create(
        campaign=campaign, task=task, solution_id=task.solution_id, annotator=user,
        status=Assignment.Status.LEASED, leased_at=now, shown_at=None if prefetch else now,
        lease_expires_at=lease_until(campaign, shown=not prefetch),
        queue_strategy=task.queue_strategy, queue_model_version=task.queue_model_version,
        queue_score=task.queue_score, queue_generation=task.queue_generation,
        is_quality_control=task.is_gold, is_screening=screening,
        prelabel_hints=pre.hints if pre else None, prelabel_source=pre.source if pre else "",
        prelabel_shown=pre.shown if pre else None,
    )


def _next_screening_task(campaign: Campaign, user) -> Task | None:
    done = Assignment.objects.filter(
        campaign=campaign, annotator=user, is_screening=True, status=Assignment.Status.SUBMITTED
    ).count()
    if done >= campaign.screening_size:
        return None
    task = _pick(campaign, user, gold=True, order=("-is_screening", "id"))
    if task is None and done == 0 and not Task.objects.filter(campaign=campaign, is_gold=True).exists():
        raise Conflict(
            "your screening cannot start: this campaign has no gold items yet. The campaign manager has to add them."
        )
    return task


def _pick(campaign: Campaign, user, *, gold: bool, order=("-priority", "id")) -> Task | None:
    seen = Assignment.objects.filter(task_id=OuterRef("pk"), annotator=user)
    return (
        Task.objects.filter(campaign=campaign, is_gold=gold, is_open=True)
        .filter(~Exists(seen))
        .order_by(*order)
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def _own(*, assignment_id: int, user, lock: bool = False) -> Assignment:
    qs = Assignment.objects.select_related("campaign").filter(pk=assignment_id)
    # of=self: locking the joined campaign row too would serialise every submit
    # and deadlock against inserts that take a key-share lock on it.
    a = (qs.select_for_update(of=("self",)) if lock else qs).first()
    # Someone else's assignment is "not found" too, as on GET: its existence is not theirs to learn.
    if a is None or a.annotator_id != user.pk:
        raise NotFound(f"no assignment {assignment_id}")
    return a


def own_locked(*, assignment_id: int, user) -> Assignment:
    """The caller's assignment, row-locked; NotFound otherwise (also for another annotator's)."""
    return _own(assignment_id=assignment_id, user=user, lock=True)


def own_locked_as_member(*, assignment_id: int, user) -> Assignment:
    """Like own_locked, but first takes the membership row lock, in the order next and open take them.

    For writes that go on to lock the membership (a submit's QC consequences),
    so they never hold the assignment while waiting for the membership.
    """
    campaign_id = _own(assignment_id=assignment_id, user=user).campaign_id
    Membership.objects.select_for_update().filter(campaign_id=campaign_id, user=user).first()
    return own_locked(assignment_id=assignment_id, user=user)


def require_open(a: Assignment) -> None:
    """Refuse work on a closed assignment with the error the page acts on."""
    if a.status == Assignment.Status.SUBMITTED:
        raise AlreadySubmitted("this task was already submitted (in another tab or an earlier try)")
    if a.status == Assignment.Status.SKIPPED:
        raise AlreadySkipped("this task was skipped (in another tab or an earlier try)")


def require_live_lease(a: Assignment) -> None:
    require_open(a)
    if a.status != Assignment.Status.LEASED or a.lease_expires_at <= timezone.now():
        raise LeaseExpired(
            "your lease on this task expired, so it may have gone to someone else. Your ratings are kept: "
            "press 'Resume' to get the task back if it is still open."
        )


@transaction.atomic
def assignment_open(*, assignment_id: int, user) -> Assignment:
    """Put one of the annotator's assignments on their screen, on the campaign's full lease.

    The page calls it when it shows the task it fetched ahead, and for
    'Resume' after a lease lapsed. A live lease is renewed (and marked shown);
    a lapsed one is leased again, drafts intact, if its task still has room,
    else TaskTaken. Submitted or skipped assignments are refused with
    AlreadySubmitted / AlreadySkipped. Afterwards it is the annotator's only
    shown lease in the campaign.
    """
    # Lock order as in assignment_next (membership, then assignments), so the two never deadlock.
    campaign = _own(assignment_id=assignment_id, user=user).campaign
    _membership(user=user, campaign=campaign, lock=True)
    a = own_locked(assignment_id=assignment_id, user=user)
    require_open(a)
    if a.status == Assignment.Status.LEASED:
        _renew(a, shown=True)
    elif not _relet(a, shown=True, wait=True):
        raise TaskTaken(
            "this task went to someone else while your lease had lapsed. Your ratings are shown read-only; "
            "dismiss them to go on."
        )
    _show_only(a)
    return a


@transaction.atomic
def assignment_release(*, assignment_id: int, user) -> bool:
    """Give back a fetched-ahead task the page never showed (it is closing).

    Its slot returns to the pool at once instead of when the short lease
    runs out; the annotator may still get it later. A shown, submitted,
    skipped or already lapsed assignment is left as it is (a reload must
    resume the task on screen). Returns whether anything was released.
    """
    a = own_locked(assignment_id=assignment_id, user=user)
    if a.status != Assignment.Status.LEASED or a.shown_at is not None:
        return False
    _expire(a)
    return True


@transaction.atomic
def assignment_heartbeat(*, assignment_id: int, user, active_ms: int = 0) -> Assignment:
    """Renew a live lease (full if shown, short if fetched ahead) and record active time."""
    a = own_locked(assignment_id=assignment_id, user=user)
    require_live_lease(a)
    a.active_ms = max(a.active_ms, int(active_ms or 0))
    a.lease_expires_at = lease_until(a.campaign, shown=a.shown_at is not None)
    a.save(update_fields=["active_ms", "lease_expires_at", "updated_at"])
    return a


@transaction.atomic
def assignment_skip(*, assignment_id: int, user, note: str = "") -> Assignment:
    """Give a task back without labels; it goes to another annotator, never to this one (idempotent)."""
    a = own_locked(assignment_id=assignment_id, user=user)
    if a.status == Assignment.Status.SKIPPED:
        return a
    if a.status == Assignment.Status.SUBMITTED:
        raise AlreadySubmitted("this task was already submitted, so it cannot be skipped")
    # A lapsed lease already gave its slot back; skipping it only keeps it from coming back to this annotator.
    held = a.status == Assignment.Status.LEASED
    a.status = Assignment.Status.SKIPPED
    a.finish_note = note.strip()
    a.lease_expires_at = None
    a.save(update_fields=["status", "finish_note", "lease_expires_at", "updated_at"])
    if held:
        free_slot(a.task_id)
    return a

"""Shown vs fetched-ahead leases, open / Resume, release, and the page state kept in drafts."""

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from labeling.errors import AlreadySkipped, AlreadySubmitted, LeaseExpired, TaskTaken, ValidationFailed
from labeling.models import Assignment, Task
from labeling.selectors import assignment_payload
from labeling.services.assignments import (
    assignment_heartbeat,
    assignment_next,
    assignment_open,
    assignment_release,
    assignment_skip,
)
from labeling.services.leases import assignments_expire_stale
from labeling.services.submissions import RatingIn, assignment_save_draft, assignment_submit
from tests.factories import CampaignFactory, MembershipFactory, TaskFactory

pytestmark = pytest.mark.django_db


def _campaign(n_tasks=4, **kw):
    campaign = CampaignFactory(qc_rate=0, lease_minutes=30, **kw)
    for _ in range(n_tasks):
        TaskFactory(campaign=campaign)
    return campaign


def _annotator(campaign):
    return MembershipFactory(campaign=campaign).user


def _leased(user):
    return Assignment.objects.filter(annotator=user, status="leased")


def _lapse(a):
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assignments_expire_stale()


def _submit(a, user, *ratings):
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                             ratings=[RatingIn(step=i, rating=r) for i, r in enumerate(ratings)])


@override_settings(PREFETCH_LEASE_SECONDS=120)
def test_the_task_fetched_ahead_holds_a_short_lease_until_shown():
    campaign = _campaign()
    user = _annotator(campaign)
    shown = assignment_next(user=user, campaign=campaign)
    ahead = assignment_next(user=user, campaign=campaign, exclude_id=shown.pk, prefetch=True)
    now = timezone.now()
    assert shown.shown_at is not None and shown.lease_expires_at > now + timedelta(minutes=29)
    assert ahead.shown_at is None
    assert now + timedelta(seconds=100) < ahead.lease_expires_at < now + timedelta(seconds=125)
    # a heartbeat renews it, still short
    hb = assignment_heartbeat(assignment_id=ahead.pk, user=user)
    assert hb.lease_expires_at < timezone.now() + timedelta(seconds=125)
    assert assignment_payload(assignment=ahead)["shown"] is False
    # shown: the campaign's full lease
    opened = assignment_open(assignment_id=ahead.pk, user=user)
    assert opened.shown_at is not None and opened.lease_expires_at > timezone.now() + timedelta(minutes=29)


def test_an_annotator_holds_at_most_one_shown_and_one_ahead_lease():
    campaign = _campaign(6)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    for _ in range(3):  # reloads and repeated prefetches hand back the same two
        assert assignment_next(user=user, campaign=campaign).pk == a.pk
        b = assignment_next(user=user, campaign=campaign, exclude_id=a.pk, prefetch=True)
    assert _leased(user).count() == 2
    assert set(_leased(user).values_list("pk", flat=True)) == {a.pk, b.pk}
    # the page shows b after submitting a and fetches ahead of it: b becomes the shown one
    _submit(a, user, 1, 1, 1)
    c = assignment_next(user=user, campaign=campaign, exclude_id=b.pk, prefetch=True)
    b.refresh_from_db()
    assert b.shown_at is not None and c.shown_at is None
    assert _leased(user).count() == 2
    # opening another of theirs makes it the only shown lease; the old one lapses with its draft
    assignment_save_draft(assignment_id=b.pk, user=user, ratings=[RatingIn(0, 1)])
    assignment_open(assignment_id=c.pk, user=user)
    b.refresh_from_db()
    assert b.status == "expired" and b.step_labels.count() == 1
    assert list(_leased(user).values_list("pk", flat=True)) == [c.pk]
    assert Task.objects.get(pk=b.task_id).taken == 0


def test_without_a_shown_lease_next_shows_the_task_fetched_ahead():
    campaign = _campaign()
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    b = assignment_next(user=user, campaign=campaign, exclude_id=a.pk, prefetch=True)
    _submit(a, user, 1, 1, 1)
    # the page lost its copy of b (a reload right after the submit): next shows b, never a new task
    nxt = assignment_next(user=user, campaign=campaign)
    assert nxt.pk == b.pk and nxt.shown_at is not None
    assert _leased(user).count() == 1


def test_exclude_is_only_for_fetching_ahead():
    campaign = _campaign()
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    with pytest.raises(ValidationFailed, match="prefetch"):
        assignment_next(user=user, campaign=campaign, exclude_id=a.pk)


def test_release_gives_back_only_a_task_never_shown():
    campaign = _campaign(2)
    alice, bob = _annotator(campaign), _annotator(campaign)
    a = assignment_next(user=alice, campaign=campaign)
    b = assignment_next(user=alice, campaign=campaign, exclude_id=a.pk, prefetch=True)
    assert assignment_next(user=bob, campaign=campaign) is None  # both held by alice
    assert assignment_release(assignment_id=a.pk, user=alice) is False  # on screen: kept for a reload
    assert assignment_release(assignment_id=b.pk, user=alice) is True
    assert assignment_release(assignment_id=b.pk, user=alice) is False  # idempotent
    b.refresh_from_db()
    assert b.status == "expired" and Task.objects.get(pk=b.task_id).taken == 0
    assert assignment_next(user=bob, campaign=campaign).task_id == b.task_id
    a.refresh_from_db()
    assert a.status == "leased"


def test_resume_after_a_lapse_re_leases_the_same_task_with_its_draft():
    campaign = _campaign(3)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    assignment_save_draft(assignment_id=a.pk, user=user, ratings=[RatingIn(0, 1), RatingIn(1, 0)],
                          ui={"cursor": 2, "flags": [2], "history": [[{"step": 0, "rating": None}]]})
    _lapse(a)
    with pytest.raises(LeaseExpired):
        assignment_save_draft(assignment_id=a.pk, user=user, ratings=[])
    again = assignment_open(assignment_id=a.pk, user=user)
    assert again.pk == a.pk and again.status == "leased" and again.shown_at is not None
    payload = assignment_payload(assignment=again)
    assert [s["rating"] for s in payload["steps"]] == [1, 0, None]
    assert payload["ui"]["cursor"] == 2 and payload["ui"]["flags"] == [2]
    assert Task.objects.get(pk=a.task_id).taken == 1


def test_resume_after_the_task_went_to_someone_else_says_so():
    campaign = _campaign(1)
    alice, bob = _annotator(campaign), _annotator(campaign)
    a = assignment_next(user=alice, campaign=campaign)
    assignment_save_draft(assignment_id=a.pk, user=alice, ratings=[RatingIn(0, 1)])
    _lapse(a)
    assert assignment_next(user=bob, campaign=campaign).task_id == a.task_id
    with pytest.raises(TaskTaken, match="someone else"):
        assignment_open(assignment_id=a.pk, user=alice)
    a.refresh_from_db()
    assert a.status == "expired" and a.step_labels.count() == 1  # her ratings are kept
    assert Task.objects.get(pk=a.task_id).taken == 1


def test_closed_assignments_say_why():
    campaign = _campaign(3)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    _submit(a, user, 1, 1, 1)
    for call in (
        lambda: assignment_save_draft(assignment_id=a.pk, user=user, ratings=[]),
        lambda: assignment_heartbeat(assignment_id=a.pk, user=user),
        lambda: assignment_open(assignment_id=a.pk, user=user),
        lambda: _submit(a, user, 1, 1, 1),  # another tab: a new submission id
        lambda: assignment_skip(assignment_id=a.pk, user=user),
    ):
        with pytest.raises(AlreadySubmitted):
            call()
    b = assignment_next(user=user, campaign=campaign)
    assignment_skip(assignment_id=b.pk, user=user)
    with pytest.raises(AlreadySkipped):
        assignment_open(assignment_id=b.pk, user=user)
    with pytest.raises(AlreadySkipped):
        _submit(b, user, 1, 1, 1)


def test_skipping_a_lapsed_task_keeps_it_from_coming_back():
    campaign = _campaign(1)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    _lapse(a)
    assert Task.objects.get(pk=a.task_id).taken == 0
    assignment_skip(assignment_id=a.pk, user=user)
    assert Task.objects.get(pk=a.task_id).taken == 0  # the slot was freed once, not twice
    assert assignment_next(user=user, campaign=campaign) is None


def test_draft_keeps_the_page_state_and_checks_it():
    campaign = _campaign(1)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    history = [[{"step": 0, "rating": None, "flagged": False}],
               [{"step": 1, "rating": 1, "flagged": False}, {"step": 2, "rating": 0, "flagged": True}]]
    assignment_save_draft(assignment_id=a.pk, user=user, ratings=[RatingIn(0, 1), RatingIn(1, -1)],
                          ui={"cursor": 1, "flags": [2, 2], "history": history})
    ui = assignment_payload(assignment=Assignment.objects.get(pk=a.pk))["ui"]
    assert ui == {"cursor": 1, "flags": [2], "history": history}
    for bad, message in [
        ({"flags": [3]}, "does not exist"),
        ({"history": [[{"step": 9, "rating": 1}]]}, "does not exist"),
        ({"history": [[{"step": 0, "rating": 5}]]}, "must be -1, 0, 1 or null"),
        ({"cursor": -1}, "cursor"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            assignment_save_draft(assignment_id=a.pk, user=user, ratings=[], ui=bad)
    # the refused drafts wrote nothing
    assert Assignment.objects.get(pk=a.pk).step_labels.count() == 2
    # a submit drops the draft state
    _submit(Assignment.objects.get(pk=a.pk), user, 1, -1)
    assert "draft" not in Assignment.objects.get(pk=a.pk).extra


def test_a_long_undo_history_keeps_its_latest_entries():
    campaign = _campaign(1)
    user = _annotator(campaign)
    a = assignment_next(user=user, campaign=campaign)
    history = [[{"step": i % 3, "rating": 1, "flagged": False}] for i in range(250)]
    assignment_save_draft(assignment_id=a.pk, user=user, ratings=[], ui={"history": history})
    kept = assignment_payload(assignment=Assignment.objects.get(pk=a.pk))["ui"]["history"]
    assert len(kept) == 200 and kept == history[-200:]


def test_campaign_reveal_is_validated_and_stored():
    from labeling.services.campaigns import campaign_create

    c = campaign_create(slug="reveal-prog", name="Progressive", reveal="progressive")
    assert c.reveal == "progressive"
    assert campaign_create(slug="reveal-default", name="Default").reveal == "all"
    with pytest.raises(ValidationFailed, match="reveal must be one of all, progressive"):
        campaign_create(slug="reveal-bad", name="Bad", reveal="sometimes")

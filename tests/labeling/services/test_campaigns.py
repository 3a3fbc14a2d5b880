"""Campaign settings applied to the pool, status moves, staffing and invites."""

import uuid

import pytest
from django.contrib.auth import get_user_model

from labeling.errors import Conflict, Forbidden, NotFound, ValidationFailed
from labeling.models import Assignment, Campaign, Invite, Membership, Task
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import (
    campaign_create,
    campaign_status_set,
    campaign_update,
    membership_remove,
    membership_set,
)
from labeling.services.leases import assignments_expire_stale
from labeling.services.staffing import (
    MemberEntry,
    invite_accept,
    invite_lookup,
    member_entries_parse,
    members_add,
    members_remove,
)
from labeling.services.submissions import RatingIn, assignment_submit
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def _campaign(n=4, overlap=1, **kw):
    c = CampaignFactory(qc_rate=0, overlap=overlap, **kw)
    for _ in range(n):
        TaskFactory(campaign=c, solution=SolutionFactory(steps=["a", "b"]))
    return c


def _label(user, c):
    a = assignment_next(user=user, campaign=c)
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
                             ratings=[RatingIn(0, 1), RatingIn(1, 1)])


def test_create_makes_the_creator_manager_and_checks_every_setting():
    boss = UserFactory()
    c = campaign_create(slug="math-1", name="MATH", created_by=boss, mode="all_steps", overlap=3, qc_rate=0.2,
                        hourly_rate="30.00", instructions="Rate $x$.")
    assert (c.mode, c.overlap, c.qc_rate, str(c.hourly_rate)) == ("all_steps", 3, 0.2, "30.00")
    assert Membership.objects.get(campaign=c, user=boss).role == "manager"
    for bad, message in [
        ({"overlap": 0}, "overlap must be between 1 and 100"),
        ({"qc_rate": 1.5}, "qc_rate must be between 0 and 1"),
        ({"mode": "vibes"}, "mode must be one of"),
        ({"lease_minutes": "ten"}, "lease_minutes must be a whole number"),
        ({"hourly_rate": "-3"}, "hourly_rate must be an amount"),
        ({"colour": "red"}, "unknown campaign setting"),
        ({"show_ground_truth": "yes"}, "must be true or false"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            campaign_create(slug="math-2", name="x", **bad)
    with pytest.raises(ValidationFailed, match="reserved"):
        campaign_create(slug="new", name="x")
    with pytest.raises(ValidationFailed, match="slug must be"):
        campaign_create(slug="Has Spaces", name="x")
    with pytest.raises(Conflict, match="already exists"):
        campaign_create(slug="math-1", name="again")
    assert not Campaign.objects.filter(slug="math-2").exists()


def test_raising_overlap_reopens_full_tasks_and_lowering_closes_slots_without_touching_work():
    c = _campaign(n=4, overlap=1)
    alice, bob = MembershipFactory(campaign=c).user, MembershipFactory(campaign=c).user
    for _ in range(3):
        _label(alice, c)  # three tasks full at overlap 1
    held = assignment_next(user=bob, campaign=c)  # bob holds the fourth
    assert assignment_next(user=bob, campaign=c).pk == held.pk
    assert Task.objects.filter(campaign=c, is_open=True).count() == 0
    change = campaign_update(campaign=c, changes={"overlap": 2})
    assert (change.changed, change.reopened, change.closed) == (["overlap"], 4, 0)
    assert "reopened 4 tasks" in change.summary()
    nxt = assignment_next(user=alice, campaign=c)  # leasable again: alice gets bob's task as its second label
    assert nxt is not None and nxt.task_id == held.task_id
    # lowering: open slots close, submitted work and live leases are untouched
    change = campaign_update(campaign=c, changes={"overlap": 1})
    assert change.closed == 3 and change.reopened == 0
    assert Assignment.objects.filter(campaign=c, status="submitted").count() == 3
    assert Assignment.objects.filter(campaign=c, status="leased").count() == 2
    # the live leases finish: bob submits, and the task (now over its overlap) stays closed
    assignment_submit(assignment_id=held.pk, user=bob, submission_id=uuid.uuid4(),
                      ratings=[RatingIn(0, 1), RatingIn(1, 1)])
    assert not Task.objects.get(pk=held.task_id).is_open
    # a lease that lapses under the lowered overlap does not reopen a task that is still full
    Assignment.objects.filter(pk=nxt.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
    assert assignments_expire_stale() == 1
    t = Task.objects.get(pk=held.task_id)
    assert (t.taken, t.is_open) == (1, False)


def test_the_mode_cannot_change_once_labeling_started():
    c = _campaign(n=2)
    assert campaign_update(campaign=c, changes={"mode": "all_steps"}).changed == ["mode"]
    _label(MembershipFactory(campaign=c).user, c)
    with pytest.raises(ValidationFailed, match="mode cannot change"):
        campaign_update(campaign=c, changes={"mode": "first_error", "overlap": 3})
    c.refresh_from_db()
    assert (c.mode, c.overlap) == ("all_steps", 1)  # nothing half-written


def test_status_moves_and_what_they_stop():
    c = _campaign(n=2)
    ann = MembershipFactory(campaign=c).user
    held = assignment_next(user=ann, campaign=c)
    c = campaign_status_set(campaign=c, status="paused")
    with pytest.raises(Forbidden, match="paused"):
        assignment_next(user=ann, campaign=c)
    # a lease held before the pause can still be submitted
    assignment_submit(assignment_id=held.pk, user=ann, submission_id=uuid.uuid4(),
                      ratings=[RatingIn(0, 1), RatingIn(1, 1)])
    c = campaign_status_set(campaign=c, status="closed")
    with pytest.raises(ValidationFailed, match="a closed campaign cannot become paused"):
        campaign_status_set(campaign=c, status="paused")
    c = campaign_status_set(campaign=c, status="archived")
    c = campaign_update(campaign=c, changes={"status": "closed", "name": "Renamed"}).campaign
    assert (c.status, c.name) == ("closed", "Renamed")
    with pytest.raises(ValidationFailed, match="status must be one of"):
        campaign_update(campaign=c, changes={"status": "gone", "name": "Again"})
    assert Campaign.objects.get(pk=c.pk).name == "Renamed"


def test_member_lists_parse_pasted_text_and_csv():
    assert member_entries_parse("alice\nbob@example.com, carol\n\n  dave  ") == [
        MemberEntry("alice"), MemberEntry("bob@example.com"), MemberEntry("carol"), MemberEntry("dave")]
    assert member_entries_parse("email,role\nann@example.com,expert\nben,manager\n") == [
        MemberEntry("ann@example.com", "expert"), MemberEntry("ben", "manager")]
    assert member_entries_parse("x@example.com", default_role="manager") == [MemberEntry("x@example.com", "manager")]
    with pytest.raises(ValidationFailed, match="line 2"):
        member_entries_parse("alice\nbob, manager, extra")
    with pytest.raises(ValidationFailed, match="neither a username nor an email"):
        member_entries_parse("<script>")


def test_adding_people_invites_the_new_ones_and_keeps_the_rest(settings):
    settings.EMAIL_ENABLED = False
    c = _campaign(n=1, screening_size=2)
    boss = UserFactory(username="boss")
    alice = UserFactory(username="alice", email="alice@example.com")
    results = members_add(campaign=c, by=boss, base_url="http://testserver/", entries=[
        MemberEntry("alice@example.com"), MemberEntry("newbie@example.com", "expert"),
        MemberEntry("Boss.Two@Example.com", "manager")])
    by_who = {r.who: r for r in results}
    assert by_who["alice@example.com"].username == "alice" and not by_who["alice@example.com"].created
    assert by_who["alice@example.com"].invite_url is None  # she already has a password
    new = by_who["newbie@example.com"]
    assert new.created and new.invite_url.startswith("http://testserver/invite/")
    m = Membership.objects.get(campaign=c, user_id=new.user_id)
    assert (m.role, m.can_adjudicate, m.status) == ("annotator", True, "screening")
    assert Membership.objects.get(campaign=c, user=alice).status == "screening"
    assert Membership.objects.get(campaign=c, user__username="boss.two").role == "manager"
    assert not User.objects.get(pk=new.user_id).has_usable_password()
    # an unknown username (not an email) refuses the whole list
    with pytest.raises(ValidationFailed, match="entry 2: there is no user 'ghost'"):
        members_add(campaign=c, by=boss, base_url="http://x/", entries=[MemberEntry("late@example.com"),
                                                                        MemberEntry("ghost")])
    assert not User.objects.filter(email="late@example.com").exists()


def test_an_invite_sets_the_password_once(settings, mailoutbox):
    settings.EMAIL_ENABLED = False
    c = _campaign(n=1)
    [r] = members_add(campaign=c, by=None, base_url="http://testserver/", entries=[MemberEntry("n@example.com")])
    token = r.invite_url.rstrip("/").rsplit("/", 1)[1]
    assert invite_lookup(token=token).user_id == r.user_id
    with pytest.raises(ValidationFailed):
        invite_accept(token=token, password="short")  # Django's validators apply
    user = invite_accept(token=token, password="a-long-enough-passphrase-2026")
    assert user.check_password("a-long-enough-passphrase-2026")
    with pytest.raises(NotFound, match="not valid any more"):
        invite_accept(token=token, password="another-long-passphrase-2026")
    with pytest.raises(NotFound):
        invite_lookup(token="made-up")
    assert mailoutbox == []
    assert Invite.objects.get(user=user).used_at is not None


def test_invites_are_mailed_when_email_is_configured(settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.EMAIL_ENABLED = True
    c = _campaign(n=1)
    with django_capture_on_commit_callbacks(execute=True):
        [r] = members_add(campaign=c, by=UserFactory(username="boss"), base_url="https://label.example.org/",
                          entries=[MemberEntry("m@example.com")])
    assert r.emailed and r.invite_url is None  # not shown: it went by mail
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["m@example.com"]
    assert "https://label.example.org/invite/" in mailoutbox[0].body and "boss" in mailoutbox[0].body


def test_a_new_invite_replaces_the_old_link():
    c = _campaign(n=1)
    [first] = members_add(campaign=c, by=None, base_url="http://t/", entries=[MemberEntry("n@example.com")])
    [second] = members_add(campaign=c, by=None, base_url="http://t/", entries=[MemberEntry("n@example.com")])
    with pytest.raises(NotFound):
        invite_lookup(token=first.invite_url.rstrip("/").rsplit("/", 1)[1])
    assert invite_lookup(token=second.invite_url.rstrip("/").rsplit("/", 1)[1])


def test_removing_people_keeps_their_work_and_frees_what_they_hold():
    c = _campaign(n=3)
    boss = UserFactory()
    membership_set(campaign=c, user=boss, role="manager")
    ann = MembershipFactory(campaign=c).user
    done = _label(ann, c)
    held = assignment_next(user=ann, campaign=c)
    assert members_remove(campaign=c, who=[ann.username]) == 1
    assert Assignment.objects.get(pk=done.pk).status == "submitted"
    held.refresh_from_db()
    t = Task.objects.get(pk=held.task_id)
    assert held.status == "expired" and (t.taken, t.is_open) == (0, True)
    with pytest.raises(Forbidden, match="not a member"):
        assignment_next(user=ann, campaign=c)
    with pytest.raises(ValidationFailed, match="needs a manager"):
        membership_remove(campaign=c, user=boss)
    with pytest.raises(NotFound, match="'ghost' is not a member"):
        members_remove(campaign=c, who=["ghost"])


def test_a_link_is_never_issued_for_someone_elses_invitee_or_a_labelers_record(settings):
    """Found in review: adding an existing password-less account handed its password link to any manager."""
    from labeling.services.users import external_labelers_get_or_create

    settings.EMAIL_ENABLED = False
    victim, attacker = _campaign(n=1), _campaign(n=1)
    [invited] = members_add(campaign=victim, by=None, base_url="http://t/", entries=[MemberEntry("new@example.com")])
    [again] = members_add(campaign=attacker, by=None, base_url="http://t/", entries=[MemberEntry("new@example.com")])
    assert again.invite_url is None and not again.emailed  # no link for the other campaign's manager
    assert invite_lookup(token=invited.invite_url.rstrip("/").rsplit("/", 1)[1])  # the invitee's link still works
    [resent] = members_add(campaign=victim, by=None, base_url="http://t/", entries=[MemberEntry("new@example.com")])
    assert resent.invite_url  # the inviting campaign may send a fresh link
    ids = external_labelers_get_or_create(labelers={"e0e0e0e0-0000-4000-8000-000000000001"}, source="prm800k")
    external = User.objects.get(pk=next(iter(ids.values())))
    with pytest.raises(ValidationFailed, match="imported labeler"):
        members_add(campaign=attacker, by=None, base_url="http://t/", entries=[MemberEntry(external.username)])
    assert not external.is_active and not Invite.objects.filter(user=external).exists()


def test_a_campaign_never_loses_its_last_manager_and_pasted_lists_do_not_demote_managers():
    c = _campaign(n=1)
    boss, other = UserFactory(username="boss"), UserFactory(username="other")
    membership_set(campaign=c, user=boss, role="manager")
    with pytest.raises(ValidationFailed, match="needs a manager"):
        membership_set(campaign=c, user=boss, role="annotator")
    [r] = members_add(campaign=c, by=boss, base_url="http://t/", entries=[MemberEntry("boss", "annotator")])
    assert r.role == "manager" and Membership.objects.get(campaign=c, user=boss).role == "manager"
    membership_set(campaign=c, user=other, role="manager")
    membership_set(campaign=c, user=boss, role="annotator")  # another manager is left: fine
    results = members_add(campaign=c, by=other, base_url="http://t/",
                          entries=[MemberEntry("x@example.com"), MemberEntry("X@example.com")])
    assert len(results) == 1  # the same person twice in one list


@pytest.mark.parametrize("bad", [{"overlap": 1e400}, {"lease_minutes": float("inf")}, {"hourly_rate": "NaN"},
                                 {"hourly_rate": "sNaN"}, {"qc_rate": True}, {"name": ["a"]},
                                 {"description": {"x": 1}}, {"overlap": 2.5}, {"qc_rate": "nan"}])
def test_odd_values_are_refused_cleanly(bad):
    c = _campaign(n=1)
    with pytest.raises(ValidationFailed):
        campaign_update(campaign=c, changes=bad)
    with pytest.raises(ValidationFailed, match="starts active"):
        campaign_create(slug="x-9", name="X", status="paused")


def test_accepting_an_invite_on_the_page_signs_the_new_member_in(settings, client):
    # With django-axes's backend beside Django's, login() must be told which backend checked the
    # user; without it the invite page answered 500 once the password was set.
    settings.EMAIL_ENABLED = False
    c = _campaign(n=1)
    [r] = members_add(campaign=c, by=None, base_url="http://testserver/", entries=[MemberEntry("p@example.com")])
    path = r.invite_url.removeprefix("http://testserver")
    assert client.get(path).status_code == 200
    resp = client.post(path, {"password1": "a-long-enough-passphrase-2026",
                              "password2": "a-long-enough-passphrase-2026"})
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert client.get("/").context["user"].pk == r.user_id

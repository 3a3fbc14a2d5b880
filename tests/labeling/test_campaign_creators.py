"""Who may create campaigns: a creator lets colleagues create campaigns, and takes it back,
from the dashboard or the API, with an audit trail and no administrator."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.test import APIClient

from labeling.dashboard import creator_selectors as crsel
from labeling.errors import Conflict, Forbidden, NotFound, ValidationFailed
from labeling.models import Campaign, Membership
from labeling.services import creators as svc
from labeling.services.campaigns import campaign_create, membership_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _perm():
    return Permission.objects.get(codename="add_campaign")


@pytest.fixture
def lead():
    user = UserFactory(username="lead", email="lead@lab.org")
    user.user_permissions.add(_perm())
    return user


def _web(user):
    c = Client()
    c.force_login(user)
    return c


def _api(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


def _fresh(user):
    return type(user).objects.get(pk=user.pk)  # has_perm caches per instance


def test_a_creator_grants_by_username_or_email_and_it_is_idempotent(lead):
    ann = UserFactory(username="ann", email="Ann@Lab.org")
    UserFactory(username="bo")
    rows = svc.campaign_creators_add(who=["ann@lab.org", "bo", " bo "], by=lead)
    assert [(r["username"], r["granted"]) for r in rows] == [("ann", True), ("bo", True)]
    assert _fresh(ann).has_perm("labeling.add_campaign")
    again = svc.campaign_creators_add(who=["ann", "lead"], by=lead)
    assert [(r["username"], r["granted"]) for r in again] == [("ann", False), ("lead", False)]


def test_an_unknown_or_unusable_account_refuses_the_whole_list(lead):
    UserFactory(username="ann")
    gone = UserFactory(username="gone")
    gone.is_active = False
    gone.save()
    with pytest.raises(ValidationFailed) as exc:
        svc.campaign_creators_add(who=["ann", "nobody@lab.org", "gone"], by=lead)
    assert [d.split(":")[0] for d in exc.value.details["who"]] == ["nobody@lab.org", "gone"]
    assert "no such account" in exc.value.message
    assert not _perm().user_set.filter(username="ann").exists()  # all or nothing
    with pytest.raises(ValidationFailed):
        svc.campaign_creators_add(who=["  ", ""], by=lead)
    with pytest.raises(ValidationFailed, match="at most"):
        svc.campaign_creators_add(who=[f"u{i}" for i in range(svc.MAX_PEOPLE + 1)], by=lead)


def test_only_a_creator_may_grant_or_revoke(lead):
    mallory = UserFactory(username="mallory")
    with pytest.raises(Forbidden):
        svc.campaign_creators_add(who=["mallory"], by=mallory)
    with pytest.raises(Forbidden):
        svc.campaign_creator_revoke(username="lead", by=mallory)
    assert not _fresh(mallory).has_perm("labeling.add_campaign") and _fresh(lead).has_perm("labeling.add_campaign")


def test_revoking_keeps_their_campaigns_and_refuses_what_is_not_a_direct_grant(lead):
    ann = UserFactory(username="ann")
    svc.campaign_creators_add(who=["ann"], by=lead)
    campaign = campaign_create(slug="anns", created_by=_fresh(ann), name="Ann's")
    assert svc.campaign_creator_revoke(username="ann", by=lead)["revoked"] is True
    assert not _fresh(ann).has_perm("labeling.add_campaign")
    assert Membership.objects.get(campaign=campaign, user=ann).role == "manager"  # still runs it
    with pytest.raises(NotFound):
        svc.campaign_creator_revoke(username="ann", by=lead)  # no longer could
    with pytest.raises(NotFound):
        svc.campaign_creator_revoke(username="nobody", by=lead)
    admin = UserFactory(username="root", is_superuser=True)
    with pytest.raises(Conflict, match="administrator"):
        svc.campaign_creator_revoke(username="root", by=lead)
    group = Group.objects.create(name="leads")
    group.permissions.add(_perm())
    carl = UserFactory(username="carl")
    carl.groups.add(group)
    with pytest.raises(Conflict, match="group leads"):
        svc.campaign_creator_revoke(username="carl", by=lead)
    how = {r["username"]: (r["how"], r["revocable"]) for r in crsel.campaign_creators(viewer=lead)}
    assert how == {"lead": ("granted", True), "root": ("administrator", False), "carl": ("group", False)}
    assert admin.pk


def test_someone_must_always_be_able_to_create_campaigns(lead):
    with pytest.raises(Conflict, match="last person"):
        svc.campaign_creator_revoke(username="lead", by=lead)
    UserFactory(username="ann")
    svc.campaign_creators_add(who=["ann"], by=lead)
    svc.campaign_creator_revoke(username="lead", by=lead)  # yourself, once someone else can
    assert not _fresh(lead).has_perm("labeling.add_campaign")


def test_the_page_lists_grants_with_who_granted_them_and_when(lead):
    ann = UserFactory(username="ann")
    web = _web(lead)
    r = web.post("/manage/creators/", {"people": "ann, lead"})
    assert r.status_code == 302
    page = web.get("/manage/creators/")
    assert "ann can now create campaigns; lead already could" in page.content.decode()
    row = next(r for r in page.context["rows"] if r["username"] == "ann")
    assert row["granted_by"] == "lead" and row["granted_at"] and row["revocable"]
    assert page.context["changes"][0] == {"at": page.context["changes"][0]["at"], "change": "granted",
                                          "username": "ann", "by": "lead"}
    r = web.post("/manage/creators/revoke/", {"username": "ann"})
    assert r.status_code == 302 and not _fresh(ann).has_perm("labeling.add_campaign")
    changes = web.get("/manage/creators/").context["changes"]
    assert [(c["change"], c["username"], c["by"]) for c in changes[:2]] == [("revoked", "ann", "lead"),
                                                                           ("granted", "ann", "lead")]


def test_the_page_shows_errors_in_place_and_guards_your_own_revoke(lead):
    web = _web(lead)
    r = web.post("/manage/creators/", {"people": "ghost"})
    assert r.status_code == 400 and "ghost: no such account" in r.content.decode()
    UserFactory(username="ann")
    svc.campaign_creators_add(who=["ann"], by=lead)
    web.post("/manage/creators/revoke/", {"username": "lead"})  # no tick: refused
    assert _fresh(lead).has_perm("labeling.add_campaign")
    r = web.post("/manage/creators/revoke/", {"username": "lead", "confirm": "yes"})
    assert r.status_code == 302 and r.url == "/manage/" and not _fresh(lead).has_perm("labeling.add_campaign")
    assert web.get("/manage/creators/").status_code == 403


def test_the_page_suggests_managers_and_experts_of_your_campaigns(lead):
    campaign = campaign_create(slug="c1", created_by=lead, name="C1")
    co = UserFactory(username="co-lead")
    expert = UserFactory(username="expert")
    UserFactory(username="stranger")
    annotator = UserFactory(username="annotator")
    membership_set(campaign=campaign, user=co, role="manager")
    membership_set(campaign=campaign, user=expert, role="annotator", can_adjudicate=True)
    membership_set(campaign=campaign, user=annotator, role="annotator")
    assert crsel.creator_candidates(user=lead) == ["co-lead", "expert"]
    assert b"<code>co-lead</code>" in _web(lead).get("/manage/creators/").content


def test_people_who_cannot_create_campaigns_get_403_everywhere(lead):
    ann = UserFactory(username="ann")
    assert _web(ann).get("/manage/creators/").status_code == 403
    assert _web(ann).post("/manage/creators/revoke/", {"username": "lead"}).status_code == 403
    assert _api(ann).get("/api/manage/creators/").status_code == 403
    r = _api(ann).post("/api/manage/creators/", {"who": ["ann"]}, format="json")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert not _fresh(ann).has_perm("labeling.add_campaign")


def test_the_api_grants_lists_and_revokes(lead):
    UserFactory(username="ann", email="ann@lab.org")
    api = _api(lead)
    r = api.post("/api/manage/creators/", {"who": ["ann@lab.org"]}, format="json")
    assert r.status_code == 200 and r.json()["results"][0]["username"] == "ann"
    body = api.get("/api/manage/creators/").json()
    assert {c["username"] for c in body["results"]} == {"ann", "lead"}
    assert body["changes"][0]["change"] == "granted" and body["changes"][0]["username"] == "ann"
    r = api.post("/api/manage/creators/", {"who": ["ann"], "role": "manager"}, format="json")
    assert r.status_code == 400 and "role" in r.json()["details"]
    r = api.post("/api/manage/creators/", {"who": ["ghost"]}, format="json")
    assert r.status_code == 400 and r.json()["details"]["who"][0].startswith("ghost: no such account")
    ann_id = next(c["user_id"] for c in body["results"] if c["username"] == "ann")
    assert api.delete("/api/manage/creators/ann/").json() == {"username": "ann", "user_id": ann_id, "revoked": True,
                                                            "still_can": False}
    assert api.delete("/api/manage/creators/lead/").status_code == 409  # the last one
    assert api.delete("/api/manage/creators/ghost/").status_code == 404


def test_creators_is_a_reserved_campaign_slug(lead):
    with pytest.raises(ValidationFailed, match="reserved"):
        campaign_create(slug="creators", created_by=lead, name="x")
    assert not Campaign.objects.filter(slug="creators").exists()


def test_odd_names_are_clear_errors_not_500s(lead):
    web = _web(lead)
    r = web.post("/manage/creators/revoke/", {"username": "a\x00b"})
    assert r.status_code == 302  # back to the page with the error as a message
    assert "no such account" in web.get("/manage/creators/").content.decode()
    r = web.post("/manage/creators/", {"people": "a\x00b"})
    assert r.status_code == 400 and "Null characters are not allowed" in r.content.decode()
    with pytest.raises(ValidationFailed, match="no such account"):
        svc.campaign_creators_add(who=["a\x00b"], by=lead)
    assert web.post("/manage/creators/", {}).status_code == 400  # an empty POST is a bound form with an error
    assert web.put("/manage/creators/").status_code == 405
    assert _api(lead).delete("/api/manage/creators/" + "x" * 200 + "/").status_code == 404


def test_one_person_named_twice_is_granted_once(lead):
    UserFactory(username="ann", email="ann@lab.org")
    rows = svc.campaign_creators_add(who=["ann", "ann@lab.org"], by=lead)
    assert [(r["username"], r["granted"]) for r in rows] == [("ann", True)]


def test_revoking_a_grant_someone_also_holds_by_a_group_says_they_keep_it(lead):
    carl = UserFactory(username="carl")
    group = Group.objects.create(name="leads")
    group.permissions.add(_perm())
    carl.groups.add(group)
    carl.user_permissions.add(_perm())
    lead.user_permissions.remove(_perm())  # carl is then the only holder, and keeps it through the group
    result = svc.campaign_creator_revoke(username="carl", by=_fresh(carl))
    assert result["still_can"] is True and _fresh(carl).has_perm("labeling.add_campaign")


def test_a_caller_whose_permission_went_meanwhile_is_refused(lead):
    ann = UserFactory(username="ann")
    svc.campaign_creators_add(who=["ann"], by=lead)
    stale = _fresh(ann)
    assert stale.has_perm("labeling.add_campaign")  # the request's user, its permissions cached
    svc.campaign_creator_revoke(username="ann", by=lead)
    UserFactory(username="bo")
    with pytest.raises(Forbidden, match="just taken back"):
        svc.campaign_creator_revoke(username="lead", by=stale)
    with pytest.raises(Forbidden):
        svc.campaign_creators_add(who=["bo"], by=stale)
    assert _fresh(lead).has_perm("labeling.add_campaign")


@pytest.mark.django_db(transaction=True)
def test_two_creators_revoking_each_other_at_once_leave_one(lead):
    import threading

    from django.db import connection

    ann = UserFactory(username="ann")
    ann.user_permissions.add(_perm())
    barrier, results = threading.Barrier(2), {}

    def revoke(target, by):
        try:
            barrier.wait()
            results[target] = svc.campaign_creator_revoke(username=target, by=_fresh(by))["revoked"]
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            results[target] = type(exc).__name__
        finally:
            connection.close()

    threads = [threading.Thread(target=revoke, args=("ann", lead)), threading.Thread(target=revoke, args=("lead", ann))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(map(str, results.values())) == ["Forbidden", "True"], results  # no deadlock, one left
    assert svc.creators_queryset().count() == 1


def test_a_creator_sees_their_own_email_but_not_the_others_an_administrator_sees_all(lead):
    UserFactory(username="ann", email="ann@lab.org")
    svc.campaign_creators_add(who=["ann"], by=lead)
    admin = UserFactory(username="root", email="root@lab.org", is_superuser=True)
    emails = {c["username"]: c["email"] for c in _api(lead).get("/api/manage/creators/").json()["results"]}
    assert emails == {"lead": "lead@lab.org", "ann": None, "root": None}
    page = _web(lead).get("/manage/creators/").text
    assert "lead@lab.org" in page and "ann@lab.org" not in page and "root@lab.org" not in page
    emails = {c["username"]: c["email"] for c in _api(admin).get("/api/manage/creators/").json()["results"]}
    assert emails == {"lead": "lead@lab.org", "ann": "ann@lab.org", "root": "root@lab.org"}

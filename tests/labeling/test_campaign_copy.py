"""A new campaign made from one you run: its settings and people, never its pool."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from active_learning.models import ActiveLearningConfig
from active_learning.services.training import al_config_update
from labeling.errors import Conflict
from labeling.models import Campaign, Membership, Task
from labeling.services.campaigns import campaign_copy, membership_set
from labeling.services.users import external_labelers_get_or_create
from tests.factories import CampaignFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    c = CampaignFactory(slug="math-dec", name="MATH, December", overlap=3, qc_rate=0.2,
                        instructions="Rate $x$ steps.", screening_size=0)
    boss, expert, ann = UserFactory(username="boss"), UserFactory(username="eve"), UserFactory(username="ann")
    membership_set(campaign=c, user=boss, role=Membership.Role.MANAGER)
    membership_set(campaign=c, user=expert, role=Membership.Role.ANNOTATOR, can_adjudicate=True)
    m = membership_set(campaign=c, user=ann)
    m.hourly_rate = Decimal("41.50")
    m.save()
    imported = external_labelers_get_or_create(labelers={"5a1d6c1e-0000-4000-8000-000000000001"}, source="prm800k")
    Membership.objects.create(campaign=c, user_id=next(iter(imported.values())))  # an inactive PRM800K labeler
    TaskFactory(campaign=c)
    al_config_update(campaign=c, changes={"refill_size": 77, "strategy": "uncertainty"})
    boss.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    return c


def test_a_copy_takes_settings_and_people_but_no_pool(source):
    boss = Membership.objects.get(campaign=source, user__username="boss").user
    copy, added = campaign_copy(source=source, slug="math-jan", name="MATH, January", created_by=boss, members=True,
                                overlap=source.overlap, qc_rate=source.qc_rate, instructions=source.instructions)
    assert added == 2  # eve and ann; boss is already its manager; the inactive labeler stays behind
    people = {m.user.username: m for m in Membership.objects.filter(campaign=copy).select_related("user")}
    assert set(people) == {"boss", "eve", "ann"} and people["boss"].role == "manager"
    assert people["eve"].can_adjudicate and people["ann"].hourly_rate == Decimal("41.50")
    assert (copy.overlap, copy.qc_rate, copy.instructions) == (3, 0.2, "Rate $x$ steps.")
    assert not Task.objects.filter(campaign=copy).exists()
    config = ActiveLearningConfig.objects.get(campaign=copy)  # active learning's copy hook
    assert (config.refill_size, config.strategy) == (77, "uncertainty")


def test_a_paused_annotator_stays_paused_in_the_copy(source):
    from labeling.services.quality import membership_status_set

    boss = Membership.objects.get(campaign=source, user__username="boss").user
    ann = Membership.objects.get(campaign=source, user__username="ann").user
    membership_status_set(campaign=source, member_id=ann.pk, status="paused", by=boss, reason="QC below 60%")
    copy, _ = campaign_copy(source=source, slug="math-jan", name="MATH, January", created_by=boss, members=True)
    m = Membership.objects.get(campaign=copy, user=ann)
    assert m.status == "paused" and "paused in 'math-dec'" in m.status_reason and "QC below 60%" in m.status_reason
    assert Membership.objects.get(campaign=copy, user__username="eve").status == "active"


def test_a_copy_whose_hook_fails_writes_nothing(source, monkeypatch):
    from labeling import extensions

    def broken(**_):
        raise RuntimeError("the other app failed")

    monkeypatch.setitem(extensions.registry.copy_hooks, "zz-broken", broken)
    boss = Membership.objects.get(campaign=source, user__username="boss").user
    with pytest.raises(RuntimeError):
        campaign_copy(source=source, slug="math-jan", name="MATH, January", created_by=boss, members=True)
    assert not Campaign.objects.filter(slug="math-jan").exists()
    assert not Membership.objects.exclude(campaign=source).exists()
    assert not ActiveLearningConfig.objects.filter(campaign__slug="math-jan").exists()


def test_a_copy_onto_a_taken_slug_writes_nothing(source):
    boss = Membership.objects.get(campaign=source, user__username="boss").user
    with pytest.raises(Conflict):
        campaign_copy(source=source, slug="math-dec", name="again", created_by=boss, members=True)
    assert Campaign.objects.count() == 1 and Membership.objects.filter(campaign=source).count() == 4


def test_the_settings_page_offers_a_copy_and_the_form_starts_from_the_source(source, client):
    boss = Membership.objects.get(campaign=source, user__username="boss").user
    client.force_login(boss)
    page = client.get("/manage/math-dec/settings/").content.decode()
    assert 'href="/manage/new/?from=math-dec" data-action="copy-campaign"' in page
    page = client.get("/manage/new/?from=math-dec").content.decode()
    assert 'value="MATH, December (copy)"' in page and 'name="copy_members"' in page
    assert 'name="slug" value="math-dec-copy"' in page
    assert 'data-role="copy-note"' in page and "Rate $x$ steps." in page

    form = {"slug": "math-feb", "name": "MATH, February", "mode": source.mode, "reveal": source.reveal,
            "overlap": "2", "qc_rate": "0.1", "lease_minutes": "30", "critique": "optional",
            "error_types": "optional", "error_taxonomy": "calc: Calculation error", "prelabels": "off",
            "prelabel_share": "1", "prelabel_threshold": "0.5", "screening_size": "0", "screening_threshold": "0.8",
            "autopause_window": "0", "autopause_threshold": "0.5", "instructions": "Be strict."}
    r = client.post("/manage/new/?from=math-dec", form)  # copy_members left unticked
    assert r.status_code == 302 and r.url == "/manage/math-feb/members/", r.content.decode()[:2000]
    feb = Campaign.objects.get(slug="math-feb")
    assert list(Membership.objects.filter(campaign=feb).values_list("user__username", flat=True)) == ["boss"]
    assert (feb.overlap, feb.instructions) == (2, "Be strict.")
    r = client.post("/manage/new/?from=math-dec", {**form, "slug": "math-mar", "copy_members": "on"})
    assert r.status_code == 302
    assert Membership.objects.filter(campaign__slug="math-mar").count() == 3


def test_only_a_campaign_you_manage_can_be_copied(source, client):
    outsider = UserFactory()
    outsider.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    client.force_login(outsider)
    assert client.get("/manage/new/?from=math-dec").status_code == 403
    assert client.get("/manage/new/?from=nope").status_code == 404
    assert client.get("/manage/new/").status_code == 200

import pytest

from active_learning.models import ActiveLearningConfig, TrainingRun
from labeling.models import Membership
from tests.factories import CampaignFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/active_learning/activelearningconfig/"


@pytest.fixture
def setup():
    mine, other = CampaignFactory(slug="mine"), CampaignFactory(slug="other")
    for c in (mine, other):
        ActiveLearningConfig.objects.create(campaign=c, min_labels=0)
    manager = UserFactory(is_staff=True)
    MembershipFactory(campaign=mine, user=manager, role=Membership.Role.MANAGER)
    return mine, other, manager


def test_a_campaign_manager_edits_only_their_campaigns_settings(client, setup):
    mine, other, manager = setup
    client.force_login(manager)
    page = client.get(URL)
    assert page.status_code == 200
    assert "mine" in page.text and "other" not in page.text
    cfg = mine.al_config
    assert client.get(f"{URL}{cfg.pk}/change/").status_code == 200
    assert client.get(f"{URL}{other.al_config.pk}/change/").status_code == 302  # not in their queryset


def test_retrain_now_action_queues_a_run(client, setup, django_capture_on_commit_callbacks, monkeypatch):
    mine, _, manager = setup
    monkeypatch.setattr("labeling.services.outbox.outbox_publish", lambda ids: None)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(URL, {"action": "retrain_now", "_selected_action": [mine.al_config.pk]}, follow=True)
    assert "queued training run" in resp.text
    run = TrainingRun.objects.get(campaign=mine)
    assert run.trigger == "manual" and run.requested_by == manager


def test_retrain_now_below_min_labels_warns_and_queues_nothing(client, setup):
    mine, _, manager = setup
    ActiveLearningConfig.objects.filter(campaign=mine).update(min_labels=20)
    client.force_login(manager)
    resp = client.post(URL, {"action": "retrain_now", "_selected_action": [mine.al_config.pk]}, follow=True)
    assert "has 0 submitted labels and trains from 20" in resp.text
    assert not TrainingRun.objects.filter(campaign=mine).exists()


@pytest.mark.parametrize("staff", [False, True])
def test_annotators_and_non_managers_are_refused(client, setup, staff):
    mine, _, _ = setup
    user = UserFactory(is_staff=staff)
    MembershipFactory(campaign=mine, user=user, role=Membership.Role.ANNOTATOR)
    client.force_login(user)
    assert client.get(URL).status_code in (302, 403)


def test_a_campaign_manager_edits_their_campaign_and_members_in_the_admin(client, setup):
    mine, other, manager = setup
    client.force_login(manager)
    assert client.get(f"/admin/labeling/campaign/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/labeling/campaign/{other.pk}/change/").status_code == 302  # not theirs
    listing = client.get("/admin/labeling/campaign/")
    assert listing.status_code == 200 and "mine" in listing.text and "other" not in listing.text
    add = client.get("/admin/labeling/membership/add/")
    assert add.status_code == 200
    # The campaign choices are only the manager's own campaigns.
    assert f'value="{mine.pk}"' in add.text and f'value="{other.pk}"' not in add.text
    annotator = UserFactory()
    client.force_login(annotator)
    assert client.get(f"/admin/labeling/campaign/{mine.pk}/change/").status_code == 302  # not staff: login


@pytest.mark.parametrize("page", ["labeling/membership", "labeling/task", "labeling/assignment",
                                  "active_learning/prmmodel", "active_learning/trainingrun"])
def test_the_admins_campaign_filter_names_only_the_managers_campaigns(client, setup, page):
    mine, other, manager = setup
    MembershipFactory(campaign=other, role=Membership.Role.ANNOTATOR)
    client.force_login(manager)
    listing = client.get(f"/admin/{page}/")
    assert listing.status_code == 200
    assert f"campaign__id__exact={other.pk}" not in listing.text and other.name not in listing.text
    boss = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(boss)
    members = client.get("/admin/labeling/membership/").text
    assert f"campaign__id__exact={other.pk}" in members  # a superuser still filters by any campaign

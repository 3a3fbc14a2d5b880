"""A manager changes a member's role, down as well as up, from the Members page or the API."""

import pytest
from rest_framework.test import APIClient

from labeling.errors import NotFound, ValidationFailed
from labeling.models import Membership
from labeling.services.campaigns import membership_role_change, membership_set
from tests.factories import CampaignFactory, SolutionFactory, UserFactory, submitted_labels

pytestmark = pytest.mark.django_db


def _m(campaign, user):
    return Membership.objects.get(campaign=campaign, user=user)


def test_roles_change_both_ways_and_a_campaign_keeps_a_manager():
    c = CampaignFactory(screening_size=2)
    boss, ann = UserFactory(), UserFactory()
    membership_set(campaign=c, user=boss, role="manager")
    membership_set(campaign=c, user=ann)
    assert _m(c, ann).status == "screening"
    membership_role_change(campaign=c, user_id=ann.pk, role="expert")
    assert (_m(c, ann).role, _m(c, ann).can_adjudicate, _m(c, ann).status) == ("annotator", True, "screening")
    membership_role_change(campaign=c, user_id=ann.pk, role="manager")
    assert _m(c, ann).role == "manager"
    membership_role_change(campaign=c, user_id=boss.pk, role="annotator")  # ann still manages it
    assert (_m(c, boss).role, _m(c, boss).can_adjudicate) == ("annotator", False)
    with pytest.raises(ValidationFailed, match="a campaign needs a manager"):
        membership_role_change(campaign=c, user_id=ann.pk, role="annotator")
    with pytest.raises(ValidationFailed, match="role must be one of"):
        membership_role_change(campaign=c, user_id=ann.pk, role="owner")
    with pytest.raises(NotFound):
        membership_role_change(campaign=c, user_id=UserFactory().pk, role="expert")
    assert _m(c, ann).role == "manager"


def test_the_members_page_and_the_api_change_a_role(client):
    c = CampaignFactory()
    boss, ann = UserFactory(username="boss"), UserFactory(username="ann")
    membership_set(campaign=c, user=boss, role="manager")
    membership_set(campaign=c, user=ann, role="manager")
    task = c.tasks.create(solution=SolutionFactory())
    submitted_labels(task, ann, [1])
    client.force_login(boss)
    page = client.get(f"/manage/{c.slug}/members/").content.decode()
    assert f'action="/manage/{c.slug}/members/{ann.pk}/role/"' in page
    r = client.post(f"/manage/{c.slug}/members/{ann.pk}/role/", {"role": "expert"}, follow=True)
    assert "ann is now an expert" in r.content.decode()
    assert (_m(c, ann).role, _m(c, ann).can_adjudicate) == ("annotator", True)
    assert '<option value="expert" selected>' in r.content.decode()

    api = APIClient()
    api.force_authenticate(boss)
    r = api.post(f"/api/manage/campaigns/{c.slug}/members/{ann.pk}/role/", {"role": "annotator"}, format="json")
    assert r.status_code == 200 and (r.json()["role_name"], r.json()["labels"]) == ("annotator", 1)
    r = api.post(f"/api/manage/campaigns/{c.slug}/members/{boss.pk}/role/", {"role": "annotator"}, format="json")
    assert r.status_code == 400 and "needs a manager" in r.json()["detail"]
    r = api.post(f"/api/manage/campaigns/{c.slug}/members/{ann.pk}/role/", {"role": "boss"}, format="json")
    assert r.status_code == 400 and "role" in r.json()["details"]


def test_a_non_member_is_not_found_for_status_as_for_role_and_removal():
    c = CampaignFactory()
    boss = UserFactory()
    membership_set(campaign=c, user=boss, role="manager")
    api = APIClient()
    api.force_authenticate(boss)
    stranger = UserFactory()
    for path, body in [(f"members/{stranger.pk}/status/", {"status": "paused"}),
                       (f"members/{stranger.pk}/role/", {"role": "expert"})]:
        r = api.post(f"/api/manage/campaigns/{c.slug}/{path}", body, format="json")
        assert r.status_code == 404 and "is not a member" in r.json()["detail"], (path, r.content)

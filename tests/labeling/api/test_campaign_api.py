"""Running a campaign through the manager API, as a script would."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from labeling.models import Campaign, Membership, Task
from tests.factories import MembershipFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def lead(settings):
    settings.EMAIL_ENABLED = False
    user = UserFactory(username="lead")
    user.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    return user


def test_a_manager_creates_configures_and_staffs_a_campaign_over_the_api(lead):
    api = _client(lead)
    r = api.post("/api/manage/campaigns/", {"slug": "math-api", "name": "MATH via API", "mode": "first_error",
                                             "reveal": "progressive", "overlap": 1, "qc_rate": 0,
                                             "hourly_rate": "28.00"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["slug"], body["reveal"], body["hourly_rate"], body["created_by"]) == ("math-api", "progressive",
                                                                                         "28.00", "lead")
    c = Campaign.objects.get(slug="math-api")
    assert Membership.objects.get(campaign=c, user=lead).role == "manager"
    for _ in range(2):
        TaskFactory(campaign=c, solution=SolutionFactory())
    Task.objects.filter(campaign=c).update(taken=1, is_open=False)
    r = api.patch("/api/manage/campaigns/math-api/", {"overlap": 2, "qc_rate": 0.1}, format="json")
    assert r.status_code == 200
    assert r.json()["changed"] == ["overlap", "qc_rate"] and r.json()["reopened"] == 2
    assert "reopened 2 tasks" in r.json()["summary"]
    r = api.post("/api/manage/campaigns/math-api/members/",
                 {"text": "email,role\nann@example.com,annotator\nexp@example.com,expert", "role": "annotator"},
                 format="json")
    assert r.status_code == 200
    results = {m["who"]: m for m in r.json()["results"]}
    assert results["ann@example.com"]["invite_url"].startswith("http://testserver/invite/")
    assert results["exp@example.com"]["role"] == "expert"
    members = {m["username"]: m for m in api.get("/api/manage/campaigns/math-api/members/").json()["results"]}
    assert members["ann"]["invite_pending"] and members["exp"]["expert"] and members["lead"]["role"] == "manager"
    r = api.delete("/api/manage/campaigns/math-api/members/", {"who": ["ann@example.com"]}, format="json")
    assert r.json() == {"removed": 1}
    assert api.get("/api/manage/campaigns/math-api/cost/?period=day").json()["results"] == []


def test_bad_requests_are_clear_4xx_and_change_nothing(lead):
    api = _client(lead)
    assert api.post("/api/manage/campaigns/", {"slug": "x-1", "name": "X", "overlap": 0},
                    format="json").json()["detail"] == "overlap must be between 1 and 100"
    assert api.post("/api/manage/campaigns/", {"slug": "x-1", "name": "X", "colour": "red"},
                    format="json").status_code == 400
    assert not Campaign.objects.filter(slug="x-1").exists()
    api.post("/api/manage/campaigns/", {"slug": "x-1", "name": "X"}, format="json")
    r = api.post("/api/manage/campaigns/", {"slug": "x-1", "name": "X"}, format="json")
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    r = api.patch("/api/manage/campaigns/x-1/", {"overlap": 3, "status": "sideways"}, format="json")
    assert r.status_code == 400 and Campaign.objects.get(slug="x-1").overlap == 1  # all or nothing
    r = api.patch("/api/manage/campaigns/x-1/", ["not", "an", "object"], format="json")
    assert r.status_code == 400
    r = api.post("/api/manage/campaigns/x-1/members/", {"entries": ["ghost"]}, format="json")
    assert r.status_code == 400 and "no user 'ghost'" in r.json()["detail"]
    r = api.get("/api/manage/campaigns/x-1/cost/?period=month")
    assert r.status_code == 400 and r.json()["detail"] == 'period: "month" is not a valid choice.'
    r = api.get("/api/manage/campaigns/x-1/cost/?since=yesterday")
    assert r.status_code == 400 and r.json()["detail"].startswith("since: Date has wrong format")


def test_only_permitted_people_create_and_only_managers_change(lead):
    other = MembershipFactory(role="manager").user
    annotator = UserFactory()
    assert _client(annotator).post("/api/manage/campaigns/", {"slug": "nope", "name": "N"},
                                   format="json").status_code == 403
    _client(lead).post("/api/manage/campaigns/", {"slug": "mine", "name": "Mine"}, format="json")
    assert _client(other).patch("/api/manage/campaigns/mine/", {"overlap": 5}, format="json").status_code == 403
    assert Campaign.objects.get(slug="mine").overlap == 1


def test_odd_bodies_are_4xx(lead):
    from active_learning.models import PRMModel

    api = _client(lead)
    api.post("/api/manage/campaigns/", {"slug": "odd", "name": "Odd"}, format="json")
    for body in ([1], "x", 123):
        r = api.post("/api/manage/campaigns/odd/models/1/promote/", body, format="json")
        assert r.status_code == 400 and r.json()["error"] == "validation_failed", r.content
    c = Campaign.objects.get(slug="odd")
    PRMModel.objects.create(campaign=c, version=1, backbone="b", checkpoint_path="/nonexistent")
    r = api.post("/api/manage/campaigns/odd/models/1/promote/", {"confirm": True}, format="json")
    assert r.status_code == 400 and "checkpoint of v1 is missing" in r.json()["detail"]
    for raw in ('{"overlap": 1e400}', '{"lease_minutes": 1e400}', '{"hourly_rate": "NaN"}', '{"qc_rate": true}'):
        r = api.generic("PATCH", "/api/manage/campaigns/odd/", raw, content_type="application/json")
        assert r.status_code == 400, (raw, r.content)

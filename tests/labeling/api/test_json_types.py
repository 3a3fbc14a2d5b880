"""A JSON body with a value of the wrong type is a 400 naming the field, not a silent coercion:
`"rating": "1"` or `"flagged": "no"` could be a client's bug that would otherwise land as data."""

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.http import QueryDict
from rest_framework.test import APIClient

from labeling.api.serializers import RatingSerializer
from labeling.models import Assignment, Campaign, StepLabel
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def opened():
    campaign = CampaignFactory(qc_rate=0)
    user = MembershipFactory(campaign=campaign).user
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["a", "b", "c"]))
    client = APIClient()
    client.force_authenticate(user)
    task = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    return client, task["id"]


def _submit(client, pk, ratings, **extra):
    return client.post(f"/api/assignments/{pk}/submit/",
                       {"submission_id": str(uuid.uuid4()), "ratings": ratings, **extra}, format="json")


@pytest.mark.parametrize("rating, got", [("1", "a string"), (1.0, "a number"), (True, "true or false"),
                                         ([1], "a list")])
def test_a_rating_must_be_a_json_integer(opened, rating, got):
    client, pk = opened
    resp = _submit(client, pk, [{"step": 0, "rating": 1}, {"step": 1, "rating": rating}])
    assert resp.status_code == 400, resp.json()
    assert f"rating: expected an integer, got {got}" in resp.json()["detail"]
    assert StepLabel.objects.count() == 0 and Assignment.objects.get(pk=pk).submitted_at is None


def test_flags_steps_and_text_keep_their_types(opened):
    client, pk = opened
    cases = [
        ({"step": 0, "rating": -1, "flagged": "no"}, "flagged: expected true or false, got a string"),
        ({"step": "0", "rating": -1}, "step: expected an integer, got a string"),
        ({"step": 0, "rating": -1, "critique": 5}, "critique: expected a string, got an integer"),
        ({"step": 0, "rating": -1, "error_types": ["calc", 3]}, "error_types: item 1: expected a string"),
    ]
    for row, message in cases:
        resp = _submit(client, pk, [row])
        assert resp.status_code == 400 and message in resp.json()["detail"], (row, resp.json())
    assert _submit(client, pk, [{"step": 0, "rating": 1}, {"step": 1, "rating": -1, "flagged": False}],
                   active_ms="12").status_code == 400
    # DRF's UUIDField would take an integer as UUID(int=...): a submission id that no client sent.
    resp = client.post(f"/api/assignments/{pk}/submit/", {"submission_id": 12345, "ratings": [
        {"step": 0, "rating": 1}, {"step": 1, "rating": -1}]}, format="json")
    assert resp.status_code == 400 and "submission_id: expected a string, got an integer" in resp.json()["detail"]
    ok = _submit(client, pk, [{"step": 0, "rating": 1}, {"step": 1, "rating": -1, "flagged": True}], active_ms=12)
    assert ok.status_code == 200 and StepLabel.objects.filter(flagged=True).count() == 1


def test_nulls_are_left_to_the_field_and_forms_keep_their_text_values():
    assert RatingSerializer(data={"step": 0, "rating": None}).is_valid() is False  # not allow_null: DRF says so
    # A query string or form is all text: the type check applies to JSON objects only.
    ser = RatingSerializer(data=QueryDict("step=0&rating=1&flagged=true"))
    assert ser.is_valid(), ser.errors
    assert ser.validated_data == {"step": 0, "rating": 1, "flagged": True, "critique": "", "error_types": []}


def test_manager_inputs_are_checked_too():
    campaign = CampaignFactory()
    manager = MembershipFactory(campaign=campaign, role="manager").user
    UserFactory(username="ann")
    client = APIClient()
    client.force_authenticate(manager)
    resp = client.post(f"/api/manage/campaigns/{campaign.slug}/members/", {"entries": ["ann", 7]}, format="json")
    assert resp.status_code == 400 and "entries: item 1: expected a string, got an integer" in resp.json()["detail"]
    resp = client.post(f"/api/manage/campaigns/{campaign.slug}/members/", {"entries": ["ann"], "role": 1},
                       format="json")
    assert resp.status_code == 400 and "role: expected a string" in resp.json()["detail"]


def test_campaign_settings_keep_their_json_types_in_create_and_patch():
    boss = UserFactory(username="boss")
    boss.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    client = APIClient()
    client.force_authenticate(boss)
    cases = [({"overlap": "3"}, "overlap: expected an integer, got a string"),
             ({"qc_rate": "0.1"}, "qc_rate: expected a number, got a string"),
             ({"show_ground_truth": "false"}, "show_ground_truth: expected true or false, got a string"),
             ({"mode": 1}, "mode: expected a string, got an integer"),
             ({"lease_minutes": 30.0}, "lease_minutes: expected an integer, got a number")]
    for bad, message in cases:
        resp = client.post("/api/manage/campaigns/", {"slug": "math-x", "name": "MATH", **bad}, format="json")
        assert resp.status_code == 400 and message in resp.json()["detail"], (bad, resp.json())
    assert not Campaign.objects.filter(slug="math-x").exists()
    made = client.post("/api/manage/campaigns/", {"slug": "math-x", "name": "MATH", "overlap": 3, "qc_rate": 0,
                                                  "hourly_rate": "42.50", "autopause_window": 0}, format="json")
    assert made.status_code == 201, made.json()
    for bad, message in cases:
        resp = client.patch("/api/manage/campaigns/math-x/", bad, format="json")
        assert resp.status_code == 400 and message in resp.json()["detail"], (bad, resp.json())
    assert Campaign.objects.get(slug="math-x").overlap == 3
    ok = client.patch("/api/manage/campaigns/math-x/", {"overlap": 2, "hourly_rate": 40}, format="json")
    assert ok.status_code == 200 and ok.json()["changed"], ok.json()

import uuid

import pytest
from rest_framework.test import APIClient

from labeling.models import Assignment, Campaign, StepLabel
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory

pytestmark = pytest.mark.django_db

HIDDEN_KEYS = {"is_gold", "is_quality_control", "is_screening", "queue_strategy", "queue_score", "priority",
               "queue_model_version"}


def _setup(**campaign_kw):
    campaign = CampaignFactory(**campaign_kw)
    user = MembershipFactory(campaign=campaign).user
    client = APIClient()
    client.force_authenticate(user)
    return campaign, user, client


def test_full_labeling_flow_over_the_api():
    campaign, user, client = _setup(qc_rate=0, show_ground_truth=True)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=["a", "b", "c"]))
    task = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    assert [s["text"] for s in task["steps"]] == ["a", "b", "c"]
    assert task["ground_truth_answer"] == "42" and task["mode"] == "first_error"
    r = client.put(f"/api/assignments/{task['id']}/draft/", {"ratings": [{"step": 0, "rating": 1}]}, format="json")
    assert r.status_code == 200
    again = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    assert again["id"] == task["id"] and again["steps"][0]["rating"] == 1  # resume
    body = {"submission_id": str(uuid.uuid4()), "ratings": [{"step": 0, "rating": 1}, {"step": 1, "rating": -1}],
            "corrected_step": "b, fixed", "active_ms": 4200}
    done = client.post(f"/api/assignments/{task['id']}/submit/", body, format="json")
    assert done.status_code == 200 and done.json()["finish_reason"] == "found_error"
    replay = client.post(f"/api/assignments/{task['id']}/submit/", body, format="json")
    assert replay.status_code == 200 and replay.json() == done.json()
    assert StepLabel.objects.count() == 2
    assert Assignment.objects.get().active_ms == 4200
    assert client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").status_code == 204


def test_ground_truth_hidden_when_the_campaign_says_so():
    campaign, user, client = _setup(qc_rate=0, show_ground_truth=False)
    TaskFactory(campaign=campaign)
    assert client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()["ground_truth_answer"] is None


def test_gold_items_look_exactly_like_normal_ones():
    campaign, user, client = _setup(qc_rate=1.0)
    TaskFactory(campaign=campaign, is_gold=True)
    TaskFactory(campaign=campaign)
    gold = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    assert Assignment.objects.get(pk=gold["id"]).is_quality_control is True
    normal = client.post(f"/api/campaigns/{campaign.slug}/next/", {"exclude": gold["id"]}, format="json").json()
    assert Assignment.objects.get(pk=normal["id"]).is_quality_control is False
    assert set(gold) == set(normal)
    assert not HIDDEN_KEYS & set(gold)
    listed = client.get("/api/assignments/").json()["results"]
    assert all(not HIDDEN_KEYS & set(row) for row in listed)


def test_validation_errors_are_clear_400s():
    campaign, user, client = _setup(qc_rate=0, mode=Campaign.Mode.ALL_STEPS)
    TaskFactory(campaign=campaign)
    task = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    resp = client.post(f"/api/assignments/{task['id']}/submit/",
                       {"submission_id": str(uuid.uuid4()), "ratings": [{"step": 0, "rating": 1}]}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"] == "validation_failed" and "unrated: [1, 2]" in resp.json()["detail"]
    resp = client.put(f"/api/assignments/{task['id']}/draft/", {"ratings": [{"step": 0, "rating": 2}]},
                      format="json")
    assert resp.status_code == 400 and "rating" in str(resp.json())


def test_expired_lease_submit_is_409_with_instructions():
    from django.utils import timezone

    campaign, user, client = _setup(qc_rate=0)
    TaskFactory(campaign=campaign)
    task = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    Assignment.objects.filter(pk=task["id"]).update(lease_expires_at=timezone.now())
    resp = client.post(f"/api/assignments/{task['id']}/submit/",
                       {"submission_id": str(uuid.uuid4()), "ratings": [{"step": 0, "rating": -1}]}, format="json")
    assert resp.status_code == 409
    assert resp.json()["error"] == "lease_expired" and "Resume" in resp.json()["detail"]


def test_fetch_ahead_open_and_release_over_the_api():
    campaign, user, client = _setup(qc_rate=0, reveal="progressive")
    for _ in range(3):
        TaskFactory(campaign=campaign)
    base = f"/api/campaigns/{campaign.slug}/next/"
    shown = client.post(base, {}, format="json").json()
    assert shown["shown"] is True and shown["reveal"] == "progressive"
    assert shown["ui"] == {"cursor": 0, "flags": [], "history": []}
    ahead = client.post(base, {"exclude": shown["id"]}, format="json").json()
    assert ahead["shown"] is False and ahead["id"] != shown["id"]
    refused = client.post(base, {"exclude": shown["id"], "prefetch": False}, format="json")
    assert refused.status_code == 400 and "prefetch" in str(refused.json())
    assert client.post(f"/api/assignments/{ahead['id']}/release/", {}, format="json").json() == {"released": True}
    opened = client.post(f"/api/assignments/{ahead['id']}/open/", {}, format="json")
    assert opened.status_code == 200 and opened.json()["shown"] is True  # re-leased: it still had room
    assert Assignment.objects.filter(annotator=user, status="leased").count() == 1  # the old shown one lapsed


def test_draft_page_state_round_trips_and_closed_tasks_say_so():
    campaign, user, client = _setup(qc_rate=0)
    TaskFactory(campaign=campaign)
    TaskFactory(campaign=campaign)
    task = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").json()
    ui = {"cursor": 2, "flags": [1], "history": [[{"step": 0, "rating": None, "flagged": False}]]}
    r = client.put(f"/api/assignments/{task['id']}/draft/", {"ratings": [{"step": 0, "rating": 1}], "ui": ui},
                   format="json")
    assert r.status_code == 200
    assert client.get(f"/api/assignments/{task['id']}/").json()["ui"] == ui
    bad = client.put(f"/api/assignments/{task['id']}/draft/", {"ratings": [], "ui": {"flags": [7]}}, format="json")
    assert bad.status_code == 400 and "does not exist" in bad.json()["detail"]
    body = {"submission_id": str(uuid.uuid4()), "ratings": [{"step": 0, "rating": -1}]}
    assert client.post(f"/api/assignments/{task['id']}/submit/", body, format="json").status_code == 200
    other_tab = {"submission_id": str(uuid.uuid4()), "ratings": [{"step": 0, "rating": -1}]}
    resp = client.post(f"/api/assignments/{task['id']}/submit/", other_tab, format="json")
    assert resp.status_code == 409 and resp.json()["error"] == "already_submitted"
    resp = client.put(f"/api/assignments/{task['id']}/draft/", {"ratings": []}, format="json")
    assert resp.status_code == 409 and resp.json()["error"] == "already_submitted"

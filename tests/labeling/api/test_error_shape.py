"""Every error under /api/ is JSON {"error", "detail"}; bad input is a 4xx, never a 500."""

import json
import uuid

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from labeling.services.assignments import assignment_next
from tests.factories import CampaignFactory, MembershipFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    campaign = CampaignFactory(qc_rate=0)
    for _ in range(2):
        TaskFactory(campaign=campaign)
    user = MembershipFactory(campaign=campaign).user
    client = APIClient()
    client.force_authenticate(user)
    return campaign, user, client, assignment_next(user=user, campaign=campaign)


def _shape(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    assert resp["Content-Type"].startswith("application/json"), resp["Content-Type"]
    data = resp.json()
    assert set(data) >= {"error", "detail"} and isinstance(data["detail"], str) and data["detail"], data
    if code:
        assert data["error"] == code, data
    return data


def test_unknown_endpoints_and_methods(world):
    _, _, client, a = world
    _shape(client.get("/api/no-such-thing/"), 404, "not_found")
    _shape(client.delete(f"/api/assignments/{a.pk}/submit/"), 405, "method_not_allowed")
    _shape(APIClient().get("/api/campaigns/"), 403, "not_authenticated")


@pytest.mark.parametrize("debug", [False, True])
def test_a_path_without_its_trailing_slash_is_a_json_404_that_says_so(world, settings, debug):
    # With DEBUG on, Django's APPEND_SLASH raised a RuntimeError (a 500) on a POST it cannot redirect.
    settings.DEBUG = debug
    campaign, _, client, a = world
    for method, path in [("post", f"/api/campaigns/{campaign.slug}/next"), ("put", f"/api/assignments/{a.pk}/draft"),
                         ("patch", f"/api/manage/campaigns/{campaign.slug}")]:
        data = _shape(getattr(client, method)(path, {}, format="json"), 404, "not_found")
        assert data["detail"].endswith(f"the API's paths end with a slash: {path}/"), data
    r = client.get("/api/campaigns")  # a GET loses nothing on the way: Django's redirect stays
    assert r.status_code == 301 and r["Location"].endswith("/api/campaigns/")
    assert client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json").status_code == 200


@pytest.mark.parametrize("payload", [
    {"active_ms": 9223372036854775808},
    {"active_ms": -1},
    {"active_ms": "lots"},
])
def test_out_of_range_numbers_are_400(world, payload):
    _, _, client, a = world
    for path, method, body in [("draft", "put", {"ratings": []}), ("heartbeat", "post", {}),
                               ("submit", "post", {"ratings": [], "submission_id": str(uuid.uuid4())})]:
        body = {**body, **payload}
        data = _shape(getattr(client, method)(f"/api/assignments/{a.pk}/{path}/", body, format="json"), 400,
                      "validation_failed")
        assert "active_ms" in data["detail"]


def test_unknown_fields_are_named_not_dropped(world):
    campaign, _, client, a = world
    sid = str(uuid.uuid4())
    cases = [
        ("post", f"/api/assignments/{a.pk}/submit/",  # a top-level error_types, meant for a rating
         {"submission_id": sid, "ratings": [{"step": 0, "rating": -1}], "error_types": ["calc"]}, "error_types"),
        ("put", f"/api/assignments/{a.pk}/draft/", {"ratings": [{"step": 0, "rating": 1, "flaged": True}]},
         "ratings"),
        ("put", f"/api/assignments/{a.pk}/draft/", {"ratings": [], "ui": {"cursor": 0, "scroll": 3}}, "ui"),
        ("post", f"/api/assignments/{a.pk}/heartbeat/", {"active_ms": 5, "idle_ms": 1}, "idle_ms"),
        ("post", f"/api/campaigns/{campaign.slug}/next/", {"exclude": a.pk, "prefetch_ahead": True}, "prefetch_ahead"),
    ]
    for method, path, body, field in cases:
        data = _shape(getattr(client, method)(path, body, format="json"), 400, "validation_failed")
        assert field in data["details"], (path, data)
    a.refresh_from_db()
    assert a.status == "leased"  # the refused submit wrote nothing


def test_a_deeply_nested_body_is_400(world):
    _, _, client, a = world
    resp = client.generic("PUT", f"/api/assignments/{a.pk}/draft/", "[" * 100_000,
                          content_type="application/json")
    _shape(resp, 400, "parse_error")


@pytest.mark.parametrize("query", ["?status=%00", "?campaign=%00", "?status=sideways", "?limit=99999999999999999999",
                                   "?offset=99999999999999999999999"])
def test_hostile_query_parameters(world, query):
    _, _, client, _ = world
    resp = client.get("/api/assignments/" + query)
    if "limit" in query or "offset" in query:
        assert resp.status_code == 200  # cut to the bounds
        assert len(resp.json()["results"]) <= 500
    else:
        _shape(resp, 400, "validation_failed")


def test_manager_query_parameters(world):
    campaign, _, _, _ = world
    manager = MembershipFactory(campaign=campaign, role="manager").user
    client = APIClient()
    client.force_authenticate(manager)
    _shape(client.get(f"/api/manage/campaigns/{campaign.slug}/adjudications/?status=%00"), 400, "validation_failed")
    assert client.get(f"/api/manage/campaigns/{campaign.slug}/adjudications/?status=resolved").status_code == 200
    # An empty value is no value: the default (open) applies; it answered 500 (found by schemathesis).
    assert client.get(f"/api/manage/campaigns/{campaign.slug}/adjudications/?status=").status_code == 200


def test_validation_errors_name_the_field(world):
    _, _, client, a = world
    data = _shape(client.put(f"/api/assignments/{a.pk}/draft/", {"ratings": [{"step": 0, "rating": 7}]},
                             format="json"), 400, "validation_failed")
    assert data["detail"].startswith("ratings.0.rating:") and "details" in data


@pytest.mark.parametrize("debug", [False, True])
def test_a_body_over_the_limit_is_413(world, settings, debug):
    _, _, client, a = world
    settings.DEBUG = debug  # DEBUG answers with its own 400 page, not handler400
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    resp = client.generic("PUT", f"/api/assignments/{a.pk}/draft/", json.dumps({"note": "x" * 5000}),
                          content_type="application/json")
    _shape(resp, 413, "too_large")


def test_a_database_outage_is_a_json_503_and_a_bug_a_json_500(world, monkeypatch):
    _, _, _, _ = world
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world[1])

    def down(*a, **k):
        raise OperationalError("connection refused")

    monkeypatch.setattr("labeling.selectors.annotator_campaign_stats", down)
    data = _shape(client.get("/api/campaigns/"), 503, "unavailable")
    assert "database" in data["detail"]

    def bug(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("labeling.selectors.annotator_campaign_stats", bug)
    data = _shape(client.get("/api/campaigns/"), 500, "server_error")
    assert "oops" not in data["detail"]  # no internals leak

"""Role x endpoint permission matrix for the annotator API."""

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Membership
from labeling.services.assignments import assignment_next
from tests.factories import CampaignFactory, MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "owner", "other_annotator", "manager"]


@pytest.fixture
def world():
    campaign = CampaignFactory(qc_rate=0)
    for _ in range(4):
        TaskFactory(campaign=campaign)
    users = {
        "outsider": UserFactory(),
        "owner": MembershipFactory(campaign=campaign).user,
        "other_annotator": MembershipFactory(campaign=campaign).user,
        "manager": MembershipFactory(campaign=campaign, role=Membership.Role.MANAGER).user,
    }
    assignment = assignment_next(user=users["owner"], campaign=campaign)
    return campaign, users, assignment


def _client(users, role):
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(users[role])
    return client


def _ratings():
    return [{"step": 0, "rating": 1}, {"step": 1, "rating": 1}, {"step": 2, "rating": 1}]


ENDPOINTS = {
    # name: (method, url(campaign, assignment), body)
    "campaigns": ("get", lambda c, a: "/api/campaigns/", None),
    "next": ("post", lambda c, a: f"/api/campaigns/{c.slug}/next/", {}),
    "my_assignments": ("get", lambda c, a: "/api/assignments/", None),
    "detail": ("get", lambda c, a: f"/api/assignments/{a.pk}/", None),
    "draft": ("put", lambda c, a: f"/api/assignments/{a.pk}/draft/", {"ratings": _ratings()[:1]}),
    "heartbeat": ("post", lambda c, a: f"/api/assignments/{a.pk}/heartbeat/", {"active_ms": 10}),
    "submit": ("post", lambda c, a: f"/api/assignments/{a.pk}/submit/",
               {"submission_id": str(uuid.uuid4()), "ratings": _ratings()}),
    "skip": ("post", lambda c, a: f"/api/assignments/{a.pk}/skip/", {}),
    "open": ("post", lambda c, a: f"/api/assignments/{a.pk}/open/", {}),
    "release": ("post", lambda c, a: f"/api/assignments/{a.pk}/release/", {}),
    "schema": ("get", lambda c, a: "/api/schema/", None),
}

# anonymous, outsider, owner, other annotator, manager
EXPECTED = {
    "campaigns": [403, 200, 200, 200, 200],
    "next": [403, 404, 200, 200, 200],
    "my_assignments": [403, 200, 200, 200, 200],
    "detail": [403, 404, 200, 404, 404],
    "draft": [403, 404, 200, 404, 404],
    "heartbeat": [403, 404, 200, 404, 404],
    "submit": [403, 404, 200, 404, 404],
    "skip": [403, 404, 200, 404, 404],
    "open": [403, 404, 200, 404, 404],
    "release": [403, 404, 200, 404, 404],
    "schema": [403, 200, 200, 200, 200],
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(world, endpoint, role):
    campaign, users, assignment = world
    method, url, body = ENDPOINTS[endpoint]
    resp = getattr(_client(users, role), method)(url(campaign, assignment), body, format="json")
    assert resp.status_code == EXPECTED[endpoint][ROLES.index(role)], resp.content


def test_foreign_write_says_why(world):
    campaign, users, assignment = world
    resp = _client(users, "other_annotator").post(f"/api/assignments/{assignment.pk}/submit/",
                                                  {"submission_id": str(uuid.uuid4()), "ratings": _ratings()},
                                                  format="json")
    # the same answer as a GET: another annotator's assignment does not exist for you
    assert resp.json() == {"error": "not_found", "detail": f"no assignment {assignment.pk}"}


def test_my_assignments_lists_only_mine(world):
    campaign, users, assignment = world
    assignment_next(user=users["other_annotator"], campaign=campaign)
    rows = _client(users, "owner").get("/api/assignments/").json()["results"]
    assert [r["id"] for r in rows] == [assignment.pk]


def test_token_auth_for_scripts(world):
    campaign, users, _ = world
    token = Token.objects.create(user=users["other_annotator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    resp = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json")
    assert resp.status_code == 200 and resp.json()["steps"]


def test_session_auth_enforces_csrf(world):
    campaign, users, _ = world
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["owner"])
    resp = client.post(f"/api/campaigns/{campaign.slug}/next/", {}, format="json")
    assert resp.status_code == 403 and "CSRF" in resp.json()["detail"]


def test_every_annotator_route_is_in_the_matrix():
    from labeling.api import urls

    annotator_routes = {p.name for p in urls.urlpatterns if not p.name.startswith("api-manage-")}
    covered = {"api-" + name.replace("_", "-") for name in ENDPOINTS}
    aliases = {"api-my-assignments": "api-assignments", "api-detail": "api-assignment", "api-schema": None}
    covered = {aliases.get(n, n) for n in covered} - {None}
    assert annotator_routes <= covered, annotator_routes - covered


def test_release_by_beacon_takes_the_csrf_token_from_form_data(world):
    """navigator.sendBeacon cannot set headers: the page sends the token as a form field."""
    campaign, users, assignment = world
    owner = users["owner"]
    ahead = assignment_next(user=owner, campaign=campaign, exclude_id=assignment.pk, prefetch=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"/api/assignments/{ahead.pk}/release/", {}).status_code == 403
    client.get(f"/label/{campaign.slug}/")
    token = client.cookies["csrftoken"].value
    resp = client.post(f"/api/assignments/{ahead.pk}/release/", {"csrfmiddlewaretoken": token})
    assert resp.status_code == 200 and resp.json() == {"released": True}

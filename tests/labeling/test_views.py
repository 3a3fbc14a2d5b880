import pytest
from django.urls import reverse

from tests.factories import CampaignFactory, MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_login_page_renders_and_home_requires_login(client):
    resp = client.get(reverse("login"))
    assert resp.status_code == 200 and b"Log in" in resp.content
    resp = client.get(reverse("home"))
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("login"))


def test_home_lists_only_my_campaigns_with_counts(client):
    user = UserFactory()
    mine = CampaignFactory(name="Mine")
    TaskFactory(campaign=mine)
    TaskFactory(campaign=mine)
    MembershipFactory(campaign=mine, user=user)
    CampaignFactory(name="Not mine")
    client.force_login(user)
    resp = client.get(reverse("home"))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "Mine" in body and "Not mine" not in body
    assert resp.context["campaigns"][0]["pool"] == 2 and resp.context["campaigns"][0]["remaining"] == 2


def test_openapi_schema_is_served(client):
    client.force_login(UserFactory())
    resp = client.get(reverse("api-schema"))
    assert resp.status_code == 200 and b"openapi" in resp.content


def test_label_page_sends_security_headers(client):
    user = UserFactory()
    campaign = CampaignFactory()
    MembershipFactory(campaign=campaign, user=user)
    client.force_login(user)
    resp = client.get(reverse("label", args=[campaign.slug]))
    assert resp.status_code == 200
    assert "script-src 'self'" in resp["Content-Security-Policy"]
    assert resp["X-Frame-Options"] == "DENY" and resp["X-Content-Type-Options"] == "nosniff"
    assert "csrftoken" in resp.cookies


def test_label_page_is_404_for_non_members(client):
    client.force_login(UserFactory())
    assert client.get(reverse("label", args=[CampaignFactory().slug])).status_code == 404

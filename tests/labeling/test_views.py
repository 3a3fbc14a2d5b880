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

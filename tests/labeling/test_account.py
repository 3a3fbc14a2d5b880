"""One's own account page: password change and API tokens, without a manager or the admin."""

import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import CampaignFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-long-passphrase-2026"


def _api_status(key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/campaigns/").status_code


def test_anyone_signed_in_makes_rotates_and_revokes_their_own_token(client):
    user = UserFactory()
    user.set_password(STRONG)
    user.save()
    MembershipFactory(campaign=CampaignFactory(), user=user)
    client.force_login(user)
    # A session alone does not make a token: it takes the password.
    assert client.post("/account/token/", {"action": "create", "password": "wrong"}).status_code == 302
    assert not Token.objects.filter(user=user).exists()
    r = client.get("/account/")
    assert "enter your current password to make a token" in r.content.decode()
    assert "no-cache" in r["Cache-Control"] and "no-store" in r["Cache-Control"]
    page = client.get("/account/").content.decode()
    assert 'data-role="account-link"' in page and "You have no API token." in page
    assert str(user.profile.labeler_uid) in page

    assert client.post("/account/token/", {"action": "create", "password": STRONG}).status_code == 302
    page = client.get("/account/").content.decode()
    first = re.search(r'value="([0-9a-f]{40})" data-role="new-token"', page)[1]
    assert _api_status(first) == 200
    again = client.get("/account/").content.decode()
    assert first not in again and f"…{first[-4:]}" in again  # shown once, then only its end

    client.post("/account/token/", {"action": "create", "password": STRONG})
    second = re.search(r'value="([0-9a-f]{40})" data-role="new-token"', client.get("/account/").content.decode())[1]
    assert second != first and _api_status(first) in (401, 403) and _api_status(second) == 200

    client.post("/account/token/", {"action": "revoke"})
    assert _api_status(second) in (401, 403)
    assert "You have no API token." in client.get("/account/").content.decode()
    assert client.post("/account/token/", {"action": "steal"}).status_code == 302  # named, nothing done
    assert client.get("/account/token/").status_code == 405


def test_a_password_change_checks_the_current_one_and_the_rules_and_keeps_you_signed_in(client):
    user = UserFactory()
    user.set_password("old-passphrase-2026")
    user.save()
    client.force_login(user)
    other = Client()
    other.force_login(user)

    def change(old, new1, new2):
        return client.post("/account/", {"old_password": old, "new_password1": new1, "new_password2": new2})

    r = change("wrong", STRONG, STRONG)
    assert r.status_code == 400 and "Your current password is not right." in r.content.decode()
    r = change("old-passphrase-2026", "short", "short")
    assert r.status_code == 400 and "at least 8 characters." in r.content.decode()
    assert "characters.." not in r.content.decode()
    r = change("old-passphrase-2026", STRONG, STRONG + "x")
    assert r.status_code == 400 and "The two new passwords differ." in r.content.decode()
    user.refresh_from_db()
    assert user.check_password("old-passphrase-2026")  # no refusal changed anything

    r = change("old-passphrase-2026", STRONG, STRONG)
    assert r.status_code == 302
    user.refresh_from_db()
    assert user.check_password(STRONG)
    assert client.get("/account/").status_code == 200  # this browser stays signed in
    assert other.get("/account/").status_code == 302  # another session is signed out
    fresh = Client()
    r = fresh.post("/login/", {"username": user.username, "password": STRONG})
    assert r.status_code == 302 and fresh.get("/account/").status_code == 200


def test_the_account_page_needs_a_login():
    r = Client().get("/account/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_guessing_the_current_password_locks_out_as_at_the_login_form(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory()
    user.set_password("old-passphrase-2026")
    user.save()
    client.force_login(user)
    body = {"old_password": "guess", "new_password1": STRONG, "new_password2": STRONG}
    statuses = [client.post("/account/", body).status_code for _ in range(4)]
    assert statuses[:2] == [400, 400] and statuses[-1] in (403, 429), statuses  # django-axes's lockout
    r = Client().post("/login/", {"username": user.username, "password": "old-passphrase-2026"})
    assert r.status_code in (403, 429)  # the right password no longer logs in during the cool-off
    user.refresh_from_db()
    assert user.check_password("old-passphrase-2026")

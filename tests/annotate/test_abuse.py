"""Brute force and floods: login lockout (django-axes) and API throttles."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _login(client, username, password, ip="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_ten_failures_lock_the_user_out_even_with_the_right_password(client, settings):
    settings.AXES_FAILURE_LIMIT = 10
    UserFactory(username="ann")
    for _ in range(9):
        assert _login(client, "ann", "wrong").status_code == 200  # the form again, with its error
    assert _login(client, "ann", "pw-for-tests-123").status_code == 302  # the 10th try is the right one: in
    client.post("/logout/")
    for _ in range(10):
        _login(client, "ann", "wrong")
    locked = _login(client, "ann", "pw-for-tests-123")
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    # from another address too: the username is locked
    assert _login(client, "ann", "pw-for-tests-123", ip="10.0.0.2").status_code == 429


def test_one_address_trying_many_usernames_is_locked_out(client, settings):
    settings.AXES_FAILURE_LIMIT = 10
    UserFactory(username="ben")
    for i in range(10):
        _login(client, f"guess-{i}", "wrong", ip="10.9.9.9")
    assert _login(client, "ben", "pw-for-tests-123", ip="10.9.9.9").status_code == 429
    assert _login(client, "ben", "pw-for-tests-123", ip="10.1.1.1").status_code == 302  # others are not


def test_api_throttles_answer_429_in_the_error_shape(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    # The rates are read into the throttle class at import; patch them there (restored afterwards).
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "5/min", "anon": "3/min"})
    try:
        api = APIClient()
        api.force_authenticate(UserFactory())
        codes = [api.get("/api/campaigns/").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        last = api.get("/api/campaigns/")
        assert last.json()["error"] == "throttled" and last["Retry-After"]
    finally:
        cache.clear()

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
    TaskFactory(campaign=mine, is_gold=True)  # gold items are not counted: annotators never see how many
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


def test_remaining_for_you_counts_what_the_queue_would_still_give_you(client):
    import random
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Assignment
    from labeling.selectors import annotator_campaign_stats
    from labeling.services.assignments import assignment_next, assignment_skip
    from labeling.services.leases import assignments_expire_stale
    from tests.factories import submitted_labels

    user = UserFactory()
    campaign = CampaignFactory(overlap=1, qc_rate=0)
    tasks = [TaskFactory(campaign=campaign) for _ in range(4)]
    MembershipFactory(campaign=campaign, user=user)

    def remaining():
        return annotator_campaign_stats(user=user)[0]["remaining"]

    assert remaining() == 4
    held = assignment_next(user=user, campaign=campaign, rng=random.Random(0))
    assert remaining() == 4  # the task on screen is not done yet
    Assignment.objects.filter(pk=held.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignments_expire_stale() == 1
    assert remaining() == 4  # an expired lease with room comes back to them, drafts intact
    skipped = assignment_next(user=user, campaign=campaign, rng=random.Random(0))
    assert skipped.pk == held.pk
    assignment_skip(assignment_id=skipped.pk, user=user)
    assert remaining() == 3  # a skipped task never comes back to them
    lapsed = assignment_next(user=user, campaign=campaign, rng=random.Random(0))
    Assignment.objects.filter(pk=lapsed.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignments_expire_stale() == 1 and remaining() == 3
    submitted_labels(lapsed.task, UserFactory(), [1])  # someone else filled it: it will not come back
    type(lapsed.task).objects.filter(pk=lapsed.task_id).update(is_open=False)
    assert remaining() == 2
    tasks = [t for t in tasks if t.pk != lapsed.task_id]
    other = next(t for t in tasks if t.pk != held.task_id)
    submitted_labels(other, user, [1])
    assert remaining() == 1
    client.force_login(user)
    assert "4 solutions," in client.get("/").content.decode()
    lone = CampaignFactory(name="Lone")
    TaskFactory(campaign=lone)
    MembershipFactory(campaign=lone, user=user)
    assert "1 solution," in client.get("/").content.decode()

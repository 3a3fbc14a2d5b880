"""A lab lead lets a colleague create campaigns from the dashboard, with no administrator."""

import pytest
from django.contrib.auth.models import Permission

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_lead_lets_a_colleague_create_campaigns_and_takes_it_back(login_page, live_server):
    lead = UserFactory(username="lab-lead")
    lead.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    colleague = UserFactory(username="postdoc", email="postdoc@lab.org")

    page = login_page(lead, "/manage/")
    page.click("[data-action=creators]")
    page.wait_for_url(f"{live_server.url}/manage/creators/")
    page.fill("#id_people", "nobody@lab.org")
    page.click("[data-action=grant]")
    assert "no such account" in page.text_content("[data-role=creators-error]")
    page.fill("#id_people", "postdoc@lab.org")
    page.click("[data-action=grant]")
    page.wait_for_selector("[data-creator=postdoc]")
    assert "postdoc can now create campaigns" in page.text_content(".messages")
    assert "by lab-lead" in page.text_content("[data-creator=postdoc]")

    other = login_page(colleague, "/manage/")
    other.click("[data-action=new-campaign]")
    other.wait_for_url(f"{live_server.url}/manage/new/")

    page.click("[data-creator=postdoc] [data-action=revoke]")
    page.wait_for_selector("[data-creator=postdoc]", state="detached")
    assert "revoked" in page.text_content("[data-role=creator-changes] tbody tr")
    other.goto(f"{live_server.url}/manage/new/")
    assert other.locator("[data-role=campaign-form]").count() == 0  # 403 now
    # Your own row needs the tick box; the browser refuses the submit without it.
    page.click("[data-creator=lab-lead] [data-action=revoke]")
    assert page.url == f"{live_server.url}/manage/creators/" and page.locator("[data-creator=lab-lead]").count() == 1
    assert not page.js_errors

"""The audit trail: who changed what, when, from what to what (django-pghistory triggers)."""

import pghistory
import pytest
from rest_framework.test import APIClient

from labeling.dashboard.history import campaign_history
from labeling.models import Membership, StepLabel
from labeling.services.campaigns import campaign_update
from labeling.services.quality import gold_set, membership_status_set
from tests.factories import SolutionFactory, UserFactory
from tests.labeling.conftest import label

pytestmark = pytest.mark.django_db


def test_changes_to_submitted_labels_are_recorded_before_and_after_and_drafts_are_not(dash_world):
    c = dash_world["campaign"]
    ann = dash_world["annotators"][0]
    boss = dash_world["manager"]
    a = label(ann, c, [1, 1, -1])
    assert campaign_history(campaign=c, solution_id=a.solution_id) == []  # submitting is not a change
    with pghistory.context(user=boss.pk, url="/admin/labeling/assignment/1/change/"):
        StepLabel.objects.filter(assignment=a, step__index=2).update(rating=0)
    [change] = campaign_history(campaign=c, solution_id=a.solution_id)
    assert change["what"] == "StepLabel" and change["change"] == "changed"
    assert change["diff"] == {"rating": [-1, 0]}
    assert (change["by"], change["via"]) == ("boss", "/admin/labeling/assignment/1/change/")
    assert change["before"]["rating"] == -1 and change["after"]["rating"] == 0
    # a draft (not final) changing on every key press leaves no trace
    from labeling.services.assignments import assignment_next
    from labeling.services.submissions import RatingIn, assignment_save_draft

    d = assignment_next(user=dash_world["annotators"][1], campaign=c)
    for r in (1, 0, -1):
        assignment_save_draft(assignment_id=d.pk, user=dash_world["annotators"][1], ratings=[RatingIn(0, r)])
    assert len([t for t in campaign_history(campaign=c) if t["what"] == "StepLabel"]) == 1


def test_memberships_settings_gold_and_adjudications_are_in_the_trail(dash_world, client):
    c = dash_world["campaign"]
    ann = dash_world["annotators"][0]
    boss = dash_world["manager"]
    with pghistory.context(user=boss.pk):
        membership_status_set(campaign=c, member_id=ann.pk, status="paused", by=boss, reason="QC below 60%")
        campaign_update(campaign=c, changes={"overlap": 3, "qc_rate": 0.2})
        gold_set(campaign=c, solution=SolutionFactory(steps=["a", "b"]), ratings=[1, -1], user=boss)
    trail = campaign_history(campaign=c)
    kinds = {(t["what"], t["change"]) for t in trail}
    assert ("Membership", "changed") in kinds and ("Campaign", "changed") in kinds
    assert ("GoldStepLabel", "created") in kinds
    settings_change = next(t for t in trail if t["what"] == "Campaign" and t["change"] == "changed")
    assert settings_change["diff"] == {"overlap": [2, 3], "qc_rate": [0.0, 0.2]}
    paused = next(t for t in trail if t["what"] == "Membership" and t["change"] == "changed")
    assert paused["diff"]["status"] == ["active", "paused"] and paused["by"] == "boss"
    # per annotator, over the API
    api = APIClient()
    api.force_authenticate(boss)
    rows = api.get(f"/api/manage/campaigns/{c.slug}/history/?annotator={ann.pk}").json()["results"]
    assert [(r["what"], r["change"]) for r in rows] == [("Membership", "changed"), ("Membership", "created")]
    by_name = api.get(f"/api/manage/campaigns/{c.slug}/history/?annotator={ann.username}").json()["results"]
    assert by_name == rows  # a username works as export filters take it
    for who in ("nobody-here", "²", str(UserFactory().pk)):  # nobody; not a number; not in this campaign
        r = api.get(f"/api/manage/campaigns/{c.slug}/history/?annotator={who}")
        assert r.status_code == 400 and "annotator" in r.json()["details"], (who, r.content)
    assert api.get(f"/api/manage/campaigns/{c.slug}/history/?anotator={ann.pk}").status_code == 400
    assert api.get(f"/api/manage/campaigns/{c.slug}/history/?solution=abc").status_code == 400
    assert Membership.objects.get(campaign=c, user=ann).status == "paused"

"""Critiques and error types on negative steps: settings, drafts, submits, the audit trail, imports and exports."""

import json
import uuid

import pytest

from labeling.errors import ValidationFailed
from labeling.models import Campaign, StepLabel
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import campaign_update, membership_set, settings_clean, taxonomy_clean
from labeling.services.exports import export_rows
from labeling.services.imports import solutions_import
from labeling.services.submissions import RatingIn, assignment_save_draft, assignment_submit
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

STEPS = ["Let x = 2.", "Then 2x = 5.", "So x + 1 = 3.", "# Answer\n\n3"]


def _world(**settings):
    campaign = CampaignFactory(qc_rate=0, **settings)
    task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS, answer_is_correct=False))
    user = UserFactory()
    membership_set(campaign=campaign, user=user)
    a = assignment_next(user=user, campaign=campaign)
    return campaign, task, user, a


def _submit(a, user, ratings, **kw):
    return assignment_submit(assignment_id=a.pk, user=user, submission_id=uuid.uuid4(), ratings=ratings, **kw)


def test_new_campaigns_get_prmbench_taxonomy_and_optional_asks():
    c = CampaignFactory()
    assert c.critique == "optional" and c.error_types == "optional"
    assert [t["key"] for t in c.error_taxonomy] == [
        "calculation", "reasoning", "misread", "unjustified", "incomplete", "hallucination", "notation", "other"]


def test_a_critique_and_types_are_stored_on_the_first_error():
    campaign, task, user, a = _world()
    _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, critique="  2x = 4 when x = 2, not 5.  ",
                                                error_types=("calculation", "reasoning", "calculation"))])
    lab = StepLabel.objects.get(assignment=a, step__index=1)
    assert lab.critique == "2x = 4 when x = 2, not 5." and lab.error_types == ["calculation", "reasoning"]
    assert StepLabel.objects.get(assignment=a, step__index=0).critique == ""


@pytest.mark.parametrize("rating, kw, message", [
    (1, {"critique": "looks off"}, "only a negative step carries"),
    (0, {"error_types": ("calculation",)}, "only a negative step carries"),
    (-1, {"error_types": ("typo",)}, "not in this campaign's taxonomy"),
    (-1, {"critique": "x" * 10001}, "at most 10,000 characters"),
    (-1, {"critique": "a\x00b"}, "without NUL"),
])
def test_misplaced_or_bad_critiques_are_refused_and_nothing_is_written(rating, kw, message):
    campaign, task, user, a = _world(mode=Campaign.Mode.ALL_STEPS)
    ratings = [RatingIn(0, rating, **kw), RatingIn(1, -1), RatingIn(2, 1), RatingIn(3, 1)]
    with pytest.raises(ValidationFailed, match=message):
        _submit(a, user, ratings)
    assert not StepLabel.objects.filter(assignment=a).exists()


def test_required_critique_and_types_block_a_found_error_without_them():
    campaign, task, user, a = _world(critique="required", error_types="required")
    with pytest.raises(ValidationFailed, match="critique of the first error: say what is wrong with step 2"):
        _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, error_types=("calculation",))])
    with pytest.raises(ValidationFailed, match="error type of the first error: pick one for step 2"):
        _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, critique="2x = 4")])
    done = _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, critique="2x = 4", error_types=("calculation",))])
    assert done.status == "submitted"


def test_required_asks_do_not_apply_to_give_up_or_a_correct_solution():
    campaign, task, user, a = _world(critique="required", error_types="required")
    assert _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1)], finish_reason="give_up").finish_reason == "give_up"


def test_a_campaign_with_critiques_off_refuses_them():
    campaign, task, user, a = _world(critique="off", error_types="off")
    with pytest.raises(ValidationFailed, match="does not take critiques"):
        _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, critique="no")])
    with pytest.raises(ValidationFailed, match="does not take error types"):
        _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, error_types=("calculation",))])


def test_a_draft_keeps_a_critique_while_the_rating_changes_and_the_payload_gives_it_back():
    from labeling.selectors import assignment_payload

    campaign, task, user, a = _world()
    # Written on a negative, then the rating moved to neutral: the draft keeps the text.
    assignment_save_draft(assignment_id=a.pk, user=user, ratings=[
        RatingIn(0, 1), RatingIn(1, 0, critique="2x = 4", error_types=("calculation",))])
    payload = assignment_payload(assignment=a)
    assert payload["steps"][1]["critique"] == "2x = 4" and payload["steps"][1]["error_types"] == ["calculation"]
    assert payload["critique"] == "optional" and len(payload["error_taxonomy"]) == 8
    assert payload["steps"][0]["critique"] == "" and payload["steps"][0]["error_types"] == []


def test_changing_a_submitted_critique_is_in_the_audit_trail():
    campaign, task, user, a = _world()
    _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, critique="first")])
    StepLabel.objects.filter(assignment=a, step__index=1).update(critique="second", error_types=["other"])
    from django.apps import apps

    events = apps.get_model("labeling", "StepLabelEvent").objects.filter(assignment=a, step__index=1)
    before, after = events.get(pgh_label="label.before"), events.get(pgh_label="label.after")
    assert (before.critique, after.critique, after.error_types) == ("first", "second", ["other"])


@pytest.mark.parametrize("value, message", [
    ([], "1 to 9 error types"),
    ([{"key": f"k{i}", "label": "L"} for i in range(10)], "1 to 9 error types"),
    ([{"key": "Bad Key", "label": "x"}], "lowercase letters"),
    ([{"key": "a", "label": "x"}, {"key": "a", "label": "y"}], "appears twice"),
    ([{"key": "a", "label": ""}], "must not be empty"),
    ([{"key": "a", "label": "x", "colour": "red"}], "key, label and description"),
    ("just one word", "write it as 'key: label'"),
])
def test_bad_taxonomies_are_refused(value, message):
    with pytest.raises(ValidationFailed, match=message):
        taxonomy_clean(value)


def test_the_form_text_of_a_taxonomy_parses_and_a_manager_can_change_it():
    parsed = taxonomy_clean("sign: Sign error: a minus lost: somewhere\n\nunits: Units\n")
    assert parsed == [{"key": "sign", "label": "Sign error", "description": "a minus lost: somewhere"},
                      {"key": "units", "label": "Units", "description": ""}]
    campaign, task, user, a = _world()
    change = campaign_update(campaign=campaign, changes={"error_taxonomy": parsed, "critique": "required"})
    assert set(change.changed) == {"error_taxonomy", "critique"}
    with pytest.raises(ValidationFailed, match="critique must be one of"):
        settings_clean({"critique": "sometimes"})
    with pytest.raises(ValidationFailed, match="not in this campaign's taxonomy"):
        _submit(a, user, [RatingIn(0, 1), RatingIn(1, -1, critique="x", error_types=("calculation",))])


def _labeled_campaign():
    campaign = CampaignFactory(qc_rate=0, overlap=3)
    TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS, answer_is_correct=False))
    users = [UserFactory() for _ in range(3)]
    for u in users:
        membership_set(campaign=campaign, user=u)
    ratings = [
        [RatingIn(0, 1), RatingIn(1, -1, critique="2x = 4, not 5.", error_types=("calculation", "reasoning"))],
        [RatingIn(0, 1), RatingIn(1, -1, error_types=("calculation",))],  # no critique
        [RatingIn(0, 1), RatingIn(1, 1), RatingIn(2, 1), RatingIn(3, 1)],
    ]
    for u, r in zip(users, ratings, strict=True):
        _submit(assignment_next(user=u, campaign=campaign), u, r)
    return campaign


def test_the_critique_export_gives_generative_verifier_rows():
    campaign = _labeled_campaign()
    stats = {}
    rows = list(export_rows(campaign=campaign, fmt="critique", stats=stats))
    # the first error without a critique has nothing to teach
    assert stats == {"rows": 2, "skipped": 1,
                     "skipped_reasons": {"no first error with a critique, and not rated to the end": 1}}
    err, ok = rows
    assert err["steps"] == STEPS[:2] and err["error_step"] == 1 and err["step_ratings"] == [1, -1]
    assert err["critique"] == "2x = 4, not 5." and err["error_types"] == ["calculation", "reasoning"]
    assert err["rating"] == -1 and err["final_answer_correct"] is False and err["problem"]
    assert ok["steps"] == STEPS and ok["error_step"] == -1 and ok["critique"] == "" and ok["rating"] == 1
    with pytest.raises(ValidationFailed, match="one line per labeler"):
        list(export_rows(campaign=campaign, fmt="critique", aggregate="majority"))


def test_prm800k_and_processbench_carry_types_and_critiques_and_trl_drops_them():
    campaign = _labeled_campaign()
    first, second, third = export_rows(campaign=campaign, fmt="prm800k")
    rated = first["label"]["steps"][1]["completions"][0]
    assert list(rated) == ["text", "rating", "flagged", "critique", "error_types"]
    assert rated["critique"] == "2x = 4, not 5." and rated["error_types"] == ["calculation", "reasoning"]
    assert list(second["label"]["steps"][1]["completions"][0]) == ["text", "rating", "flagged", "error_types"]
    # no critique, no types: the PRM800K completion shape exactly
    assert all(list(s["completions"][0]) == ["text", "rating", "flagged"] for s in third["label"]["steps"])
    pb = list(export_rows(campaign=campaign, fmt="processbench", aggregate="none"))
    assert [r["error_types"] for r in pb] == [["calculation", "reasoning"], ["calculation"], []]
    [majority] = export_rows(campaign=campaign, fmt="processbench", aggregate="majority")
    # two of three put the first error at step 2 (index 1); their types, most given first
    assert majority["label"] == 1 and majority["error_types"] == ["calculation", "reasoning"]
    trl = list(export_rows(campaign=campaign, fmt="trl", aggregate="none"))
    assert all(set(r) == {"prompt", "completions", "labels"} for r in trl)


def test_a_prm800k_export_with_critiques_imports_back_into_labels_and_exports_the_same(tmp_path):
    campaign = _labeled_campaign()
    records = list(export_rows(campaign=campaign, fmt="prm800k"))
    path = tmp_path / "with-critiques.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    other = CampaignFactory()
    solutions_import(campaign=other, path=path)
    assert list(export_rows(campaign=other, fmt="prm800k")) == records
    lab = StepLabel.objects.get(assignment__campaign=other, rating=-1, critique__gt="")
    assert lab.critique == "2x = 4, not 5." and lab.error_types == ["calculation", "reasoning"]


def test_an_import_refuses_malformed_error_types_naming_the_line(tmp_path, prm800k_records_path):
    rec = json.loads(open(prm800k_records_path).readline())
    rec["label"]["steps"][0]["completions"][0]["error_types"] = ["x" * 40]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(ValidationFailed, match=r"line 1.*error_types"):
        solutions_import(campaign=CampaignFactory(), path=path)


# --- the error-type report and gold types ------------------------------------------------------


def _report_world():
    """Hand-countable: ann and ben label a gold item (gold: step 2 negative, 'calculation') and a plain one."""
    from labeling.services.quality import gold_set

    campaign = CampaignFactory(qc_rate=1, overlap=2)  # the gold item first, then the plain one
    plain = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=STEPS), priority=1)
    gold_sol = SolutionFactory(steps=STEPS)
    gold_set(campaign=campaign, solution=gold_sol, ratings=[1, -1], error_types={1: ["calculation"]})
    ann, ben = UserFactory(username="ann"), UserFactory(username="ben")
    for u in (ann, ben):
        membership_set(campaign=campaign, user=u)
    given = {
        # ann: gold step 2 with calculation+notation (shares one with gold: jaccard 1/2); plain step 1 reasoning
        ("ann", True): [RatingIn(0, 1), RatingIn(1, -1, error_types=("calculation", "notation"), critique="x")],
        ("ann", False): [RatingIn(0, -1, error_types=("reasoning",))],
        # ben: gold step 2 with reasoning only (no shared type: jaccard 0); plain step 2 untyped
        ("ben", True): [RatingIn(0, 1), RatingIn(1, -1, error_types=("reasoning",))],
        ("ben", False): [RatingIn(0, 1), RatingIn(1, -1)],
    }
    for u in (ann, ben):
        for _ in range(2):
            a = assignment_next(user=u, campaign=campaign)
            _submit(a, u, given[(u.username, a.task.is_gold)])
    return campaign, plain, gold_sol


def test_the_error_type_report_counts_per_annotator_and_against_gold():
    from labeling.dashboard.error_types import error_type_report

    campaign, _, _ = _report_world()
    r = error_type_report(campaign=campaign)
    assert (r["negatives"], r["typed"], r["critiqued"]) == (4, 3, 1)
    by_key = {t["key"]: t for t in r["types"]}
    assert by_key["calculation"]["count"] == 1 and by_key["reasoning"]["count"] == 2
    assert by_key["notation"]["count"] == 1 and by_key["reasoning"]["share"] == pytest.approx(2 / 3)
    ann, ben = r["annotators"]
    assert (ann["username"], ann["negatives"], ann["typed"], ann["critiqued"]) == ("ann", 2, 2, 1)
    assert ann["counts"][:2] == [1, 1] and ann["counts"][6] == 1  # calculation, reasoning, ..., notation
    assert ann["gold"] == {"compared": 1, "match": 1.0, "jaccard": 0.5}
    assert ben["gold"] == {"compared": 1, "match": 0.0, "jaccard": 0.0}
    assert r["gold"] == {"compared": 2, "match": 0.5, "jaccard": 0.25}


def test_gold_types_sit_on_negative_gold_steps_and_survive_a_re_rating():
    from labeling.models import GoldStepLabel
    from labeling.services.quality import gold_set

    campaign, plain, gold_sol = _report_world()
    with pytest.raises(ValidationFailed, match="only a negative gold step carries"):
        gold_set(campaign=campaign, solution=gold_sol, ratings=[1, -1], error_types={0: ["calculation"]})
    with pytest.raises(ValidationFailed, match="not in this campaign's taxonomy"):
        gold_set(campaign=campaign, solution=gold_sol, ratings=[1, -1], error_types={1: ["nope"]})
    gold_set(campaign=campaign, solution=gold_sol, ratings=[1, -1], note="same ratings, new note")
    assert GoldStepLabel.objects.get(solution=gold_sol, step__index=1).error_types == ["calculation"]
    gold_set(campaign=campaign, solution=gold_sol, ratings=[-1])
    assert GoldStepLabel.objects.get(solution=gold_sol, step__index=0).error_types == []


def test_the_api_serves_the_report_and_sets_gold_types(client):
    from rest_framework.test import APIClient

    from labeling.models import GoldStepLabel, Membership

    campaign, plain, gold_sol = _report_world()
    boss = UserFactory()
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    api = APIClient()
    api.force_authenticate(boss)
    body = api.get(f"/api/manage/campaigns/{campaign.slug}/error-types/").json()
    assert body["gold"]["compared"] == 2 and [a["username"] for a in body["annotators"]] == ["ann", "ben"]
    put = api.put(f"/api/manage/campaigns/{campaign.slug}/gold/{gold_sol.pk}/",
                  {"ratings": [1, -1], "error_types": [{"step": 1, "types": ["reasoning", "calculation"]}]},
                  format="json")
    assert put.status_code == 200, put.content
    assert GoldStepLabel.objects.get(solution=gold_sol, step__index=1).error_types == ["reasoning", "calculation"]
    bad = api.put(f"/api/manage/campaigns/{campaign.slug}/gold/{gold_sol.pk}/",
                  {"ratings": [1, -1], "error_types": [{"step": 0, "types": ["reasoning"]}]}, format="json")
    assert bad.status_code == 400 and "only a negative gold step" in bad.json()["detail"]


def test_review_adjudication_and_annotator_pages_show_critiques_and_types(client):
    from labeling.models import Membership

    campaign, plain, gold_sol = _report_world()
    boss = UserFactory()
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    client.force_login(boss)
    page = client.get(f"/manage/{campaign.slug}/solutions/{gold_sol.pk}/").content.decode()
    assert page.count('data-role="critique"') == 2
    assert "Calculation error" in page and "Notation" in page and "Logical or reasoning error" in page
    ann = campaign.memberships.get(user__username="ann").user_id
    detail = client.get(f"/manage/{campaign.slug}/annotators/{ann}/").content.decode()
    assert detail.count('data-role="critique"') == 2
    report = client.get(f"/manage/{campaign.slug}/annotators/").content.decode()
    assert 'data-role="error-types-report"' in report and "50% <span" in report

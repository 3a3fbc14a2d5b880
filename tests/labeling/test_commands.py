import json

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Campaign, Solution

pytestmark = pytest.mark.django_db


def test_import_then_export_commands(prm800k_records_path, tmp_path, capsys):
    call_command("import_solutions", str(prm800k_records_path), "--campaign", "prm", "--create", "--no-progress")
    out = capsys.readouterr().out
    assert "labels: 12 labeled solutions" in out
    target = tmp_path / "out.jsonl"
    call_command("export_labels", "--campaign", "prm", "--format", "prm800k", "--output", str(target))
    assert [json.loads(x) for x in open(target)] == [json.loads(x) for x in open(prm800k_records_path)]
    call_command("export_labels", "--campaign", "prm", "--format", "processbench")
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    fields = {"id", "generator", "problem", "steps", "final_answer_correct", "label", "error_types"}
    assert rows and all(set(r) == fields for r in rows)


def test_import_command_errors_name_the_line(write_jsonl):
    Campaign.objects.create(slug="c", name="c")
    path = write_jsonl([{"problem": "p", "ground_truth_answer": "1", "steps": ["a"]}, "{oops"])
    with pytest.raises(CommandError, match="line 2: invalid JSON"):
        call_command("import_solutions", str(path), "--campaign", "c", "--no-progress")
    assert Solution.objects.count() == 0


def test_import_command_requires_an_existing_campaign(write_jsonl):
    path = write_jsonl([{"problem": "p", "ground_truth_answer": "1", "steps": ["a"]}])
    with pytest.raises(CommandError, match="no campaign 'nope'"):
        call_command("import_solutions", str(path), "--campaign", "nope")


def test_load_demo_is_idempotent(demo_file, settings, capsys, tmp_path, monkeypatch):
    small = tmp_path / "demo.jsonl"
    small.write_text("".join(open(demo_file).readlines()[:5]))
    monkeypatch.setattr("labeling.services.demo.DEMO_FILE", small)
    from labeling.services import demo

    first = demo.demo_load(path=small)
    second = demo.demo_load(path=small)
    assert first.users_created == ["manager", "alice", "bob", "carol"]
    assert second.users_created == []
    assert all(r is not None for r in first.imports.values())
    assert all(r is None for r in second.imports.values())
    assert Campaign.objects.filter(slug__startswith="gsm8k-").count() == 3
    # The pre-labeled campaign's solutions carry suggestions, seeded once.
    from labeling.models import StepPrelabel

    pre = Campaign.objects.get(slug="gsm8k-prelabeled")
    assert (pre.prelabels, pre.prelabel_share) == ("imported", 0.8)
    seeded = StepPrelabel.objects.filter(step__solution__tasks__campaign=pre).count()
    assert seeded > 20 and StepPrelabel.objects.filter(rating=-1).exists()
    # 20 GSM8K solutions (5 problems, a reference and 4 model solutions each) and the 12 real MATH ones
    assert Solution.objects.filter(problem__source="gsm8k").count() == 20
    math = Campaign.objects.get(slug="math-first-error")
    assert (math.mode, math.reveal, math.tasks.count()) == ("first_error", "all", 12)
    assert max(Solution.objects.filter(tasks__campaign=math).values_list("steps__index", flat=True)) == 29
    # Gold items are seeded once, with reference labels valid for each campaign's mode.
    from active_learning.services import demo as al_demo
    from labeling.models import GoldStepLabel, Task

    fe = Task.objects.filter(campaign__slug="gsm8k-first-error", is_gold=True)
    assert 0 < fe.count() <= al_demo.DEMO_GOLD
    assert fe.filter(solution__answer_is_correct=False).exists()
    wrong = fe.filter(solution__answer_is_correct=False).first().solution
    assert list(GoldStepLabel.objects.filter(solution=wrong).order_by("step__index").values_list("rating", flat=True))[
        -1
    ] == -1
    assert not Task.objects.filter(campaign__slug="gsm8k-all-steps", is_gold=True,
                                   solution__answer_is_correct=False).exists()
    assert al_demo.demo_prelabels_seed(campaign=pre) == 0 and StepPrelabel.objects.count() == seeded
    before = Task.objects.filter(is_gold=True).count()
    al_demo.demo_gold_seed(campaign=Campaign.objects.get(slug="gsm8k-first-error"), count=al_demo.DEMO_GOLD)
    assert Task.objects.filter(is_gold=True).count() == before


def test_a_rejected_import_with_create_leaves_no_campaign(write_jsonl):
    from tests.factories import UserFactory

    UserFactory(username="alice")
    path = write_jsonl([{"problem": "p", "ground_truth_answer": "1", "steps": ["a"]}, "{oops"])
    with pytest.raises(CommandError, match="line 2: invalid JSON"):
        call_command("import_solutions", str(path), "--campaign", "fresh", "--create", "--overlap", "2",
                     "--annotators", "alice,newbie@example.com", "--no-progress")
    from django.contrib.auth import get_user_model

    from labeling.models import Invite, Membership

    assert not Campaign.objects.filter(slug="fresh").exists()
    assert Membership.objects.count() == 0 and Invite.objects.count() == 0
    assert not get_user_model().objects.filter(email="newbie@example.com").exists()


def test_import_with_create_takes_settings_and_members(write_jsonl, capsys, settings):
    from labeling.models import Membership
    from tests.factories import UserFactory

    settings.SITE_URL = "https://label.example.org"
    UserFactory(username="alice")
    UserFactory(username="mgr")
    path = write_jsonl([{"problem": f"What is {i} + 1?", "ground_truth_answer": str(i + 1),
                         "steps": [f"{i} + 1 = {i + 1}.", f"# Answer\n\n{i + 1}"]} for i in range(3)])
    call_command("import_solutions", str(path), "--campaign", "fresh", "--create", "--name", "Fresh one",
                 "--mode", "all_steps", "--overlap", "2", "--annotators", "alice,newbie@example.com",
                 "--managers", "mgr", "--no-progress")
    out = capsys.readouterr().out
    c = Campaign.objects.get(slug="fresh")
    assert (c.name, c.mode, c.overlap, c.tasks.count()) == ("Fresh one", "all_steps", 2, 3)
    roles = dict(Membership.objects.filter(campaign=c).values_list("user__username", "role"))
    assert roles == {"alice": "annotator", "newbie": "annotator", "mgr": "manager"}
    assert "one-time invite link https://label.example.org/invite/" in out


def test_campaign_create_command(capsys):
    from labeling.models import Membership
    from tests.factories import UserFactory

    UserFactory(username="bob")
    call_command("campaign_create", "math-2027", "--name", "MATH 2027", "--reveal", "progressive",
                 "--qc-rate", "0.1", "--experts", "bob", "--hourly-rate", "42.50")
    c = Campaign.objects.get(slug="math-2027")
    assert (c.reveal, c.qc_rate, str(c.hourly_rate)) == ("progressive", 0.1, "42.50")
    m = Membership.objects.get(campaign=c, user__username="bob")
    assert (m.role, m.can_adjudicate) == ("annotator", True)
    with pytest.raises(CommandError, match="already exists"):
        call_command("campaign_create", "math-2027")
    with pytest.raises(CommandError, match="qc_rate must be between 0 and 1"):
        call_command("campaign_create", "bad-one", "--qc-rate", "3")
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("campaign_create", "bad-two", "--annotators", "ghost")
    assert not Campaign.objects.filter(slug__in=["bad-one", "bad-two"]).exists()

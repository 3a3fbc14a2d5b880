"""The real-data check after every cycle: held-out problems of a registered set, intervals on the page."""

import json

import pytest

from active_learning import evalsets
from active_learning.evalsets import EvalSet
from active_learning.models import ActiveLearningConfig
from active_learning.services.cycles import cycle_run_inline
from active_learning.services.evaluation import real_eval_metrics
from active_learning.services.training import al_config_update, training_run_request
from labeling.errors import ValidationFailed
from labeling.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_set(tmp_path, monkeypatch):
    """A real-format set: 3 problems the campaign labeled (must be left out) and 20 it never saw."""
    rows = []
    for p in range(23):
        question = f"problem {p} eggs per day" if p < 3 else f"unseen {p} eggs per day"
        rows.append({"question": question, "ground_truth": "A: 4",
                     "m1": {"is_correct": True, "solution": f"so {p} is right\nso 2 is right\nA: 4"},
                     "m2": {"is_correct": False, "solution": f"so {p} is right\nso 2 is wrong\nA: 5"},
                     "m3": {"is_correct": False, "solution": f"so {p} is wrong\nso 3 is wrong\nA: 5"}})
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setitem(evalsets.EVAL_SETS, "tiny-real", EvalSet("tiny-real", "a tiny real set", path,
                                                                  "gsm8k_solutions"))
    evalsets._read.cache_clear()
    yield "tiny-real"
    evalsets._read.cache_clear()


def test_every_cycle_reports_the_real_check_on_unlabeled_problems(al_campaign, tiny_set, client,
                                                                  django_user_model):
    campaign, _ = al_campaign
    ActiveLearningConfig.objects.filter(campaign=campaign).update(eval_set=tiny_set)
    run = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    real = run.metrics["real"]
    # The campaign labeled problems 0-5; the set shares 0-2 with it, so 20 problems are left.
    assert real["set"] == tiny_set and real["problems"] == 20 and real["solutions"] == 60
    for key in ("solution_auroc", "best_of_n_prm", "best_of_n_majority", "best_of_n_gain"):
        assert real[key]["lo"] <= real[key]["value"] <= real[key]["hi"], key
    assert real["best_of_n_majority"]["value"] == 0.0  # two wrong answers agree on every problem
    assert run.model.metrics["real"] == real  # in the registry with the model
    manager = django_user_model.objects.create_user("boss", password="x")
    Membership.objects.create(campaign=campaign, user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)
    page = client.get(f"/manage/{campaign.slug}/model/").content.decode()
    assert 'data-role="real-check"' in page and 'data-real="solution_auroc"' in page
    assert 'data-role="real-verdict"' in page
    assert "the 20 problems (60 solutions) this campaign has not trained on" in page


def test_a_set_the_campaign_trained_on_entirely_says_so_instead_of_an_empty_table(al_campaign, tiny_set, client,
                                                                                  django_user_model):
    campaign, _ = al_campaign
    ActiveLearningConfig.objects.filter(campaign=campaign).update(eval_set=tiny_set)
    lines = evalsets.EVAL_SETS[tiny_set].path.read_text().splitlines()
    every_problem = {json.loads(line)["question"] for line in lines}
    real = real_eval_metrics(prm=None, name=tiny_set, trained_problems=every_problem)
    assert real["problems"] == 0 and real["label"] == "a tiny real set" and "no unseen problem" in real["note"]
    run = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    run.metrics = {**run.metrics, "real": real}
    run.save(update_fields=["metrics"])
    manager = django_user_model.objects.create_user("boss", password="x")
    Membership.objects.create(campaign=campaign, user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)
    page = client.get(f"/manage/{campaign.slug}/model/").content.decode()
    assert 'data-role="real-empty"' in page and "was not checked on a tiny real set" in page
    assert "None" not in page.split('data-role="real-check"')[1].split("</section>")[0]
    assert 'data-real="solution_auroc"' not in page


def test_an_unknown_set_is_refused_by_name(al_campaign):
    campaign, _ = al_campaign
    with pytest.raises(ValidationFailed, match="eval_set: 'mine' is not one of: gsm8k-real"):
        al_config_update(campaign=campaign, changes={"eval_set": "mine"})
    config, changed = al_config_update(campaign=campaign, changes={"eval_set": "gsm8k-real"})
    assert changed == ["eval_set"] and config.eval_set == "gsm8k-real"

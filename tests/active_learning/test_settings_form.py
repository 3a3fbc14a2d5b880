"""The Model page's active-learning settings: a refusal names its field and keeps what was typed."""

import json

import pytest

from active_learning.forms import ActiveLearningSettingsForm
from active_learning.models import ActiveLearningConfig
from active_learning.prm.backbone import backbone_layer_count, default_backbone_dir
from active_learning.prm.config import ModelConfig
from active_learning.services.training import al_config_get_or_create, al_config_update
from labeling.errors import ValidationFailed
from labeling.models import Membership
from tests.factories import CampaignFactory, UserFactory


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"refill_size": 0}, "refill_size", "greater than or equal to 1"),
    ({"per_problem_cap": 0}, "per_problem_cap", "greater than or equal to 1"),
    ({"wrong_fraction": 1.5}, "wrong_fraction", "less than or equal to 1"),
    ({"heldout_fraction": 1.0}, "heldout_fraction", "less than 1"),
    ({"prior_folds": 1}, "prior_folds", "greater than or equal to 2"),
    ({"prior_folds": 11}, "prior_folds", "less than or equal to 10"),
    ({"chance_margin": 0.6}, "chance_margin", "less than or equal to 0.5"),
    ({"model_config": {"num_hidden_layers": 99}}, "model_config", "99 is more than the 6 layers"),
    ({"model_config": {"num_hidden_layers": 0}}, "model_config", "num_hidden_layers must be at least 1"),
    ({"train_config": {"epochs": 10_000}}, "train_config", "epochs may be at most 50"),
    ({"train_config": {"epochz": 3}}, "train_config", "unknown TrainConfig field(s): epochz"),
    ({"score_config": {"aggregate": "median"}}, "score_config", "aggregate must be one of"),
    ({"score_config": {"max_batch_size": 0}}, "score_config", "max_batch_size must be at least 1"),
    ({"score_config": {"device": "gpu"}}, "score_config", "device must be auto, cpu, cuda or cuda:N, not 'gpu'"),
    ({"train_config": {"device": "cuda:x"}}, "train_config", "device must be auto, cpu, cuda or cuda:N"),
    ({"model_config": {"backbone": "/etc"}}, "model_config", "only an administrator chooses the backbone"),
])
def test_a_refused_setting_names_its_field_and_writes_nothing(changes, field, says):
    campaign, manager = CampaignFactory(), UserFactory()
    before = ActiveLearningConfig.objects.filter(pk=al_config_get_or_create(campaign=campaign).pk).values().get()
    with pytest.raises(ValidationFailed) as caught:
        al_config_update(campaign=campaign, changes={"min_labels": 9, **changes}, by=manager)
    assert list(caught.value.details) == [field] and says in " ".join(caught.value.details[field])
    assert says in caught.value.message and "__all__" not in caught.value.message
    assert ActiveLearningConfig.objects.filter(campaign=campaign).values().get() == before


def test_the_bundled_backbone_has_six_layers_and_a_deeper_cut_is_refused_before_loading():
    assert backbone_layer_count(default_backbone_dir()) == 6
    with pytest.raises(ValueError, match="at least 1"):
        ModelConfig(num_hidden_layers=0)


def test_from_backbone_refuses_to_grow_random_layers():
    from active_learning.prm.model import PRM

    with pytest.raises(ValueError, match="num_hidden_layers 7 is more than the 6 layers"):
        PRM.from_backbone(ModelConfig(num_hidden_layers=7))


def _form_body(campaign, **changes):
    form = ActiveLearningSettingsForm(instance=ActiveLearningConfig.objects.get(campaign=campaign))
    body = {name: form[name].value() for name in form.fields} | changes
    for k in ("model_config", "train_config", "score_config"):
        if not isinstance(body[k], str):
            body[k] = json.dumps(body[k])
    return {k: v for k, v in body.items() if v is not False and v is not None}


@pytest.fixture
def manager_client(client):
    campaign, boss = CampaignFactory(), UserFactory()
    Membership.objects.create(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    al_config_get_or_create(campaign=campaign)
    client.force_login(boss)
    return client, campaign


@pytest.mark.django_db
def test_the_page_shows_each_error_under_its_field_and_keeps_what_was_typed(manager_client):
    client, campaign = manager_client
    url = f"/manage/{campaign.slug}/model/settings/"
    r = client.post(url, _form_body(campaign, heldout_fraction="1", refill_size="350"))
    page = r.content.decode()
    assert r.status_code == 400
    err = page.split('data-error-for="heldout_fraction">', 1)[1].split("</div>", 1)[0]
    assert err == "Ensure this value is less than 1."
    assert 'name="refill_size" value="350"' in page and 'name="heldout_fraction" value="1"' in page
    assert "__all__" not in page and "Constraint" not in page and "Nothing was saved" in page
    assert ActiveLearningConfig.objects.get(campaign=campaign).refill_size == 200

    # A refusal from the service (not the form) lands under the JSON field it is about.
    r = client.post(url, _form_body(campaign, model_config='{"num_hidden_layers": 99}', refill_size="350"))
    page = r.content.decode()
    assert r.status_code == 400
    err = page.split('data-error-for="model_config">', 1)[1].split("</div>", 1)[0]
    assert "num_hidden_layers 99 is more than the 6 layers" in err
    assert "num_hidden_layers&quot;: 99" in page  # the textarea keeps the typed JSON
    assert ActiveLearningConfig.objects.get(campaign=campaign).refill_size == 200

    r = client.post(url, _form_body(campaign, refill_size="350"))
    assert r.status_code == 302 and r.url.endswith(f"/manage/{campaign.slug}/model/")
    assert ActiveLearningConfig.objects.get(campaign=campaign).refill_size == 350


@pytest.mark.django_db
def test_the_settings_api_reads_and_patches_with_the_same_checks(manager_client):
    from rest_framework.test import APIClient

    _, campaign = manager_client
    boss = Membership.objects.get(campaign=campaign, role=Membership.Role.MANAGER).user
    api = APIClient()
    api.force_authenticate(boss)
    url = f"/api/manage/campaigns/{campaign.slug}/active-learning/"
    got = api.get(url).json()["settings"]
    assert got["refill_size"] == 200 and got["strategy"] == "convincing_wrong" and "campaign" not in got

    r = api.patch(url, {"refill_size": 50, "eval_set": "gsm8k-real"}, format="json")
    assert r.status_code == 200 and sorted(r.json()["changed"]) == ["eval_set", "refill_size"]
    assert r.json()["settings"]["min_labels"] == got["min_labels"]  # the rest stay
    config = ActiveLearningConfig.objects.get(campaign=campaign)
    assert (config.refill_size, config.eval_set) == (50, "gsm8k-real")

    refusals = [
        ({"refill_size": 0}, "refill_size"),
        ({"heldout_fraction": 1}, "heldout_fraction"),
        ({"model_config": {"num_hidden_layers": 99}}, "model_config"),
        ({"train_config": {"epochs": 10_000}}, "train_config"),
        ({"strategy": "clairvoyant"}, "strategy"),
        ({"refil_size": 10}, "refil_size"),
    ]
    for body, field in refusals:
        r = api.patch(url, {"min_labels": 3, **body}, format="json")
        assert r.status_code == 400, (body, r.content)
        assert r.json()["error"] == "validation_failed" and field in r.json()["details"], (body, r.json())
    r = api.patch(url, [1, 2], format="json")
    assert r.status_code == 400 and "JSON object" in r.json()["detail"]
    config = ActiveLearningConfig.objects.get(campaign=campaign)
    assert (config.min_labels, config.refill_size) == (got["min_labels"], 50)  # no refusal wrote anything

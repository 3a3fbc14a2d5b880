"""Export by API token: streamed JSONL, the same options and filters as the CLI and the page,
an hf-dataset as a .zip, and bad parameters as a 400 in the API's error shape."""

import io
import zipfile

import orjson
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.exporting.hf_dataset import split_of
from labeling.models import Membership, Problem
from tests.factories import (
    CampaignFactory,
    MembershipFactory,
    ProblemFactory,
    SolutionFactory,
    TaskFactory,
    UserFactory,
    submitted_labels,
)

pytestmark = pytest.mark.django_db

STEPS = ["Let x = 2.", "Then 2x = 5.", "So x + 1 = 3.", "# Answer\n\n3"]


@pytest.fixture
def campaign():
    campaign = CampaignFactory(slug="api-x", overlap=2)
    for i in range(6):
        problem = ProblemFactory(text=f"Problem {i}?", ground_truth_answer="3")
        task = TaskFactory(campaign=campaign, solution=SolutionFactory(problem=problem, steps=STEPS,
                                                                        answer_is_correct=True))
        submitted_labels(task, UserFactory(username=f"ann{i}a"), [1, 1, 1, 1])
        submitted_labels(task, UserFactory(username=f"ann{i}b"), [1, -1])
    return campaign


def _token_client(campaign, role=Membership.Role.MANAGER):
    user = MembershipFactory(campaign=campaign, role=role).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _lines(resp):
    assert resp.status_code == 200, resp.content
    return [orjson.loads(x) for x in b"".join(resp.streaming_content).splitlines()]


def test_a_script_exports_with_a_token(campaign):
    client = _token_client(campaign)
    resp = client.get(f"/api/manage/campaigns/{campaign.slug}/export/?format=trl")
    assert resp["Content-Type"] == "application/x-ndjson"
    assert resp["Content-Disposition"] == 'attachment; filename="api-x-trl-majority.jsonl"'
    rows = _lines(resp)
    assert len(rows) == 6 and rows[0]["labels"] == [True, False]  # majority: a 1-1 tie goes to the lower rating
    per_labeler = _lines(client.get(f"/api/manage/campaigns/{campaign.slug}/export/?format=trl&aggregate=none"))
    assert len(per_labeler) == 12
    only = _lines(client.get(f"/api/manage/campaigns/{campaign.slug}/export/?format=processbench&aggregate=none"
                             "&annotator=ann0a&annotator=ann1b"))
    assert sorted(r["label"] for r in only) == [-1, 1]
    assert _lines(client.get(f"/api/manage/campaigns/{campaign.slug}/export/?format=trl&finish_reason=give_up")) == []


def test_an_hf_dataset_comes_as_a_zip(campaign):
    splits = {split_of(f"{p.source}:{p.source_id}", test_fraction=0.5, seed=3)
              for p in Problem.objects.filter(solutions__tasks__campaign=campaign).distinct()}
    resp = _token_client(campaign).get(f"/api/manage/campaigns/{campaign.slug}/export/?format=hf-dataset"
                                       "&test_fraction=0.5&seed=3&license=cc-by-4.0")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/zip"
    data = b"".join(resp.streaming_content)
    resp.close()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "api-x-hf-dataset-majority/README.md" in names
    # The split hashes each problem's source id, which the factories number by test order: work out which
    # files this run's six problems make rather than assume both (1 run in 64 puts all six on one side).
    assert len(splits) >= 1
    assert {n for n in names if n.endswith(".jsonl")} == {f"api-x-hf-dataset-majority/{s}.jsonl" for s in splits}
    card = zipfile.ZipFile(io.BytesIO(data)).read("api-x-hf-dataset-majority/README.md").decode()
    assert card.startswith("---\nlicense: cc-by-4.0\n")


@pytest.mark.parametrize("query, message", [
    ("format=csv", "unknown export format"),
    ("", "unknown export format"),
    ("format=prm800k&aggregate=majority", "one line per labeler"),
    ("format=trl&submitted_after=soon", "not a date"),
    ("format=trl&generation=two", "whole number"),
    ("format=trl&qc=sometimes", "include, exclude or only"),
    # A misspelt filter must not quietly export everything unfiltered.
    ("format=trl&submitted-after=2020-01-01", "unknown export parameter(s): submitted-after"),
    ("format=trl&bogus=1", "unknown export parameter(s): bogus"),
    ("format=trl&annotator=nobody", "annotator: no one is called 'nobody'"),
    ("format=trl&annotator=5A1D6C1E-0000-4000-8000-00000000FFFF", "no one is called"),  # a labeler id, but no one's
])
def test_bad_parameters_are_a_400_in_the_error_shape(campaign, query, message):
    resp = _token_client(campaign).get(f"/api/manage/campaigns/{campaign.slug}/export/?{query}")
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "validation_failed" and message in body["detail"]


def test_annotators_and_strangers_cannot_export(campaign):
    resp = _token_client(campaign, role=Membership.Role.ANNOTATOR).get(
        f"/api/manage/campaigns/{campaign.slug}/export/?format=trl")
    assert resp.status_code == 403
    assert APIClient().get(f"/api/manage/campaigns/{campaign.slug}/export/?format=trl").status_code == 403
    assert _token_client(campaign).get("/api/manage/campaigns/nope/export/?format=trl").status_code == 404

"""A script imports a file and has an export file written, by API token only, through a real worker."""

import json
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.celery import app
from labeling.models import Membership, Task
from labeling.services.campaigns import membership_set
from tests.factories import CampaignFactory, UserFactory, submitted_labels

MATH = Path(__file__).resolve().parents[3] / "labeling" / "demo_data" / "prm800k_math_solutions.jsonl"


def _script(campaign):
    boss = UserFactory()
    membership_set(campaign=campaign, user=boss, role=Membership.Role.MANAGER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=boss).key}")
    return api, boss


def _wait(api, url, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(url).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_import_then_export_file_by_token(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    settings.EXPORT_DIR = tmp_path / "exports"
    campaign = CampaignFactory(slug="api-jobs")
    api, _ = _script(campaign)
    base = "/api/manage/campaigns/api-jobs"
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                      queues=[settings.CELERY_TASK_DEFAULT_QUEUE]):
        r = api.post(f"{base}/imports/", {"file": SimpleUploadedFile("math.jsonl", MATH.read_bytes()),
                                          "format": "solutions"}, format="multipart")
        assert r.status_code == 202, r.content
        assert r.json()["params"] == {"filename": "math.jsonl", "format": "solutions", "split": "blank",
                                      "as_gold": False, "drop_labels": False,
                                      "bytes": MATH.stat().st_size}  # no server path shown
        job = _wait(api, f"{base}/jobs/{r.json()['id']}/")
        assert job["status"] == "succeeded", job["error"]
        assert job["progress_done"] == 12 and "created:" in job["summary"]
        assert Task.objects.filter(campaign=campaign).count() == 12

        task = Task.objects.filter(campaign=campaign).order_by("pk").first()
        submitted_labels(task, UserFactory(), [1] * task.solution.steps.count())
        r = api.post(f"{base}/exports/", {"format": "trl", "aggregate": "majority"}, format="json")
        assert r.status_code == 202, r.content
        job = _wait(api, f"{base}/jobs/{r.json()['id']}/")
        assert job["status"] == "succeeded" and job["rows"] == 1, job
    listed = api.get(f"{base}/jobs/").json()
    assert [j["kind"] for j in listed["results"]] == ["export", "import"] and listed["count"] == 2
    r = api.get(job["download"])
    assert r.status_code == 200
    [row] = [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]
    assert row["prompt"] == task.solution.problem.text and len(row["labels"]) == task.solution.steps.count()


@pytest.mark.django_db
def test_bad_uploads_and_unknown_jobs_are_named_4xx(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path
    campaign = CampaignFactory(slug="api-bad")
    api, _ = _script(campaign)
    base = "/api/manage/campaigns/api-bad"
    r = api.post(f"{base}/imports/", {"format": "solutions"}, format="multipart")
    assert r.status_code == 400 and "file" in r.json()["details"]
    r = api.post(f"{base}/imports/", {"file": SimpleUploadedFile("x.jsonl", b"{}\n"), "format": "csv"},
                 format="multipart")
    assert r.status_code == 400 and "format" in r.json()["details"]
    r = api.post(f"{base}/imports/", {"file": SimpleUploadedFile("x.jsonl", b""), "format": "auto"},
                 format="multipart")
    assert r.status_code == 400 and r.json()["error"] == "validation_failed"
    r = api.post(f"{base}/imports/", {"format": "auto"}, format="json")
    assert r.status_code == 415
    r = api.post(f"{base}/exports/", {"format": "trl", "submitted-after": "2020-01-01"}, format="json")
    assert r.status_code == 400 and "unknown export parameter(s): submitted-after" in r.json()["detail"]
    r = api.post(f"{base}/exports/", ["trl"], format="json")
    assert r.status_code == 400 and "JSON object" in r.json()["detail"]
    assert api.get(f"{base}/jobs/999/").status_code == 404
    ours = api.post(f"{base}/exports/", {"format": "trl"}, format="json").json()["id"]
    other = CampaignFactory()
    their_api, _ = _script(other)
    assert api.get(f"/api/manage/campaigns/{other.slug}/jobs/{ours}/").status_code == 403  # not our campaign
    # Their manager, under their own slug, cannot reach our job by its id either.
    r = their_api.get(f"/api/manage/campaigns/{other.slug}/jobs/{ours}/")
    assert r.status_code == 404 and f"has no job {ours}" in r.json()["detail"]
    assert their_api.get(f"/api/manage/campaigns/{other.slug}/jobs/{ours}/download/").status_code == 404
    r = api.get(f"{base}/jobs/{ours}/download/")
    assert r.status_code == 404 and "no export file (yet)" in r.json()["detail"]
    r = api.post(f"{base}/imports/", {"file": SimpleUploadedFile("x.jsonl", b"{}\n"), "as-gold": "true"},
                 format="multipart")  # misspelt: gold records must not come in as labels
    assert r.status_code == 400 and "as-gold" in r.json()["details"]


@pytest.mark.django_db
def test_an_import_says_what_the_files_labels_become(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    campaign = CampaignFactory(slug="api-labels")
    api, _ = _script(campaign)
    url = "/api/manage/campaigns/api-labels/imports/"

    def post(**fields):
        return api.post(url, {"file": SimpleUploadedFile("m.jsonl", MATH.read_bytes()), **fields}, format="multipart")

    left_out = post(labels="none").json()["params"]
    assert (left_out["as_gold"], left_out["drop_labels"]) == (False, True)
    gold = post(labels="gold").json()["params"]
    assert (gold["as_gold"], gold["drop_labels"]) == (True, False)
    assert post(as_gold="true").json()["params"]["as_gold"] is True  # the older flag still works
    r = post(labels="none", as_gold="true")
    assert r.status_code == 400 and "as_gold" in r.json()["details"]
    assert post(labels="maybe").status_code == 400

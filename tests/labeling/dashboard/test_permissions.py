"""Role x endpoint permission matrix for the manager dashboard (HTML under /manage/) and API (/api/manage/).

Every manager page and endpoint needs the campaign's manager role or an admin.
The one exception is resolving a disagreement through the API, which a
designated expert (membership with can_adjudicate=True) may do too.

For POST/PUT endpoints the body is valid, so an authorised role gets a 2xx/3xx
that actually did something, and for every other role the test also checks
that nothing changed (the 403 comes before any work).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from active_learning.models import ActiveLearningConfig, PRMModel, ScoringChunk, TrainingRun
from labeling.models import Adjudication, Campaign, GoldStepLabel, Job, Membership, OutboxMessage, Task
from labeling.services.campaigns import membership_set
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory
from tests.labeling.conftest import dash_world_build, label

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "annotator", "expert", "other_manager", "manager", "admin"]
UNKNOWN = "no-such-campaign"

IMPORT_LINE = b'{"problem": "What is 1 + 1?", "steps": ["1 + 1 = 2.", "# Answer\\n\\n2"], "answer": "2"}\n'


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # `make test` runs with DJANGO_ENV=test (MD5); a bare `pytest` would spend ~0.25 s per user on PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once for the module's ~700 tests (building it took a quarter second each).

    It lives in a transaction that is never committed and rolls back after the module; each test runs in
    a savepoint inside it, as a Django TestCase's setUpTestData, so what one test changes the next does
    not see."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _world_build(tmp_path_factory.mktemp("matrix"))
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def world(module_world, settings):
    settings.EXPORT_DIR = module_world["dirs"]["exports"]
    settings.IMPORT_UPLOAD_DIR = module_world["dirs"]["uploads"]
    assert Campaign.objects.filter(pk=module_world["campaign"].pk).exists(), (
        "the world is gone: an earlier test closed the connection, which rolled back its transaction")
    # A copy per test: a test that changes an instance in memory leaves the next one the original.
    return copy.deepcopy(module_world)


def _world_build(tmp_path) -> dict:
    """dash_world plus one open disagreement, an exported file and one user per role."""
    dash_world = dash_world_build()
    c = dash_world["campaign"]
    ann, ben, _cat = dash_world["annotators"]
    dirs = {"exports": tmp_path / "exports", "uploads": tmp_path / "uploads"}
    dirs["exports"].mkdir()

    # ann and ben disagree on the first error of the top task (overlap 2).
    a1 = label(ann, c, [1, 1, -1])
    a2 = label(ben, c, [1, 1, 1, 1, 1])
    assert a1.solution_id == a2.solution_id == dash_world["tasks"][0].solution_id
    disputed = a1.solution_id
    assert Adjudication.objects.get(campaign=c, solution_id=disputed).status == Adjudication.Status.OPEN

    # A handful of labels is enough to request a retrain in this world.
    ActiveLearningConfig.objects.update_or_create(campaign=c, defaults={"min_labels": 1})

    expert = UserFactory(username="expert")
    Membership.objects.filter(pk=membership_set(campaign=c, user=expert).pk).update(can_adjudicate=True)
    other = CampaignFactory(mode=Campaign.Mode.FIRST_ERROR)
    other_manager = UserFactory(username="other-boss", is_staff=True)
    membership_set(campaign=other, user=other_manager, role=Membership.Role.MANAGER)

    path = dirs["exports"] / "export-1.jsonl"
    path.write_bytes(b'{"x": 1}\n')
    job = Job.objects.create(
        kind=Job.Kind.EXPORT,
        campaign=c,
        status=Job.Status.SUCCEEDED,
        created_by=dash_world["manager"],
        result={"path": str(path), "filename": "export-1.jsonl", "rows": 1, "summary": "1 row"},
    )
    # A trained model the gate did not promote, for the promote-by-hand endpoints.
    ckpt = tmp_path / "ckpt-v1"
    ckpt.mkdir()
    PRMModel.objects.create(campaign=c, version=1, backbone="tiny", checkpoint_path=str(ckpt),
                            metrics={"step_auroc": 0.4})
    # Creating campaigns takes the labeling.add_campaign permission: the manager has it, the other manager not.
    dash_world["manager"].user_permissions.add(Permission.objects.get(codename="add_campaign"))
    # For the campaign-creator endpoints: one to grant it to, one who has it to revoke.
    UserFactory(username="colleague")
    UserFactory(username="co-creator").user_permissions.add(Permission.objects.get(codename="add_campaign"))
    users = {
        "outsider": UserFactory(username="outsider"),
        "annotator": ann,
        "expert": expert,
        "other_manager": other_manager,
        "manager": dash_world["manager"],
        "admin": UserFactory(username="root", is_staff=True, is_superuser=True),
    }
    # A re-segmented version of an unlabeled task's solution, for the adopt endpoint.
    from labeling.models import Solution

    base = dash_world["tasks"][2].solution
    version = Solution.objects.create(problem=base.problem, generator=base.generator, content_hash="v" * 64,
                                      parent=base, segment_spans=[[[0, 0, 3]]])
    return {
        **dash_world,
        "dirs": dirs,
        "users": users,
        "version": version.pk,
        "disputed": disputed,
        "job": job,
        "ann": ann,
        "plain_solution": dash_world["tasks"][1].solution_id,
    }


# --------------------------------------------------------------------------- what a change looks like


def _membership_status(w):
    return Membership.objects.get(campaign=w["campaign"], user=w["ann"]).status


def _adjudication_status(w):
    return Adjudication.objects.get(campaign=w["campaign"], solution_id=w["disputed"]).status


def _adjudications(w):
    return Adjudication.objects.filter(campaign=w["campaign"]).count()


def _drop_adjudications(w):
    Adjudication.objects.filter(campaign=w["campaign"]).delete()


def _a_run(w) -> int:
    """A finished run with a scored chunk, for the training-run endpoints (made on first use: the retrain
    tests count runs from none)."""
    model = PRMModel.objects.get(campaign=w["campaign"], version=1)
    run, made = TrainingRun.objects.get_or_create(campaign=w["campaign"], error="matrix", defaults={
        "status": TrainingRun.Status.FAILED, "stage": TrainingRun.Stage.SCORING, "model": model})
    if made:
        ScoringChunk.objects.create(run=run, model=model, index=0, first_solution_id=1, last_solution_id=9, size=3,
                                    status=ScoringChunk.Status.DONE, worker="host:1", scored=3)
    return run.pk


def _runs(w):
    return TrainingRun.objects.filter(campaign=w["campaign"]).count()


def _jobs(kind):
    return lambda w: Job.objects.filter(campaign=w["campaign"], kind=kind).count()


def _campaign_field(name):
    return lambda w: getattr(Campaign.objects.get(pk=w["campaign"].pk), name)


def _al_form(w, **changes):
    from active_learning.forms import ActiveLearningSettingsForm

    form = ActiveLearningSettingsForm(instance=ActiveLearningConfig.objects.get(campaign=w["campaign"]))
    body = {name: form[name].value() for name in form.fields}
    body = {**body, **changes}
    for k in ("model_config", "train_config", "score_config"):
        body[k] = json.dumps(body[k]) if not isinstance(body[k], str) else body[k]
    return {k: v for k, v in body.items() if v is not False and v is not None}


def _model_active(w):
    return PRMModel.objects.get(campaign=w["campaign"], version=1).is_active


def _campaigns(w):
    return Campaign.objects.count()


def _can_create(username):
    return lambda w: Permission.objects.get(codename="add_campaign").user_set.filter(username=username).exists()


def _members(w):
    return Membership.objects.filter(campaign=w["campaign"]).count()


def _settings_form(w, **changes):
    from labeling.dashboard.forms import CampaignSettingsForm

    c = Campaign.objects.get(pk=w["campaign"].pk)
    body = dict(CampaignSettingsForm.for_campaign(c).initial)
    body = {k: ("" if v is None else v) for k, v in {**body, **changes}.items() if v is not False}
    return body


def _grader_reviews(w):
    from labeling.models import GraderReview

    return GraderReview.objects.filter(campaign=w["campaign"]).count()


def _undecided(w):
    from labeling.models import Solution

    Solution.objects.filter(pk=w["plain_solution"]).update(answer_is_correct=None)


def _verdict(w):
    from labeling.models import Solution

    return Solution.objects.get(pk=w["plain_solution"]).answer_is_correct


def _gold(w):
    task = Task.objects.get(campaign=w["campaign"], solution_id=w["plain_solution"])
    return task.is_gold, GoldStepLabel.objects.filter(solution_id=w["plain_solution"]).count()


@dataclass(frozen=True)
class Endpoint:
    api: bool  # True: /api/manage/ (DRF, JSON); False: a /manage/ HTML page
    method: str
    url: Any  # (world, slug) -> path
    body: Any = None  # (world) -> data, or None
    state: Any = None  # (world) -> a value that changes when the action happened
    prepare: Any = None  # (world) -> None, run before the request


def _upload(w):
    return {"file": SimpleUploadedFile("more.jsonl", IMPORT_LINE), "format": "auto"}


ENDPOINTS = {
    # ---- HTML pages under /manage/
    "index": Endpoint(False, "get", lambda w, s: "/manage/"),
    "overview": Endpoint(False, "get", lambda w, s: f"/manage/{s}/"),
    "overview_json": Endpoint(False, "get", lambda w, s: f"/manage/{s}/overview.json"),
    "annotators": Endpoint(False, "get", lambda w, s: f"/manage/{s}/annotators/?sort=name"),
    "annotator": Endpoint(False, "get", lambda w, s: f"/manage/{s}/annotators/{w['ann'].pk}/"),
    "annotator_status": Endpoint(
        False,
        "post",
        lambda w, s: f"/manage/{s}/annotators/{w['ann'].pk}/status/",
        body=lambda w: {"status": "paused", "reason": "matrix test"},
        state=_membership_status,
    ),
    "adjudication": Endpoint(False, "get", lambda w, s: f"/manage/{s}/adjudication/"),
    "agreement_refresh": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/agreement/refresh/", body=lambda w: {},
        state=lambda w: OutboxMessage.objects.filter(ref=f"agreement:{w['campaign'].pk}").count(),
    ),
    "adjudication_rescan": Endpoint(
        False,
        "post",
        lambda w, s: f"/manage/{s}/adjudication/rescan/",
        body=lambda w: {},
        state=_adjudications,
        prepare=_drop_adjudications,
    ),
    "grader": Endpoint(False, "get", lambda w, s: f"/manage/{s}/grader/"),
    "grader_scan": Endpoint(False, "post", lambda w, s: f"/manage/{s}/grader/scan/", body=lambda w: {},
                            state=_grader_reviews, prepare=_undecided),
    "grader_resolve": Endpoint(False, "post", lambda w, s: f"/manage/{s}/grader/{w['plain_solution']}/",
                               body=lambda w: {"verdict": "wrong"}, state=_verdict),
    "review": Endpoint(False, "get", lambda w, s: f"/manage/{s}/solutions/{w['disputed']}/"),
    "version_adopt": Endpoint(False, "post", lambda w, s: f"/manage/{s}/solutions/{w['version']}/adopt/",
                              body=lambda w: {},
                              state=lambda w: Task.objects.get(pk=w["tasks"][2].pk).solution_id),
    "review_resolve": Endpoint(
        False,
        "post",
        lambda w, s: f"/manage/{s}/solutions/{w['disputed']}/",
        body=lambda w: {"step-0": "1", "step-1": "1", "step-2": "-1", "step-3": "", "action": "resolve"},
        state=_adjudication_status,
    ),
    "model": Endpoint(False, "get", lambda w, s: f"/manage/{s}/model/"),
    "retrain": Endpoint(False, "post", lambda w, s: f"/manage/{s}/model/retrain/", body=lambda w: {}, state=_runs),
    "data": Endpoint(False, "get", lambda w, s: f"/manage/{s}/data/"),
    "import": Endpoint(
        False,
        "post",
        lambda w, s: f"/manage/{s}/data/import/",
        body=_upload,
        state=_jobs(Job.Kind.IMPORT),
    ),
    "export": Endpoint(
        False,
        "post",
        lambda w, s: f"/manage/{s}/data/export/",
        body=lambda w: {"format": "trl", "aggregate": "majority"},
        state=_jobs(Job.Kind.EXPORT),
    ),
    "export_stream": Endpoint(
        False, "get", lambda w, s: f"/manage/{s}/data/export.jsonl?format=prm800k&aggregate=none"
    ),
    "job_json": Endpoint(False, "get", lambda w, s: f"/manage/{s}/jobs/{w['job'].pk}.json"),
    "job_download": Endpoint(False, "get", lambda w, s: f"/manage/{s}/jobs/{w['job'].pk}/download/"),
    "al_settings": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/model/settings/", body=lambda w: _al_form(w, min_labels=7),
        state=lambda w: ActiveLearningConfig.objects.get(campaign=w["campaign"]).min_labels,
    ),
    "promote": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/model/v1/promote/", body=lambda w: {"confirm": "1"},
        state=_model_active,
    ),
    "api_promote": Endpoint(
        True, "post", lambda w, s: f"/api/manage/campaigns/{s}/models/1/promote/", body=lambda w: {"confirm": True},
        state=_model_active,
    ),
    "api_training_runs": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/training-runs/"),
    "api_member_role": Endpoint(True, "post", lambda w, s: f"/api/manage/campaigns/{s}/members/{w['ann'].pk}/role/",
                                body=lambda w: {"role": "expert"},
                                state=lambda w: Membership.objects.get(campaign=w["campaign"],
                                                                       user=w["ann"]).can_adjudicate),
    "member_role": Endpoint(False, "post", lambda w, s: f"/manage/{s}/members/{w['ann'].pk}/role/",
                            body=lambda w: {"role": "expert"},
                            state=lambda w: Membership.objects.get(campaign=w["campaign"],
                                                                   user=w["ann"]).can_adjudicate),
    "api_import": Endpoint(True, "post", lambda w, s: f"/api/manage/campaigns/{s}/imports/", body=_upload,
                           state=_jobs(Job.Kind.IMPORT)),
    "api_export_job": Endpoint(True, "post", lambda w, s: f"/api/manage/campaigns/{s}/exports/",
                               body=lambda w: {"format": "trl"}, state=_jobs(Job.Kind.EXPORT)),
    "api_jobs": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/jobs/"),
    "api_job": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/jobs/{w['job'].pk}/"),
    "api_job_download": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/jobs/{w['job'].pk}/download/"),
    "api_al_settings": Endpoint(
        True, "patch", lambda w, s: f"/api/manage/campaigns/{s}/active-learning/", body=lambda w: {"min_labels": 7},
        state=lambda w: ActiveLearningConfig.objects.get(campaign=w["campaign"]).min_labels,
    ),
    "api_training_run": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/training-runs/{_a_run(w)}/"),
    "member_rate": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/members/{w['ann'].pk}/rate/", body=lambda w: {"hourly_rate": "41.50"},
        state=lambda w: Membership.objects.get(campaign=w["campaign"], user=w["ann"]).hourly_rate,
    ),
    "cost": Endpoint(False, "get", lambda w, s: f"/manage/{s}/cost/?period=day"),
    "cost_csv": Endpoint(False, "get", lambda w, s: f"/manage/{s}/cost.csv?period=week"),
    "api_cost": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/cost/?period=week"),
    "api_history": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/history/?limit=50"),
    "api_error_types": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/error-types/"),
    "api_prelabels": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/prelabels/"),
    "api_export": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/export/?format=trl"),
    "new": Endpoint(False, "get", lambda w, s: "/manage/new/"),
    "creators": Endpoint(False, "get", lambda w, s: "/manage/creators/"),
    "creators_grant": Endpoint(False, "post", lambda w, s: "/manage/creators/", body=lambda w: {"people": "colleague"},
                               state=_can_create("colleague")),
    "creator_revoke": Endpoint(False, "post", lambda w, s: "/manage/creators/revoke/",
                               body=lambda w: {"username": "co-creator"}, state=_can_create("co-creator")),
    "api_creators": Endpoint(True, "get", lambda w, s: "/api/manage/creators/"),
    "api_creators_add": Endpoint(True, "post", lambda w, s: "/api/manage/creators/",
                                 body=lambda w: {"who": ["colleague"]}, state=_can_create("colleague")),
    "api_creator_revoke": Endpoint(True, "delete", lambda w, s: "/api/manage/creators/co-creator/",
                                   state=_can_create("co-creator")),
    "new_create": Endpoint(
        False, "post", lambda w, s: "/manage/new/",
        body=lambda w: _settings_form(w, slug="made-on-the-page", name="Made on the page"), state=_campaigns,
    ),
    "settings": Endpoint(False, "get", lambda w, s: f"/manage/{s}/settings/"),
    "settings_save": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/settings/", body=lambda w: _settings_form(w, overlap=3),
        state=_campaign_field("overlap"),
    ),
    "status": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/settings/status/", body=lambda w: {"action": "pause"},
        state=_campaign_field("status"),
    ),
    "members": Endpoint(False, "get", lambda w, s: f"/manage/{s}/members/"),
    "members_add": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/members/",
        body=lambda w: {"people": "newbie@example.com", "role": "annotator"}, state=_members,
    ),
    "member_remove": Endpoint(
        False, "post", lambda w, s: f"/manage/{s}/members/remove/", body=lambda w: {"who": "cat"}, state=_members,
    ),
    # ---- manager API under /api/manage/campaigns/<slug>/
    "api_campaign_create": Endpoint(
        True, "post", lambda w, s: "/api/manage/campaigns/", body=lambda w: {"slug": "made-by-api", "name": "API"},
        state=_campaigns,
    ),
    "api_campaign": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/"),
    "api_campaign_patch": Endpoint(
        True, "patch", lambda w, s: f"/api/manage/campaigns/{s}/", body=lambda w: {"overlap": 3},
        state=_campaign_field("overlap"),
    ),
    "api_members": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/members/"),
    "api_members_add": Endpoint(
        True, "post", lambda w, s: f"/api/manage/campaigns/{s}/members/",
        body=lambda w: {"entries": ["newbie@example.com"]}, state=_members,
    ),
    "api_members_remove": Endpoint(
        True, "delete", lambda w, s: f"/api/manage/campaigns/{s}/members/", body=lambda w: {"who": ["cat"]},
        state=_members,
    ),
    "api_overview": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/overview/"),
    "api_annotators": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/annotators/"),
    "api_agreement": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/agreement/"),
    "api_adjudications": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/adjudications/"),
    "api_resolve": Endpoint(
        True,
        "post",
        lambda w, s: f"/api/manage/campaigns/{s}/adjudications/{w['disputed']}/resolve/",
        body=lambda w: {"ratings": [1, 1, -1], "note": "matrix"},
        state=_adjudication_status,
    ),
    "api_grader_reviews": Endpoint(True, "get", lambda w, s: f"/api/manage/campaigns/{s}/grader-reviews/"),
    "api_grader_resolve": Endpoint(
        True, "post", lambda w, s: f"/api/manage/campaigns/{s}/grader-reviews/{w['plain_solution']}/resolve/",
        body=lambda w: {"verdict": False}, state=_verdict),
    "api_gold": Endpoint(
        True,
        "put",
        lambda w, s: f"/api/manage/campaigns/{s}/gold/{w['plain_solution']}/",
        body=lambda w: {"ratings": [1, -1]},
        state=_gold,
    ),
    "api_member_status": Endpoint(
        True,
        "post",
        lambda w, s: f"/api/manage/campaigns/{s}/members/{w['ann'].pk}/status/",
        body=lambda w: {"status": "paused", "reason": "matrix"},
        state=_membership_status,
    ),
    "api_retrain": Endpoint(
        True,
        "post",
        lambda w, s: f"/api/manage/campaigns/{s}/retrain/",
        body=lambda w: {},
        state=_runs,
    ),
}

# HTML: anonymous is sent to the login page (302); the API answers 403.
# A 302 for a logged-in role is the page's redirect after a successful POST.
# fmt: off
EXPECTED = {
    #                     anonymous outsider annotator expert other_mgr manager admin
    "index":               [302,     403,     403,      403,   200,      200,    200],
    "overview":            [302,     403,     403,      403,   403,      200,    200],
    "overview_json":       [302,     403,     403,      403,   403,      200,    200],
    "annotators":          [302,     403,     403,      403,   403,      200,    200],
    "annotator":           [302,     403,     403,      403,   403,      200,    200],
    "annotator_status":    [302,     403,     403,      403,   403,      302,    302],
    "adjudication":        [302,     403,     403,      200,   403,      200,    200],
    "agreement_refresh":   [302,     403,     403,      403,   403,      302,    302],
    "adjudication_rescan": [302,     403,     403,      403,   403,      302,    302],
    "grader":              [302,     403,     403,      200,   403,      200,    200],
    "grader_scan":         [302,     403,     403,      403,   403,      302,    302],
    "grader_resolve":      [302,     403,     403,      302,   403,      302,    302],
    "api_grader_reviews":  [403,     403,     403,      200,   403,      200,    200],
    "api_grader_resolve":  [403,     403,     403,      200,   403,      200,    200],
    "review":              [302,     403,     403,      200,   403,      200,    200],
    "review_resolve":      [302,     403,     403,      302,   403,      302,    302],
    "version_adopt":       [302,     403,     403,      403,   403,      302,    302],
    "model":               [302,     403,     403,      403,   403,      200,    200],
    "retrain":             [302,     403,     403,      403,   403,      302,    302],
    "data":                [302,     403,     403,      403,   403,      200,    200],
    "import":              [302,     403,     403,      403,   403,      302,    302],
    "export":              [302,     403,     403,      403,   403,      302,    302],
    "export_stream":       [302,     403,     403,      403,   403,      200,    200],
    "job_json":            [302,     403,     403,      403,   403,      200,    200],
    "job_download":        [302,     403,     403,      403,   403,      200,    200],
    "api_overview":        [403,     403,     403,      403,   403,      200,    200],
    "api_annotators":      [403,     403,     403,      403,   403,      200,    200],
    "api_agreement":       [403,     403,     403,      403,   403,      200,    200],
    "api_adjudications":   [403,     403,     403,      403,   403,      200,    200],
    "api_resolve":         [403,     403,     403,      200,   403,      200,    200],
    "api_gold":            [403,     403,     403,      403,   403,      200,    200],
    "api_member_status":   [403,     403,     403,      403,   403,      200,    200],
    "api_retrain":         [403,     403,     403,      403,   403,      202,    202],
    "al_settings":         [302,     403,     403,      403,   403,      302,    302],
    "promote":             [302,     403,     403,      403,   403,      302,    302],
    "api_promote":         [403,     403,     403,      403,   403,      200,    200],
    "api_training_runs":   [403,     403,     403,      403,   403,      200,    200],
    "api_member_role":     [403,     403,     403,      403,   403,      200,    200],
    "member_role":         [302,     403,     403,      403,   403,      302,    302],
    "api_import":          [403,     403,     403,      403,   403,      202,    202],
    "api_export_job":      [403,     403,     403,      403,   403,      202,    202],
    "api_jobs":            [403,     403,     403,      403,   403,      200,    200],
    "api_job":             [403,     403,     403,      403,   403,      200,    200],
    "api_job_download":    [403,     403,     403,      403,   403,      200,    200],
    "api_al_settings":     [403,     403,     403,      403,   403,      200,    200],
    "api_training_run":    [403,     403,     403,      403,   403,      200,    200],
    "member_rate":         [302,     403,     403,      403,   403,      302,    302],
    "cost":                [302,     403,     403,      403,   403,      200,    200],
    "cost_csv":            [302,     403,     403,      403,   403,      200,    200],
    "api_cost":            [403,     403,     403,      403,   403,      200,    200],
    "api_history":         [403,     403,     403,      403,   403,      200,    200],
    "api_error_types":     [403,     403,     403,      403,   403,      200,    200],
    "api_prelabels":       [403,     403,     403,      403,   403,      200,    200],
    "api_export":          [403,     403,     403,      403,   403,      200,    200],
    "new":                 [302,     403,     403,      403,   403,      200,    200],
    "new_create":          [302,     403,     403,      403,   403,      302,    302],
    "creators":            [302,     403,     403,      403,   403,      200,    200],
    "creators_grant":      [302,     403,     403,      403,   403,      302,    302],
    "creator_revoke":      [302,     403,     403,      403,   403,      302,    302],
    "api_creators":        [403,     403,     403,      403,   403,      200,    200],
    "api_creators_add":    [403,     403,     403,      403,   403,      200,    200],
    "api_creator_revoke":  [403,     403,     403,      403,   403,      200,    200],
    "settings":            [302,     403,     403,      403,   403,      200,    200],
    "settings_save":       [302,     403,     403,      403,   403,      302,    302],
    "status":              [302,     403,     403,      403,   403,      302,    302],
    "members":             [302,     403,     403,      403,   403,      200,    200],
    "members_add":         [302,     403,     403,      403,   403,      200,    200],
    "member_remove":       [302,     403,     403,      403,   403,      302,    302],
    "api_campaign_create": [403,     403,     403,      403,   403,      201,    201],
    "api_campaign":        [403,     403,     403,      403,   403,      200,    200],
    "api_campaign_patch":  [403,     403,     403,      403,   403,      200,    200],
    "api_members":         [403,     403,     403,      403,   403,      200,    200],
    "api_members_add":     [403,     403,     403,      403,   403,      200,    200],
    "api_members_remove":  [403,     403,     403,      403,   403,      200,    200],
}
# fmt: on


def test_matrix_covers_every_manager_route():
    from active_learning import urls as al_urls
    from labeling.api import urls as api_urls
    from labeling.dashboard import urls as dash_urls

    # labeling's own pages and those active_learning plugs into the dashboard
    html = {p.name for p in [*dash_urls.urlpatterns, *al_urls.dashboard_urls]}
    api = {p.name for p in [*api_urls.urlpatterns, *al_urls.api_urls] if p.name.startswith("api-manage-")}
    covered_html = {
        "index",
        "new",
        "creators",
        "creator-revoke",
        "settings",
        "status",
        "members",
        "member-remove",
        "member-rate",
        "member-role",
        "cost",
        "cost-csv",
        "overview",
        "overview-json",
        "annotators",
        "annotator",
        "annotator-status",
        "agreement-refresh",
        "adjudication",
        "adjudication-rescan",
        "grader",
        "grader-scan",
        "grader-resolve",
        "review",
        "version-adopt",
        "model",
        "retrain",
        "promote",
        "al-settings",
        "data",
        "import",
        "export",
        "export-stream",
        "job-json",
        "job-download",
    }
    covered_api = {
        "api-manage-campaign-create",
        "api-manage-creators",
        "api-manage-creator",
        "api-manage-campaign",
        "api-manage-members",
        "api-manage-cost",
        "api-manage-history",
        "api-manage-error-types",
        "api-manage-prelabels",
        "api-manage-export",
        "api-manage-grader-reviews",
        "api-manage-grader-resolve",
        "api-manage-overview",
        "api-manage-annotators",
        "api-manage-agreement",
        "api-manage-adjudications",
        "api-manage-resolve",
        "api-manage-gold",
        "api-manage-member-status",
        "api-manage-retrain",
        "api-manage-promote",
        "api-manage-training-runs",
        "api-manage-training-run",
        "api-manage-active-learning",
        "api-manage-import",
        "api-manage-member-role",
        "api-manage-export-job",
        "api-manage-jobs",
        "api-manage-job",
        "api-manage-job-download",
    }
    assert html == covered_html, "a dashboard page was added or removed: update ENDPOINTS and EXPECTED"
    assert api == covered_api, "a manager API endpoint was added or removed: update ENDPOINTS and EXPECTED"
    assert set(EXPECTED) == set(ENDPOINTS)
    assert all(len(row) == len(ROLES) for row in EXPECTED.values())


def _client(w, role, api: bool):
    client = APIClient() if api else Client()
    if role != "anonymous":
        if api:
            client.force_authenticate(w["users"][role])
        else:
            client.force_login(w["users"][role])
    return client


def _call(w, role, ep: Endpoint, slug: str):
    client = _client(w, role, ep.api)
    url = ep.url(w, slug)
    body = ep.body(w) if ep.body else None
    if ep.api:
        uploads = isinstance(body, dict) and any(isinstance(v, SimpleUploadedFile) for v in body.values())
        resp = getattr(client, ep.method)(url, body, format="multipart" if uploads else "json")
    elif ep.method == "get":
        resp = client.get(url)
    else:
        resp = client.post(url, body)
    if resp.streaming:
        # Reading it to the end closes it, with the test client's guard that keeps the connection
        # (and so the module's world) open; a second close() would end both.
        b"".join(resp.streaming_content)
    return resp


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(world, endpoint, role):
    ep = ENDPOINTS[endpoint]
    expected = EXPECTED[endpoint][ROLES.index(role)]
    if ep.prepare:
        ep.prepare(world)
    before = ep.state(world) if ep.state else None
    resp = _call(world, role, ep, world["campaign"].slug)
    assert resp.status_code == expected, f"{role} on {endpoint}: {resp.status_code} {resp.content[:300]!r}"

    allowed = expected in (200, 201, 202) or (expected == 302 and role != "anonymous")
    if resp.status_code == 302:
        to_login = resp["Location"].startswith("/login/?next=")
        assert to_login == (role == "anonymous"), resp["Location"]
        if allowed:
            home = {"new_create": "/manage/made-on-the-page/", "creators_grant": "/manage/creators/",
                    "creator_revoke": "/manage/creators/"}.get(endpoint, f"/manage/{world['campaign'].slug}/")
            assert resp["Location"].startswith(home), resp["Location"]
            errors = [str(m) for m in get_messages(resp.wsgi_request) if m.level_tag == "error"]
            assert errors == [], f"{endpoint} as {role}: the POST body was refused: {errors}"
    if resp.status_code == 403 and ep.api:
        assert resp.json()["detail"], resp.json()
    if ep.state:
        after = ep.state(world)
        assert (after != before) == allowed, f"{endpoint} as {role}: state {before!r} -> {after!r}"


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e not in (
    "index", "new", "new_create", "api_campaign_create", "creators", "creators_grant", "creator_revoke", "api_creators",
    "api_creators_add", "api_creator_revoke")])
@pytest.mark.parametrize("role", ["manager", "admin"])
def test_unknown_campaign_is_404(world, endpoint, role):
    ep = ENDPOINTS[endpoint]
    resp = _call(world, role, ep, UNKNOWN)
    assert resp.status_code == 404, f"{role} on {endpoint}: {resp.status_code}"
    if ep.api:
        assert resp.json()["error"] == "not_found"


def test_manager_of_another_campaign_does_not_see_this_one_on_the_index(world):
    resp = _client(world, "other_manager", api=False).get("/manage/")
    assert resp.status_code == 200
    slugs = [row["campaign"].slug for row in resp.context["rows"]]
    assert world["campaign"].slug not in slugs and len(slugs) == 1


def test_expert_of_another_campaign_cannot_resolve_here(world):
    other = CampaignFactory()
    outsider = world["users"]["outsider"]
    Membership.objects.filter(pk=membership_set(campaign=other, user=outsider).pk).update(can_adjudicate=True)
    resp = _call(world, "outsider", ENDPOINTS["api_resolve"], world["campaign"].slug)
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    assert _adjudication_status(world) == Adjudication.Status.OPEN


def test_expert_resolution_is_stored(world):
    resp = _call(world, "expert", ENDPOINTS["api_resolve"], world["campaign"].slug)
    assert resp.json() == {
        "solution": world["disputed"],
        "status": "resolved",
        "ratings": [1, 1, -1, None, None],
        "first_error_index": 2,
    }
    adj = Adjudication.objects.get(campaign=world["campaign"], solution_id=world["disputed"])
    assert adj.resolved_by == world["users"]["expert"]


@pytest.mark.parametrize("endpoint", ["review", "review_resolve", "api_resolve", "api_gold"])
@pytest.mark.parametrize("elsewhere", ["other_campaign", "no_campaign"])
def test_solution_endpoints_only_take_this_campaigns_solutions(world, endpoint, elsewhere):
    """A solution id that is not in this campaign is 404, and nothing is created for it here."""
    c = world["campaign"]
    if elsewhere == "other_campaign":
        foreign = TaskFactory(campaign=CampaignFactory(mode=Campaign.Mode.FIRST_ERROR)).solution
    else:
        foreign = SolutionFactory()
    ep = ENDPOINTS[endpoint]
    url = (
        ep.url(world, c.slug)
        .replace(f"/{world['disputed']}/", f"/{foreign.pk}/")
        .replace(f"/{world['plain_solution']}/", f"/{foreign.pk}/")
    )
    client = _client(world, "manager", ep.api)
    body = {"ratings": [1, -1]} if ep.api else {"step-0": "1", "step-1": "-1", "action": "resolve"}
    if ep.api:
        resp = getattr(client, ep.method)(url, body, format="json")
    elif ep.method == "get":
        resp = client.get(url)
    else:
        resp = client.post(url, body)
    assert resp.status_code == 404, (
        f"APP BUG: {ep.method.upper()} {url} as a manager of '{c.slug}' answered {resp.status_code} for solution "
        f"{foreign.pk}, which is not in the campaign ({elsewhere}); labeling/api/manage.py GoldView.put looks the "
        "solution up with Solution.objects.filter(pk=...) instead of within the campaign, so a manager can pull "
        "any campaign's solution into theirs as a gold item (and then read it on the review page)"
    )
    assert not Task.objects.filter(campaign=c, solution=foreign).exists()
    assert not GoldStepLabel.objects.filter(solution=foreign).exists()


# --------------------------------------------------------------------------- retrain: the lock answers 409


def test_retrain_while_a_run_is_live_is_409_for_managers(world):
    c = world["campaign"]
    first = _call(world, "manager", ENDPOINTS["api_retrain"], c.slug)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    again = _call(world, "admin", ENDPOINTS["api_retrain"], c.slug)
    assert again.status_code == 409
    assert again.json()["error"] == "conflict" and "already has a training run" in again.json()["detail"]
    assert TrainingRun.objects.filter(campaign=c).count() == 1

    # the HTML button redirects back to the model page with the reason
    resp = _call(world, "manager", ENDPOINTS["retrain"], c.slug)
    assert resp.status_code == 302 and resp["Location"] == f"/manage/{c.slug}/model/"
    errors = [str(m) for m in get_messages(resp.wsgi_request) if m.level_tag == "error"]
    assert len(errors) == 1 and "already has a training run" in errors[0]


@pytest.mark.parametrize("role", ["anonymous", "outsider", "annotator", "expert", "other_manager"])
def test_retrain_refuses_unauthorised_before_the_lock(world, role):
    c = world["campaign"]
    assert _call(world, "manager", ENDPOINTS["api_retrain"], c.slug).status_code == 202
    assert _call(world, role, ENDPOINTS["api_retrain"], c.slug).status_code == 403
    html = _call(world, role, ENDPOINTS["retrain"], c.slug)
    assert html.status_code == (302 if role == "anonymous" else 403)
    assert TrainingRun.objects.filter(campaign=c).count() == 1


def test_retrain_below_min_labels_is_a_clear_400_and_queues_nothing(world):
    """A young campaign (no config yet, few labels): refused with the reason, no failed run left behind."""
    c = world["campaign"]
    ActiveLearningConfig.objects.filter(campaign=c).delete()  # the world's lowers min_labels to 1
    client = APIClient()
    client.force_authenticate(world["manager"])
    resp = client.post(f"/api/manage/campaigns/{c.slug}/retrain/", {}, format="json")
    assert resp.status_code == 400, resp.content
    assert "trains from 20" in resp.json()["detail"]
    assert not TrainingRun.objects.filter(campaign=c).exists()


def test_post_only_pages_refuse_get(world):
    client = _client(world, "manager", api=False)
    for name in ("annotator_status", "adjudication_rescan", "retrain", "import", "export"):
        url = ENDPOINTS[name].url(world, world["campaign"].slug)
        assert client.get(url).status_code == 405, name

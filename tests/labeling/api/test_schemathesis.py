"""Property-based requests against our own OpenAPI schema (schemathesis, bounded).

For every operation, as an annotator and as a manager, schemathesis sends
valid and invalid requests built from the schema, through the real Django
app in-process. Every answer must be a non-5xx, with a status code and
content type the schema documents, and a body that matches the documented
schema. Path parameters point at a real campaign and real assignments, so
requests reach the services and not only the 404 for an unknown slug.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotate.wsgi import application
from labeling.models import Campaign, Membership
from labeling.services.assignments import assignment_next
from labeling.services.campaigns import membership_set
from tests.factories import CampaignFactory, SolutionFactory, TaskFactory, UserFactory
from tests.labeling.conftest import FIVE, label

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation and role: a bounded run (about 750 requests) that fits in CI; FUZZ_EXAMPLES=200 digs deeper.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


# The schema as /api/schema/ serves it, generated at collection (it needs no database); one test
# per operation. (Not schemathesis.pytest.from_fixture: its lazy loading breaks on pytest 9.)
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture
def in_test_transaction():
    # The raw WSGI app closes the database connection after each request, as a server should;
    # Django's test client switches that off so the test's transaction survives, and so do we.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, settings, in_test_transaction):
    settings.API_THROTTLE_USER = "100000/min"
    campaign = CampaignFactory(slug="fuzz", mode=Campaign.Mode.FIRST_ERROR, overlap=2, qc_rate=0)
    manager = UserFactory(username="fuzz-boss", is_staff=True)
    membership_set(campaign=campaign, user=manager, role=Membership.Role.MANAGER)
    annotator = UserFactory(username="fuzz-ann")
    membership_set(campaign=campaign, user=annotator)
    other = UserFactory(username="fuzz-ben")
    membership_set(campaign=campaign, user=other)
    tasks = [TaskFactory(campaign=campaign, solution=SolutionFactory(steps=FIVE)) for _ in range(8)]
    label(other, campaign, [1, -1])
    label(annotator, campaign, [1, 1, -1])  # a disagreement: an adjudication item
    held = assignment_next(user=annotator, campaign=campaign)
    return {"annotator": Token.objects.create(user=annotator).key, "manager": Token.objects.create(user=manager).key,
            "slug": campaign.slug, "assignment": held.pk, "solution": tasks[0].solution_id, "user_id": annotator.pk}


def _call(case, world, role):
    params = case.path_parameters or {}
    # Real objects, so the fuzzed bodies and queries reach the services.
    if "slug" in params:
        params["slug"] = world["slug"]
    if "id" in params and case.path.startswith("/api/assignments/"):
        params["id"] = world["assignment"]
    if "solution_id" in params:
        params["solution_id"] = world["solution"]
    if "user_id" in params:
        params["user_id"] = world["user_id"]
    response = case.call_and_validate(headers={"Authorization": f"Token {world[role]}"}, checks=CHECKS)
    # call_and_validate raises on a failed check; say the one that matters most here outright.
    assert response.status_code < 500, (case.method, case.path, response.status_code)
    return response


BOUNDED = settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=list(HealthCheck))
# Schemathesis runs its coverage cases (every field missing, at its bounds, of the wrong type: about 600
# for a large body) as explicit examples. They go where the role gets past the permission check: the
# labeling API for the annotator, the manager API for the manager. Elsewhere the role's answer is a
# documented 403 or 404 whatever the body says, and a bounded random run is enough to show it.
SAMPLED = settings(BOUNDED, phases=[Phase.generate])
MANAGE = r"^/api/manage/"
LABELING = schema.exclude(path_regex=MANAGE)
MANAGING = schema.include(path_regex=MANAGE)


@LABELING.parametrize()
@BOUNDED
def test_every_labeling_operation_answers_an_annotator_as_documented(case, world):
    _call(case, world, "annotator")


@MANAGING.parametrize()
@SAMPLED
def test_every_manager_operation_refuses_an_annotator_as_documented(case, world):
    response = _call(case, world, "annotator")
    assert response.status_code in (400, 403, 404), (case.method, case.path, response.status_code)


@MANAGING.parametrize()
@BOUNDED
def test_every_manager_operation_answers_a_manager_as_documented(case, world):
    _call(case, world, "manager")


@LABELING.parametrize()
@SAMPLED
def test_every_labeling_operation_answers_a_manager_as_documented(case, world):
    _call(case, world, "manager")

"""The adjudication queue, its resolution, and the adjudicated export."""

import orjson
import pytest

from labeling.errors import Forbidden, ValidationFailed
from labeling.models import Adjudication, GoldStepLabel, Membership, Task
from labeling.services.adjudication import adjudication_resolve, adjudications_sync
from labeling.services.exports import export_lines
from tests.factories import UserFactory, submitted_labels
from tests.labeling.conftest import label

pytestmark = pytest.mark.django_db


def _two_labels(world, first, second):
    c = world["campaign"]
    ann, ben, _ = world["annotators"]
    a = label(ann, c, first)
    b = label(ben, c, second)
    assert a.solution_id == b.solution_id  # both got the top-priority task
    return a.solution_id


def test_disagreement_on_the_first_error_is_queued_on_submit(dash_world):
    sid = _two_labels(dash_world, [1, 1, -1], [1, 1, 1, 1, 1])
    adj = Adjudication.objects.get(campaign=dash_world["campaign"], solution_id=sid)
    assert adj.status == "open" and adj.label_count == 2 and adj.first_errors == [2, None]


def test_agreement_is_not_queued(dash_world):
    _two_labels(dash_world, [1, 1, -1], [1, 0, -1])  # same first error, different neutral: no adjudication
    assert not Adjudication.objects.exists()


def test_sync_finds_imported_disagreements_once(dash_world):
    c = dash_world["campaign"]
    task = dash_world["tasks"][3]
    ann, ben, cat = dash_world["annotators"]
    submitted_labels(task, ann, [1, -1])
    submitted_labels(task, ben, [1, 1, -1])
    from labeling.services.summaries import assignments_summarize

    assignments_summarize(assignment_ids=list(task.assignments.values_list("pk", flat=True)))
    assert adjudications_sync(campaign=c) == 1
    assert adjudications_sync(campaign=c) == 0
    submitted_labels(task, cat, [-1])
    assignments_summarize(assignment_ids=list(task.assignments.values_list("pk", flat=True)))
    adjudications_sync(campaign=c)
    adj = Adjudication.objects.get(solution_id=task.solution_id)
    assert adj.label_count == 3 and adj.first_errors == [0, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_rescan_outside_any_transaction_refreshes_an_open_item(dash_world):
    # The dashboard's Rescan button calls this with no transaction around it: its row locks
    # raised TransactionManagementError (a 500) whenever a disagreement was already open.
    from django.db import connection

    sid = _two_labels(dash_world, [1, 1, -1], [1, 1, 1, 1, 1])
    assert not connection.in_atomic_block
    assert adjudications_sync(campaign=dash_world["campaign"]) == 0
    assert Adjudication.objects.get(solution_id=sid).status == "open"


def test_resolve_checks_who_and_what(dash_world):
    c = dash_world["campaign"]
    sid = _two_labels(dash_world, [1, 1, -1], [1, 1, 1, 1, 1])
    ann = dash_world["annotators"][0]
    with pytest.raises(Forbidden):
        adjudication_resolve(campaign=c, solution_id=sid, user=ann, ratings=[1, 1, -1])
    with pytest.raises(ValidationFailed, match="first error"):
        adjudication_resolve(campaign=c, solution_id=sid, user=dash_world["manager"], ratings=[1, -1, 1])
    expert = UserFactory()
    Membership.objects.create(campaign=c, user=expert, can_adjudicate=True)
    adj = adjudication_resolve(campaign=c, solution_id=sid, user=expert, ratings=[1, 1, -1], note="step 3 is wrong",
                               as_gold=True)
    assert adj.status == "resolved" and adj.ratings == [1, 1, -1, None, None] and adj.first_error_index == 2
    assert Task.objects.get(campaign=c, solution_id=sid).is_gold
    assert GoldStepLabel.objects.filter(solution_id=sid).count() == 3


def _rows(c, fmt, aggregate):
    return [orjson.loads(line) for line in export_lines(campaign=c, fmt=fmt, aggregate=aggregate)]


def test_export_aggregation_adjudicated_else_majority_else_single(dash_world):
    c = dash_world["campaign"]
    ann, ben, cat = dash_world["annotators"]
    disputed = _two_labels(dash_world, [1, 1, -1], [1, 1, 1, 1, 1])
    single = label(cat, c, [1, -1]).solution_id  # cat got the next task alone
    assert single != disputed
    # Majority of a 1-1 tie goes to the lower rating: step 3 negative.
    majority = {r["id"]: r["label"] for r in _rows(c, "processbench", "majority")}
    assert majority[f"{c.slug}-{disputed}"] == 2 and majority[f"{c.slug}-{single}"] == 1
    adjudication_resolve(campaign=c, solution_id=disputed, user=dash_world["manager"], ratings=[1, 1, 1, 1, 1])
    adjudicated = {r["id"]: r["label"] for r in _rows(c, "processbench", "adjudicated")}
    assert adjudicated == {f"{c.slug}-{disputed}": -1, f"{c.slug}-{single}": 1}
    trl = _rows(c, "trl", "adjudicated")
    assert sorted(len(r["labels"]) for r in trl) == [2, 5] and all(
        all(r["labels"]) for r in trl if len(r["labels"]) == 5
    )

"""Agreement snapshots: SQL-aggregated figures checked against an independent computation."""

import random

import krippendorff
import numpy as np
import pytest

from labeling.models import Campaign, Membership
from labeling.quality.metrics import cohen_kappa
from labeling.services.agreement import agreement_compute, agreement_refresh, agreement_refresh_due
from labeling.services.summaries import assignments_summarize
from tests.factories import CampaignFactory, MembershipFactory, SolutionFactory, TaskFactory, submitted_labels

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled():
    """12 solutions x 6 steps, 3 coders who each skip some solutions, first-error style ratings."""
    rng = random.Random(7)
    campaign = CampaignFactory(mode=Campaign.Mode.ALL_STEPS, overlap=3)
    coders = [MembershipFactory(campaign=campaign, role=Membership.Role.ANNOTATOR).user for _ in range(3)]
    truth = []
    matrix = {c.pk: {} for c in coders}  # coder -> {(solution, step): rating}
    fe_by = {c.pk: {} for c in coders}
    for _s in range(12):
        task = TaskFactory(campaign=campaign, solution=SolutionFactory(steps=[f"s{i}" for i in range(6)]))
        err = rng.choice([None, None, None, 1, 2, 3, 4, 5])
        truth.append(err)
        for coder in coders:
            if rng.random() < 0.2:
                continue
            mine = err if rng.random() < 0.7 else rng.choice([None, None, 0, 1, 2, 3, 4, 5])
            n = 6 if mine is None else mine + 1
            ratings = [(-1 if i == mine else rng.choice([1, 1, 1, 0])) for i in range(n)]
            submitted_labels(task, coder, ratings)
            for i, r in enumerate(ratings):
                matrix[coder.pk][(task.solution_id, i)] = r
            fe_by[coder.pk][task.solution_id] = mine
    from labeling.models import Assignment

    ids = list(Assignment.objects.filter(campaign=campaign).values_list("pk", flat=True))
    assignments_summarize(assignment_ids=ids)
    return campaign, coders, matrix, fe_by


def _reliability(matrix, coders):
    units = sorted({u for c in coders for u in matrix[c.pk]})
    return np.array([[matrix[c.pk].get(u, np.nan) for u in units] for c in coders], dtype=float)


def test_campaign_alpha_matches_the_krippendorff_package(labeled):
    campaign, coders, matrix, _ = labeled
    data = agreement_compute(campaign=campaign)
    expected = krippendorff.alpha(reliability_data=_reliability(matrix, coders), level_of_measurement="ordinal",
                                  value_domain=[-1, 0, 1])
    assert data["campaign"]["alpha"] == pytest.approx(expected, abs=1e-9)
    multi = sum(1 for u in {u for c in coders for u in matrix[c.pk]} if sum(u in matrix[c.pk] for c in coders) >= 2)
    assert data["campaign"]["step_units"] == multi


def test_pair_alpha_and_kappa_match_independent_computations(labeled):
    campaign, coders, matrix, fe_by = labeled
    data = agreement_compute(campaign=campaign)
    a, b = sorted(coders, key=lambda u: u.pk)[:2]
    pair = next(p for p in data["pairs"] if (p["a"], p["b"]) == (a.pk, b.pk))
    expected = krippendorff.alpha(reliability_data=_reliability(matrix, [a, b]), level_of_measurement="ordinal",
                                  value_domain=[-1, 0, 1])
    assert pair["alpha"] == pytest.approx(expected, abs=1e-9)
    shared = sorted(set(fe_by[a.pk]) & set(fe_by[b.pk]))
    assert pair["solution_pairs"] == len(shared)
    exact = sum(fe_by[a.pk][s] == fe_by[b.pk][s] for s in shared) / len(shared)
    assert pair["first_error_exact"] == pytest.approx(exact)
    # Kappa by hand from the 2x2 table (independent of the SQL path).
    table = {}
    for s in shared:
        key = (fe_by[a.pk][s] is not None, fe_by[b.pk][s] is not None)
        table[key] = table.get(key, 0) + 1
    n = len(shared)
    po = (table.get((True, True), 0) + table.get((False, False), 0)) / n
    pa = (table.get((True, True), 0) + table.get((True, False), 0)) / n
    pb = (table.get((True, True), 0) + table.get((False, True), 0)) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    assert pe < 1, "fixture must mix solutions with and without errors"
    assert pair["kappa_has_error"] == pytest.approx((po - pe) / (1 - pe))
    assert pair["kappa_has_error"] == pytest.approx(cohen_kappa(table))
    # Per-annotator alpha pools the annotator's pairs with every peer.
    assert set(data["annotators"]) == {str(c.pk) for c in coders}


def test_snapshots_refresh_only_when_labels_changed(labeled):
    campaign, *_ = labeled
    assert agreement_refresh_due(min_age_seconds=0) == [campaign.pk]
    assert agreement_refresh_due(min_age_seconds=0) == []
    snap = agreement_refresh(campaign=campaign)
    assert snap.assignment_count > 0 and snap.data["campaign"]["alpha"] is not None

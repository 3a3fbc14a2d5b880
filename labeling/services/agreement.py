"""Inter-annotator agreement snapshots (Krippendorff's alpha, first-error agreement, Cohen's kappa).

Agreement needs every pair of labels on the same step, a self-join too slow
for a page render at a million labels. A worker computes it here, all
aggregation in SQL, and stores a snapshot the dashboard reads with its age.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from labeling.models import AgreementSnapshot, Assignment, Campaign, OutboxMessage, StepLabel
from labeling.quality.metrics import (
    alpha_from_pair_counts,
    alpha_ordinal,
    cohen_kappa,
    coincidence_from_units,
    first_error_agreement,
)
from labeling.services.outbox import outbox_enqueue

REFRESH_TASK = "labeling.tasks.refresh_campaign_agreement"

# Units (steps) with >= 2 ratings, collapsed to their rating pattern: a
# campaign has at most a few hundred distinct patterns whatever its size.
UNIT_PATTERNS_SQL = """
SELECT neg, neu, pos, count(*) FROM (
  SELECT count(*) FILTER (WHERE l.rating = -1) AS neg,
         count(*) FILTER (WHERE l.rating = 0) AS neu,
         count(*) FILTER (WHERE l.rating = 1) AS pos
  FROM {steplabel} l JOIN {assignment} a ON a.id = l.assignment_id
  WHERE a.campaign_id = %s AND a.status = 'submitted' AND l.rating IS NOT NULL
  GROUP BY l.step_id HAVING count(*) >= 2
) u GROUP BY neg, neu, pos
"""

STEP_PAIRS_SQL = """
SELECT a1.annotator_id, a2.annotator_id, l1.rating, l2.rating, count(*)
FROM {steplabel} l1
JOIN {assignment} a1 ON a1.id = l1.assignment_id
JOIN {steplabel} l2 ON l2.step_id = l1.step_id AND l2.assignment_id <> l1.assignment_id
JOIN {assignment} a2 ON a2.id = l2.assignment_id
WHERE a1.campaign_id = %s AND a2.campaign_id = %s AND a1.status = 'submitted' AND a2.status = 'submitted'
  AND a1.annotator_id < a2.annotator_id AND l1.rating IS NOT NULL AND l2.rating IS NOT NULL
GROUP BY 1, 2, 3, 4
"""

# Solution-level pairs: two scored labelings of the same task and segmentation (split and merge).
SOLUTION_PAIRS_SQL = """
SELECT a1.annotator_id, a2.annotator_id, a1.first_error_index, a2.first_error_index, count(*)
FROM {assignment} a1 JOIN {assignment} a2 ON a2.task_id = a1.task_id AND a2.solution_id = a1.solution_id
  AND a1.annotator_id < a2.annotator_id
WHERE a1.campaign_id = %s AND a1.status = 'submitted' AND a2.status = 'submitted'
  AND a1.finish_reason IN ('solution', 'found_error') AND a2.finish_reason IN ('solution', 'found_error')
GROUP BY 1, 2, 3, 4
"""


def _rows(sql: str, params: list) -> list[tuple]:
    sql = sql.format(steplabel=StepLabel._meta.db_table, assignment=Assignment._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _campaign_alpha(campaign_id: int) -> tuple[float | None, int]:
    total = [[0.0] * 3 for _ in range(3)]
    units = 0
    for neg, neu, pos, n in _rows(UNIT_PATTERNS_SQL, [campaign_id]):
        # Coincidences add up over units, so a pattern seen n times counts n times.
        one = coincidence_from_units([{-1: neg, 0: neu, 1: pos}])
        for i in range(3):
            for j in range(3):
                total[i][j] += n * one[i][j]
        units += n
    return alpha_ordinal(total), units


def _solution_stats(pairs: list[tuple]) -> dict:
    fe = first_error_agreement([(x, y) for x, y, n in pairs for _ in range(n)])
    kappa_counts: dict[tuple[bool, bool], int] = defaultdict(int)
    for x, y, n in pairs:
        kappa_counts[(x is not None, y is not None)] += n
    return {
        "solution_pairs": fe["pairs"], "first_error_exact": fe["exact"], "first_error_within_one": fe["within_one"],
        "kappa_has_error": cohen_kappa(kappa_counts) if kappa_counts else None,
    }


def agreement_compute(*, campaign: Campaign) -> dict:
    """Agreement figures of a campaign: overall, per annotator (against their peers) and per pair.

    Per-annotator alpha pools all the annotator's step pairs with any peer;
    the campaign alpha uses every step rated by two or more annotators.
    """
    alpha, units = _campaign_alpha(campaign.pk)
    step_pairs: dict[tuple[int, int], dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
    for u1, u2, r1, r2, n in _rows(STEP_PAIRS_SQL, [campaign.pk, campaign.pk]):
        step_pairs[(u1, u2)][(r1, r2)] += n
    sol_pairs: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for u1, u2, f1, f2, n in _rows(SOLUTION_PAIRS_SQL, [campaign.pk]):
        sol_pairs[(u1, u2)].append((f1, f2, n))

    per_user_steps: dict[int, dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
    per_user_sols: dict[int, list[tuple]] = defaultdict(list)
    pairs_out = []
    for key in set(step_pairs) | set(sol_pairs):
        u1, u2 = key
        counts = step_pairs.get(key, {})
        for (r1, r2), n in counts.items():
            per_user_steps[u1][(r1, r2)] += n
            per_user_steps[u2][(r2, r1)] += n
        sols = sol_pairs.get(key, [])
        per_user_sols[u1].extend(sols)
        per_user_sols[u2].extend((f2, f1, n) for f1, f2, n in sols)
        pairs_out.append({
            "a": u1, "b": u2, "step_units": sum(counts.values()),
            "alpha": alpha_from_pair_counts(counts) if counts else None, **_solution_stats(sols),
        })
    pairs_out.sort(key=lambda p: -p["step_units"])
    users = {}
    for uid in set(per_user_steps) | set(per_user_sols):
        counts = per_user_steps.get(uid, {})
        users[str(uid)] = {
            "step_units": sum(counts.values()), "alpha": alpha_from_pair_counts(counts) if counts else None,
            **_solution_stats(per_user_sols.get(uid, [])),
        }
    all_sols = [s for sols in sol_pairs.values() for s in sols]
    return {
        "campaign": {"alpha": alpha, "step_units": units, **_solution_stats(all_sols)},
        "annotators": users,
        # The dashboard lists the best-covered pairs; thousands of thin pairs say little.
        "pairs": pairs_out[:200],
        "pair_count": len(pairs_out),
    }


@transaction.atomic
def agreement_refresh(*, campaign: Campaign) -> AgreementSnapshot:
    """Compute and store a new agreement snapshot (older ones beyond the last 20 are dropped)."""
    started = time.monotonic()
    count = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED).count()
    data = agreement_compute(campaign=campaign)
    snap = AgreementSnapshot.objects.create(
        campaign=campaign, computed_at=timezone.now(), assignment_count=count, data=data,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    keep = AgreementSnapshot.objects.filter(campaign=campaign).order_by("-computed_at").values("pk")[:20]
    AgreementSnapshot.objects.filter(campaign=campaign).exclude(pk__in=keep).delete()
    return snap


def _latest_and_submitted(campaign: Campaign) -> tuple[AgreementSnapshot | None, int]:
    last = AgreementSnapshot.objects.filter(campaign=campaign).order_by("-computed_at").first()
    return last, Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED).count()


def agreement_refresh_due(*, min_age_seconds: int = 60) -> list[int]:
    """Refresh every active campaign whose labels changed since its last snapshot; returns their ids.

    A snapshot younger than `min_age_seconds` is kept even if labels arrived,
    so a busy campaign is recomputed at most once per interval.
    """
    refreshed = []
    for campaign in Campaign.objects.filter(status=Campaign.Status.ACTIVE):
        last, count = _latest_and_submitted(campaign)
        if last is not None and (
            last.assignment_count == count or last.computed_at > timezone.now() - timedelta(seconds=min_age_seconds)
        ):
            continue
        agreement_refresh(campaign=campaign)
        refreshed.append(campaign.pk)
    return refreshed


@transaction.atomic
def agreement_refresh_request(*, campaign: Campaign) -> bool:
    """Have a worker recompute `campaign`'s agreement now rather than at beat's next pass.

    Enqueued through the outbox, so it is sent once this transaction commits
    (and later, if the broker is down). Returns False, enqueuing nothing, when
    the latest snapshot already counts every submitted label; a request while
    one is still waiting to be sent is folded into it (True: it is coming).
    """
    last, count = _latest_and_submitted(campaign)
    if last is not None and last.assignment_count == count:
        return False
    ref = f"agreement:{campaign.pk}"
    if not OutboxMessage.objects.filter(ref=ref, sent_at__isnull=True).exists():
        outbox_enqueue(task=REFRESH_TASK, args=[campaign.pk], ref=ref)
    return True

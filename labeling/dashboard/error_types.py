"""The error-type report: what annotators say is wrong with negative steps, per annotator and against gold.

Counts are over final labels of submitted labelings in the campaign with a
negative rating; one negative step may carry several types, so type counts
add up to more than the typed steps.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import connection

from labeling.models import Assignment, Campaign, GoldStepLabel, StepLabel

User = get_user_model()

_TABLES = {"label": StepLabel._meta.db_table, "assignment": Assignment._meta.db_table,
           "gold": GoldStepLabel._meta.db_table}
_WHERE = "a.campaign_id = %s AND a.status = 'submitted' AND l.final AND l.rating = -1"

PER_ANNOTATOR = """
SELECT a.annotator_id, count(*), count(*) FILTER (WHERE cardinality(l.error_types) > 0),
       count(*) FILTER (WHERE l.critique <> '')
FROM {label} l JOIN {assignment} a ON a.id = l.assignment_id
WHERE """ + _WHERE + """ GROUP BY a.annotator_id
"""
PER_TYPE = """
SELECT a.annotator_id, t.key, count(*)
FROM {label} l JOIN {assignment} a ON a.id = l.assignment_id CROSS JOIN LATERAL unnest(l.error_types) AS t(key)
WHERE """ + _WHERE + """ GROUP BY a.annotator_id, t.key
"""
# Gold steps that carry reference types, against the same step's label by an annotator who
# also called it negative: gold items are a small share of a campaign, so rows come back.
AGAINST_GOLD = """
SELECT a.annotator_id, l.error_types, g.error_types
FROM {label} l JOIN {assignment} a ON a.id = l.assignment_id JOIN {gold} g ON g.step_id = l.step_id
WHERE """ + _WHERE + """ AND g.rating = -1 AND cardinality(g.error_types) > 0
"""


def _rows(sql: str, campaign: Campaign) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql.format(**_TABLES), [campaign.pk])
        return cur.fetchall()


def _jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def error_type_report(*, campaign: Campaign) -> dict:
    """Type distribution over the campaign and per annotator, and agreement with gold types.

    Against gold: over negative gold steps with reference types that the
    annotator also rated negative, `match` is the share where their types
    share at least one with gold and `jaccard` the mean overlap (|A∩G| / |A∪G|,
    an annotator giving no type scores 0 there).
    """
    taxonomy = [{"key": t["key"], "label": t["label"]} for t in campaign.error_taxonomy or []]
    per_annotator = {uid: {"negatives": n, "typed": typed, "critiqued": crit}
                     for uid, n, typed, crit in _rows(PER_ANNOTATOR, campaign)}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for uid, key, n in _rows(PER_TYPE, campaign):
        counts[uid][key] = n
        totals[key] += n
    gold: dict[int, list[tuple[list[str], list[str]]]] = defaultdict(list)
    for uid, mine, ref in _rows(AGAINST_GOLD, campaign):
        gold[uid].append((mine, ref))
    known = [t["key"] for t in taxonomy]
    # A key no longer in the taxonomy (it was edited) is still reported, after the known ones.
    keys = known + sorted(k for k in totals if k not in known)
    labels = {t["key"]: t["label"] for t in taxonomy}
    typed_total = sum(v["typed"] for v in per_annotator.values())
    names = dict(User.objects.filter(pk__in=set(per_annotator) | set(gold)).values_list("pk", "username"))

    def against(pairs):
        if not pairs:
            return {"compared": 0, "match": None, "jaccard": None}
        return {"compared": len(pairs), "match": sum(1 for m, r in pairs if set(m) & set(r)) / len(pairs),
                "jaccard": sum(_jaccard(m, r) for m, r in pairs) / len(pairs)}

    annotators = []
    for uid in sorted(set(per_annotator) | set(gold), key=lambda u: names.get(u, "")):
        row = per_annotator.get(uid, {"negatives": 0, "typed": 0, "critiqued": 0})
        annotators.append({
            "user_id": uid, "username": names.get(uid, f"user-{uid}"), **row,
            "counts": [counts[uid].get(k, 0) for k in keys], "gold": against(gold.get(uid, [])),
        })
    return {
        "types": [{"key": k, "label": labels.get(k, k), "count": totals.get(k, 0),
                   "share": totals.get(k, 0) / typed_total if typed_total else None,
                   "in_taxonomy": k in labels} for k in keys],
        "negatives": sum(v["negatives"] for v in per_annotator.values()),
        "typed": typed_total,
        "critiqued": sum(v["critiqued"] for v in per_annotator.values()),
        "annotators": annotators,
        "gold": against([p for pairs in gold.values() for p in pairs]),
    }

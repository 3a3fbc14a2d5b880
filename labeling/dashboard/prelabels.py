"""The pre-label bias report: do suggested ratings move the labels?

The campaign's normal tasks fall in two arms, fixed per task when leased:
suggestions shown, and the control, labeled unaided though its suggestions
are stored (services.prelabels). So the same question is asked of both:
how often does the final rating equal the suggestion? Shown minus control is
how far the hints pull labels towards themselves, beyond what annotators
would have said anyway. Gold items are never pre-labeled: annotators'
accuracy on gold is unaided by design, and the suggestions' own accuracy on
the same gold steps says how good the hints are. Agreement between
annotators is counted per arm over pairs of final labels of the same step
(so only labelings of the same segmentation meet).

Counts are over final labels of submitted native labelings; a step counts
where it was rated and had a suggestion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection

from labeling.models import Assignment, Campaign, GoldStepLabel, StepLabel

User = get_user_model()

_TABLES = {"label": StepLabel._meta.db_table, "assignment": Assignment._meta.db_table,
           "gold": GoldStepLabel._meta.db_table}
_BASE = ("a.campaign_id = %s AND a.status = 'submitted' AND a.source = 'native' AND l.final "
         "AND l.rating IS NOT NULL")
_NORMAL = "NOT a.is_quality_control AND NOT a.is_screening AND a.prelabel_shown IS NOT NULL"

PER_ARM = """
SELECT a.annotator_id, a.prelabel_shown, l.hint, count(*), count(*) FILTER (WHERE l.rating = l.hint)
FROM {label} l JOIN {assignment} a ON a.id = l.assignment_id
WHERE """ + _BASE + " AND " + _NORMAL + """ AND l.hint IS NOT NULL
GROUP BY a.annotator_id, a.prelabel_shown, l.hint
"""
ASSIGNMENTS = """
SELECT a.prelabel_shown, count(*) FROM {assignment} a
WHERE a.campaign_id = %s AND a.status = 'submitted' AND a.source = 'native' AND """ + _NORMAL + """
GROUP BY a.prelabel_shown
"""
PAIRS = """
SELECT a1.prelabel_shown, count(*), count(*) FILTER (WHERE l1.rating = l2.rating)
FROM {label} l1 JOIN {assignment} a1 ON a1.id = l1.assignment_id
JOIN {label} l2 ON l2.step_id = l1.step_id AND l2.assignment_id > l1.assignment_id
JOIN {assignment} a2 ON a2.id = l2.assignment_id
WHERE """ + _BASE.replace("a.", "a1.").replace("l.", "l1.") + " AND " + _NORMAL.replace("a.", "a1.") + """
  AND a2.campaign_id = a1.campaign_id AND a2.status = 'submitted' AND a2.source = 'native' AND l2.final
  AND l2.rating IS NOT NULL AND a2.prelabel_shown = a1.prelabel_shown
GROUP BY a1.prelabel_shown
"""
# Gold labelings: annotators against the reference, and the suggestion the step would have had.
GOLD = """
SELECT a.annotator_id, count(*), count(*) FILTER (WHERE l.rating = g.rating),
       count(*) FILTER (WHERE l.hint IS NOT NULL AND l.rating = g.rating), count(*) FILTER (WHERE l.hint IS NOT NULL)
FROM {label} l JOIN {assignment} a ON a.id = l.assignment_id JOIN {gold} g ON g.step_id = l.step_id
WHERE """ + _BASE + """ AND a.is_quality_control
GROUP BY a.annotator_id
"""
# The suggestions themselves, once per gold step (however many annotators labeled it).
GOLD_SUGGESTIONS = """
SELECT count(DISTINCT l.step_id), count(DISTINCT l.step_id) FILTER (WHERE l.hint = g.rating)
FROM {label} l JOIN {assignment} a ON a.id = l.assignment_id JOIN {gold} g ON g.step_id = l.step_id
WHERE """ + _BASE + """ AND a.is_quality_control AND l.hint IS NOT NULL
"""


def _rows(sql: str, campaign: Campaign) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql.format(**_TABLES), [campaign.pk])
        return cur.fetchall()


@dataclass
class Share:
    hits: int = 0
    n: int = 0

    def add(self, hits: int, n: int) -> None:
        self.hits += hits
        self.n += n

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    def as_dict(self) -> dict:
        return {"n": self.n, "hits": self.hits, "rate": None if self.value is None else round(self.value, 4)}


def _gap(a: Share, b: Share) -> float | None:
    return None if a.value is None or b.value is None else round(a.value - b.value, 4)


def prelabel_report(*, campaign: Campaign) -> dict:
    """Agreement with the suggestion (shown against control), override rate by suggested rating,
    inter-annotator agreement per arm, and accuracy on gold of annotators and of the suggestions.

    `pull` is the shown arm's agreement with the suggestion minus the control's: near 0 the hints
    do not move labels; large and positive, annotators follow them more than their own reading of
    the same kind of task would.
    """
    arms = {True: Share(), False: Share()}
    by_hint = {True: defaultdict(Share), False: defaultdict(Share)}
    per_user: dict[int, dict] = defaultdict(lambda: {"shown": Share(), "control": Share(), "gold": Share()})
    for uid, shown, hint, n, agree in _rows(PER_ARM, campaign):
        arms[shown].add(agree, n)
        by_hint[shown][hint].add(agree, n)
        per_user[uid]["shown" if shown else "control"].add(agree, n)
    assignments = {shown: n for shown, n in _rows(ASSIGNMENTS, campaign)}
    pairs = {True: Share(), False: Share()}
    for shown, n, agree in _rows(PAIRS, campaign):
        pairs[shown].add(agree, n)
    annot_gold, hint_gold, annot_gold_hinted = Share(), Share(), Share()
    for uid, n, match, match_hinted, hinted in _rows(GOLD, campaign):
        annot_gold.add(match, n)
        annot_gold_hinted.add(match_hinted, hinted)
        per_user[uid]["gold"].add(match, n)
    for steps, hits in _rows(GOLD_SUGGESTIONS, campaign):
        hint_gold.add(hits, steps)
    names = dict(User.objects.filter(pk__in=per_user).values_list("pk", "username"))
    overrides = Share(arms[True].n - arms[True].hits, arms[True].n)

    def hint_rows(shown: bool) -> list[dict]:
        rows = []
        for h in (1, 0, -1):
            share = by_hint[shown][h]
            if share.n:
                rows.append({"suggested": h, **share.as_dict(), "overridden": share.n - share.hits})
        return rows

    return {
        "setting": campaign.prelabels,
        "share": campaign.prelabel_share,
        "assignments": {"shown": assignments.get(True, 0), "control": assignments.get(False, 0)},
        "agreement_with_suggestion": {"shown": arms[True].as_dict(), "control": arms[False].as_dict(),
                                      "pull": _gap(arms[True], arms[False])},
        "override": {**overrides.as_dict(), "by_suggestion": hint_rows(True),
                     "control_by_suggestion": hint_rows(False)},
        "inter_annotator": {"shown": pairs[True].as_dict(), "control": pairs[False].as_dict(),
                            "gap": _gap(pairs[True], pairs[False])},
        "gold": {"annotators": annot_gold.as_dict(), "suggestions": hint_gold.as_dict(),
                 "annotators_where_suggested": annot_gold_hinted.as_dict()},
        "annotators": sorted(
            ({"user_id": uid, "username": names.get(uid, str(uid)),
              "shown": v["shown"].as_dict(), "control": v["control"].as_dict(),
              "pull": _gap(v["shown"], v["control"]), "gold": v["gold"].as_dict()}
             for uid, v in per_user.items()),
            key=lambda r: r["username"]),
    }

"""The audit trail of a campaign, read from django-pghistory's event tables.

Triggers record, with the request's user and URL: changes to submitted step
labels (the row before and after), gold labels set and removed, adjudications,
memberships (role, status, expert, rate) and the campaign's settings. This
module turns those rows into one time-ordered list of changes, each with what
changed from what to what.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model

from labeling.errors import ValidationFailed
from labeling.models import Campaign, Task

PGH = {"pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context"}
SKIP = {"updated_at", "labeled_at", "created_at"}  # bookkeeping, not a change anyone made


def _model(name: str):
    return apps.get_model("labeling", name)


def _row(event) -> dict:
    out = {}
    for f in event._meta.fields:
        if f.name in PGH:
            continue
        value = getattr(event, f.attname)
        plain = value is None or isinstance(value, bool | int | float | list | dict | str)
        out[f.name] = value if plain else str(value)
    return out


def _diff(before: dict | None, after: dict) -> dict:
    if before is None:
        return {k: [None, v] for k, v in after.items() if k not in SKIP and v not in (None, "", [], {})}
    return {k: [before.get(k), v] for k, v in after.items() if k not in SKIP and before.get(k) != v}


def event_actors(events) -> dict[int, tuple[str | None, str | None]]:
    """Who made each pghistory event and from which URL (its request context), by pgh_id; one user query."""
    users = {}
    ids = {e.pgh_context.metadata.get("user") for e in events if e.pgh_context_id and e.pgh_context}
    names = dict(get_user_model().objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "username"))
    for e in events:
        meta = e.pgh_context.metadata if e.pgh_context_id and e.pgh_context else {}
        users[e.pgh_id] = (names.get(meta.get("user")), meta.get("url"))
    return users


def campaign_history(*, campaign: Campaign, solution_id: int | None = None, annotator_id: int | None = None,
                     limit: int = 200) -> list[dict]:
    """Changes in the campaign, newest first; optionally only one solution's or one annotator's."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be between 1 and 1000")
    solutions = Task.objects.filter(campaign=campaign).values("solution_id")
    queries = {
        "StepLabelEvent": _model("StepLabelEvent").objects.filter(assignment__campaign_id=campaign.pk),
        "GoldStepLabelEvent": _model("GoldStepLabelEvent").objects.filter(solution_id__in=solutions),
        "AdjudicationEvent": _model("AdjudicationEvent").objects.filter(campaign_id=campaign.pk),
        "MembershipEvent": _model("MembershipEvent").objects.filter(campaign_id=campaign.pk),
        "CampaignEvent": _model("CampaignEvent").objects.filter(pgh_obj_id=campaign.pk),
    }
    if solution_id is not None:
        by_solution = {"StepLabelEvent": {"assignment__solution_id": solution_id},
                       "GoldStepLabelEvent": {"solution_id": solution_id},
                       "AdjudicationEvent": {"solution_id": solution_id}}
        queries = {k: q.filter(**by_solution[k]) for k, q in queries.items() if k in by_solution}
    if annotator_id is not None:
        # Their labels and membership, and what they did as an expert or manager.
        by_person = {"StepLabelEvent": {"assignment__annotator_id": annotator_id},
                     "MembershipEvent": {"user_id": annotator_id},
                     "AdjudicationEvent": {"resolved_by_id": annotator_id},
                     "GoldStepLabelEvent": {"created_by_id": annotator_id}}
        queries = {k: q.filter(**by_person[k]) for k, q in queries.items() if k in by_person}
    out: list[dict] = []
    for name, qs in queries.items():
        events = list(qs.select_related("pgh_context").order_by("pgh_obj_id", "pgh_id"))
        who = event_actors(events)
        last: dict = {}
        # One update of a submitted label stores two rows (before and after) with the same time and context.
        halves: dict = {}
        for e in events:
            if e.pgh_label in ("label.before", "label.after"):
                halves.setdefault((e.pgh_obj_id, e.pgh_created_at, e.pgh_context_id), {})[e.pgh_label] = e
        for (obj, at, _), pair in halves.items():
            if "label.after" not in pair:
                continue
            after = pair["label.after"]
            before = _row(pair["label.before"]) if "label.before" in pair else None
            row = _row(after)
            by, via = who[after.pgh_id]
            out.append({"at": at.isoformat(), "event": after.pgh_id, "by": by, "via": via, "what": "StepLabel",
                        "object": obj,
                        "change": "changed", "before": before, "after": row, "diff": _diff(before, row),
                        "solution": None, "assignment": row.get("assignment")})
        for e in events:
            if e.pgh_label in ("label.before", "label.after"):
                continue
            row = _row(e)
            by, via = who[e.pgh_id]
            base = {"at": e.pgh_created_at.isoformat(), "event": e.pgh_id, "by": by, "via": via,
                    "what": name[: -len("Event")], "object": e.pgh_obj_id}
            kind = "removed" if e.pgh_label.endswith("removed") or e.pgh_label.endswith("deleted") else (
                "created" if e.pgh_obj_id not in last else "changed")
            before = last.get(e.pgh_obj_id)
            out.append({**base, "change": kind, "before": before, "after": None if kind == "removed" else row,
                        "diff": {} if kind == "removed" else _diff(before, row),
                        "solution": row.get("solution")})
            last[e.pgh_obj_id] = row
    # changes that changed nothing a person set (a settings save of the same values) are left out
    out = [c for c in out if c["change"] == "removed" or c["diff"]]
    # Newest first; within one transaction (one time) the later event of a table first.
    out.sort(key=lambda c: (c["at"], c["event"]), reverse=True)
    return out[:limit]

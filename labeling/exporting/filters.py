"""Which labelings an export includes: one parsed, validated value shared by the CLI, the page and the API.

Every value arrives as text (a command-line option, a form field, a query parameter); parsing
turns it into ExportFilters or raises ValidationFailed naming the parameter, so a typo is a
clear 400 rather than an export that silently includes everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from labeling.errors import ValidationFailed
from labeling.models import Assignment

FINISH_REASONS = tuple(Assignment.FinishReason.values)
INCLUDE = ("include", "exclude", "only")
LIST_PARAMS = ("annotator", "annotators", "generation", "generations", "finish_reason", "finish_reasons")


def params_from_querydict(qd) -> dict:
    """A Django QueryDict (GET or POST) as the parsers read it: lists for the repeatable parameters."""
    return {k: (qd.getlist(k) if k in LIST_PARAMS else qd.get(k)) for k in qd}


@dataclass(frozen=True)
class ExportFilters:
    """submitted_after/before: submitted-at range (after inclusive, before exclusive);
    annotators: usernames or labeler ids (PRM800K UUIDs, imported ids); generations: the queue
    generation the task was served from; gold / qc: labelings of gold items, and of
    quality-control or screening questions, included (default), excluded or alone;
    finish_reasons: only labelings that finished so."""

    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    annotators: tuple[str, ...] = ()
    generations: tuple[int, ...] = ()
    gold: str = "include"
    qc: str = "include"
    finish_reasons: tuple[str, ...] = ()

    def describe(self) -> dict:
        """The filters that are on, JSON-ready (for a dataset card or a job's record)."""
        out = {}
        for key, value in asdict(self).items():
            default = ExportFilters.__dataclass_fields__[key].default
            if value == default:
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else (list(value) if isinstance(
                value, tuple) else value)
        return out


def _values(raw) -> list[str]:
    """A repeated parameter, a comma-separated one, or a list, as stripped non-empty strings."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    out = []
    for item in items:
        out += [p.strip() for p in str(item).split(",") if p.strip()]
    return out


def _when(raw, name: str) -> datetime | None:
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{name}: {text!r} is not a date or time (use ISO 8601, e.g. 2026-11-30 or "
                               "2026-11-30T12:00:00Z)") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if abs(value.utcoffset()) >= timedelta(hours=16):  # the database's limit
        raise ValidationFailed(f"{name}: {text!r} has a time-zone offset beyond ±15:59")
    return value


def export_filters_parse(params: Mapping) -> ExportFilters:
    """ExportFilters from text values: submitted_after, submitted_before, annotator(s), generation(s),
    gold, qc, finish_reason(s). Lists may repeat or be comma-separated."""
    after = _when(params.get("submitted_after"), "submitted_after")
    before = _when(params.get("submitted_before"), "submitted_before")
    if after and before and after >= before:
        raise ValidationFailed("submitted_after must be before submitted_before")
    generations = []
    for g in _values(params.get("generation")) + _values(params.get("generations")):
        try:
            generations.append(int(g))
        except ValueError:
            raise ValidationFailed(f"generation: {g!r} is not a whole number") from None
        if not -(2**31) <= generations[-1] < 2**31:
            raise ValidationFailed(f"generation: {g} is out of range")
    reasons = _values(params.get("finish_reason")) + _values(params.get("finish_reasons"))
    bad = [r for r in reasons if r not in FINISH_REASONS]
    if bad:
        raise ValidationFailed(f"finish_reason: {', '.join(bad)} not one of {', '.join(FINISH_REASONS)}")
    choice = {}
    for name in ("gold", "qc"):
        value = str(params.get(name) or "include").strip()
        if value not in INCLUDE:
            raise ValidationFailed(f"{name}: choose include, exclude or only, not {value!r}")
        choice[name] = value
    annotators = _values(params.get("annotator")) + _values(params.get("annotators"))
    if any(len(a) > 200 or "\x00" in a for a in annotators):
        raise ValidationFailed("annotator: a name or labeler id is at most 200 characters, with no NUL")
    return ExportFilters(
        submitted_after=after, submitted_before=before, annotators=tuple(dict.fromkeys(annotators)),
        generations=tuple(dict.fromkeys(generations)), gold=choice["gold"], qc=choice["qc"],
        finish_reasons=tuple(dict.fromkeys(reasons)),
    )

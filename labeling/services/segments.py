"""Step split and merge: a labeling re-segments the solution it was served, never the solution itself.

A segmentation is a list of new steps, each made of pieces of the served
solution's steps, `[[step index, start, end], ...]` (character offsets).
Read in order the pieces cover every served step exactly once, front to
back, so nothing is dropped, repeated or reordered: a split cuts one step's
range in two, a merge puts the end of one step and the start of the next in
one new step. A new step's text is its pieces' texts, trimmed, one per line.

Invariants:
- the served solution and its steps are never written; the re-segmented one
  is a solution version (`parent` = the served solution, `segment_spans`),
  shared by every labeling that made the same cut (same texts, same row);
- an assignment labels exactly one segmentation: `solution` is what it
  labels, `edited_from` what it was served (null when not edited), and its
  step labels point at `solution`'s steps, so agreement, adjudication and
  exports compare and write only labelings of the same segmentation;
- adopting a version makes it the task's solution for later labelings;
  submitted labelings keep the segmentation they labeled.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.errors import Conflict, NotFound, ValidationFailed
from labeling.importing.records import content_hash
from labeling.models import Assignment, Campaign, Solution, Step, Task

MAX_SEGMENTS = 400

Spans = list[list[tuple[int, int, int]]]


def _piece(raw, where: str) -> tuple[int, int, int]:
    if (not isinstance(raw, list | tuple) or len(raw) != 3
            or any(isinstance(v, bool) or not isinstance(v, int) for v in raw)):
        raise ValidationFailed(f"{where} must be [step index, start, end] (whole numbers)")
    return raw[0], raw[1], raw[2]


def spans_clean(segments, base_texts: list[str]) -> Spans:
    """Check a segmentation against the served steps; return it as tuples.

    Refused: anything but a list of non-empty lists of pieces; pieces that do
    not read the served steps front to back without gap or overlap; a new
    step with no text.
    """
    if not isinstance(segments, list) or not segments:
        raise ValidationFailed("segments must be a non-empty list of steps, each a list of [step, start, end]")
    if len(segments) > MAX_SEGMENTS:
        raise ValidationFailed(f"at most {MAX_SEGMENTS} steps after splitting")
    out: Spans = []
    step, pos = 0, 0  # where the next piece must start
    for k, seg in enumerate(segments):
        if not isinstance(seg, list) or not seg:
            raise ValidationFailed(f"segments[{k}] must be a non-empty list of pieces")
        pieces = []
        for j, raw in enumerate(seg):
            i, a, b = _piece(raw, f"segments[{k}][{j}]")
            if i == step + 1 < len(base_texts) and pos == len(base_texts[step]):
                step, pos = i, 0  # the previous step is used up: the next one starts
            if i != step or a != pos or not a < b <= len(base_texts[i]):
                raise ValidationFailed(
                    f"segments[{k}][{j}] = [{i}, {a}, {b}]: the pieces must cover the served steps in order, "
                    f"without gaps or overlaps (expected a piece [{step}, {pos}, end])")
            pos = b
            pieces.append((i, a, b))
        if not segment_text(pieces, base_texts):
            raise ValidationFailed(f"step {k + 1} after splitting would be empty (split inside the text)")
        out.append(pieces)
    if step != len(base_texts) - 1 or pos != len(base_texts[step]):
        raise ValidationFailed(f"the segments stop at [{step}, {pos}] (served step, character): every served step "
                               "must be covered to its end")
    return out


def segment_text(pieces, base_texts: list[str]) -> str:
    return "\n".join(t for t in (base_texts[i][a:b].strip() for i, a, b in pieces) if t)


def is_identity(spans: Spans, base_texts: list[str]) -> bool:
    return len(spans) == len(base_texts) and all(
        len(p) == 1 and p[0] == (i, 0, len(base_texts[i])) for i, p in enumerate(spans))


def whole_steps(segments) -> list[int | None]:
    """Per labeled step, the served step it is in full (None for a cut or merged one)."""
    out = []
    for k, seg in enumerate(segments or []):
        i = seg[0][0]
        whole = (len(seg) == 1 and seg[0][1] == 0
                 and not (k + 1 < len(segments) and segments[k + 1][0][0] == i))  # the step goes on: cut
        out.append(i if whole else None)
    return out


def describe(spans) -> list[str]:
    """The edits, as a reviewer reads them: 'steps 5–6 merged', 'step 3 split in 2' (1-based)."""
    merged, parts = [], {}
    for pieces in spans:
        steps = sorted({i for i, _, _ in pieces})
        if len(steps) > 1:
            merged.append(f"steps {steps[0] + 1}–{steps[-1] + 1} merged")
        for i in steps:
            parts[i] = parts.get(i, 0) + 1
    return merged + [f"step {i + 1} split in {n}" for i, n in sorted(parts.items()) if n > 1]


def _version(base: Solution, spans: Spans, base_texts: list[str]) -> Solution:
    texts = [segment_text(p, base_texts) for p in spans]
    # Keyed by the base too: the same texts cut from another solution (or imported as one) are
    # another row, so a version's lineage is always the solution it was cut from.
    digest = content_hash(f"{base.generator}\x00version-of:{base.pk}", texts)
    found = Solution.objects.filter(problem_id=base.problem_id, content_hash=digest).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            version = Solution.objects.create(
                problem_id=base.problem_id, generator=base.generator, content_hash=digest,
                final_answer=base.final_answer, answer_is_correct=base.answer_is_correct,
                grader_is_correct=base.grader_is_correct, grader_version=base.grader_version,
                generation=base.generation, pre_generated_verifier_score=base.pre_generated_verifier_score,
                parent=base, segment_spans=[[list(p) for p in seg] for seg in spans],
                metadata={"segmented_from": base.pk},
            )
            Step.objects.bulk_create([Step(solution=version, index=k, text=t) for k, t in enumerate(texts)])
    except IntegrityError:  # the same cut raced in from another labeling
        return Solution.objects.get(problem_id=base.problem_id, content_hash=digest)
    return version


def assignment_segments_apply(*, assignment: Assignment, segments) -> bool:
    """Point a locked, live assignment at the segmentation it labels (in the caller's transaction).

    `segments` None or the served steps unchanged: the served solution. Returns
    whether the labeled solution changed (the caller then replaces the labels).
    """
    a = assignment
    if segments is None and not a.edited_from_id:
        return False  # the page sends null on every draft save of an unedited labeling: nothing to read
    base = a.edited_from if a.edited_from_id else a.solution
    base_texts = list(Step.objects.filter(solution=base).order_by("index").values_list("text", flat=True))
    if segments is None:
        target, spans = base, None
    else:
        spans = spans_clean(segments, base_texts)
        target = base if is_identity(spans, base_texts) else _version(base, spans, base_texts)
        if target.pk == base.pk:
            spans = None
    changed = target.pk != a.solution_id
    a.solution = target
    a.edited_from = None if target.pk == base.pk else base
    stored = [[list(p) for p in seg] for seg in spans] if spans else None
    if stored:
        a.extra = {**a.extra, "segments": stored}
    else:
        a.extra = {k: v for k, v in a.extra.items() if k != "segments"}
    return changed


@transaction.atomic
def solution_version_adopt(*, campaign: Campaign, version_id: int, user) -> Task:
    """Make a re-segmented version the solution later labelings of its task are served.

    Invariants: the version's parent is the task's solution (a version of
    a version is adopted in turn); gold items keep their segmentation (their
    reference labels are per step); submitted and leased assignments keep the
    solution they have; who adopted it and when is stored on the version.
    """
    version = Solution.objects.filter(pk=version_id, parent__isnull=False).first()
    if version is None:
        raise NotFound(f"solution {version_id} is not a re-segmented version")
    task = Task.objects.select_for_update().filter(campaign=campaign, solution_id=version.parent_id).first()
    if task is None:
        raise Conflict(f"solution {version_id} was cut from solution {version.parent_id}, which is not this "
                       "campaign's current version of the task (already adopted another?)")
    if task.is_gold:
        raise Conflict("a gold item keeps its segmentation: its reference labels are per step")
    if Task.objects.filter(campaign=campaign, solution=version).exists():
        raise Conflict(f"solution {version_id} is already a task of this campaign")
    task.solution = version
    task.save(update_fields=["solution"])
    adopted = list(version.metadata.get("adopted", []))
    adopted.append({"campaign": campaign.slug, "by": user.get_username() if user else None,
                    "at": timezone.now().isoformat(), "replaces": version.parent_id})
    version.metadata = {**version.metadata, "adopted": adopted}
    version.save(update_fields=["metadata"])
    return task


def solution_family(solution_id: int) -> set[int]:
    """A solution, the solutions it was cut from and every version cut from them (one answer, one verdict)."""
    root = Solution.objects.filter(pk=solution_id).values_list("pk", "parent_id").first()
    if root is None:
        return set()
    while root[1] is not None:
        root = Solution.objects.filter(pk=root[1]).values_list("pk", "parent_id").first()
    family, frontier = {root[0]}, {root[0]}
    while frontier:
        frontier = set(Solution.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - family
        family |= frontier
    return family

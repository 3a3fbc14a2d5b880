"""Importing problems, solutions and PRM800K labels into a campaign.

All or nothing: a first pass parses and validates every line without touching
the database; if any line is bad, ImportFailed lists them and nothing is
written. The second pass writes in batches (bulk inserts) inside one
transaction, so a failure midway (a constraint, a conflicting label) also
leaves nothing behind. Re-importing the same file creates no duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from labeling.errors import ImportFailed, ValidationFailed
from labeling.grading import GRADER_VERSION, grade_answer, grade_many
from labeling.importing.formats import FORMATS, get_parser, split_rule
from labeling.importing.records import PRM800K_GENERATORS, PRM800K_SOURCE, TEXT_KEY_PREFIX, ParsedSolution
from labeling.models import Assignment, Campaign, Problem, Solution, Step, StepAlternative, StepLabel, Task
from labeling.services.adjudication import adjudications_sync
from labeling.services.bulk import CopyInsert
from labeling.services.import_validation import iter_lines, parse_line, validate
from labeling.services.prelabels import prelabels_store
from labeling.services.quality import gold_set
from labeling.services.summaries import assignments_summarize
from labeling.services.users import external_labelers_get_or_create

Progress = Callable[[int, int], None]
SOLUTION_COLUMNS = ("problem_id", "generator", "content_hash", "final_answer", "answer_is_correct", "grader_is_correct",
                    "grader_version", "generation", "pre_generated_verifier_score", "metadata")


@dataclass
class ImportResult:
    format: str
    lines: int = 0
    solutions_in_file: int = 0
    problems_created: int = 0
    solutions_created: int = 0
    solutions_existing: int = 0
    tasks_created: int = 0
    assignments_created: int = 0
    assignments_existing: int = 0
    step_labels_created: int = 0
    gold_items: int = 0
    # Labeled records whose labels were left out (`drop_labels`: their solutions come in to be labeled).
    labels_dropped: int = 0
    # Campaign tasks the import labeled that now hold the campaign's labels per solution (`overlap`),
    # counting any labels they already had, and those that hold some but fewer.
    tasks_filled_by_import: int = 0
    tasks_part_filled_by_import: int = 0  # with some labels now, fewer than the overlap
    overlap: int = 0
    # Automatic step labels from the file's `step_prelabels` (verified pre-labels).
    prelabels_stored: int = 0
    graded_correct: int = 0
    graded_incorrect: int = 0
    graded_unknown: int = 0
    # Where the file carries its own verdict (GSM8K samples' is_correct).
    reference_verdicts: int = 0
    reference_agreements: int = 0
    grader_version: str = GRADER_VERSION
    disagreements: list[dict] = field(default_factory=list)
    # Seconds per phase: validate (pass 1), grade (every distinct answer, in parallel), write.
    timings: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"format: {self.format}; lines: {self.lines}; solutions in file: {self.solutions_in_file}",
            f"created: {self.problems_created} problems, {self.solutions_created} solutions "
            f"({self.solutions_existing} already present), {self.tasks_created} campaign tasks",
        ]
        if self.assignments_created or self.assignments_existing:
            lines.append(
                f"labels: {self.assignments_created} labeled solutions with {self.step_labels_created} step "
                f"labels ({self.assignments_existing} already present)"
            )
        if self.tasks_filled_by_import or self.tasks_part_filled_by_import:
            lines.append(
                f"imported labels count toward the campaign's {self.overlap} label{'s' if self.overlap != 1 else ''} "
                f"per solution: {self.tasks_filled_by_import} solutions need no more from your annotators, "
                f"{self.tasks_part_filled_by_import} need fewer (to have every solution labeled here as often, "
                f"raise Labels per solution in Settings, or import the file again with its labels left out)")
        if self.labels_dropped:
            lines.append(f"labels left out: {self.labels_dropped} labeled records came in as solutions to label")
        if self.gold_items:
            lines.append(f"gold: {self.gold_items} solutions now gold items with reference step labels")
        if self.prelabels_stored:
            lines.append(f"pre-labels: {self.prelabels_stored} step pre-labels stored (step_prelabels)")
        lines.append(
            f"grading ({self.grader_version}) of new solutions: {self.graded_correct} correct, "
            f"{self.graded_incorrect} incorrect, {self.graded_unknown} ungraded"
        )
        if self.reference_verdicts:
            pct = 100.0 * self.reference_agreements / self.reference_verdicts
            lines.append(
                f"agreement with the file's own is_correct: {self.reference_agreements}/"
                f"{self.reference_verdicts} ({pct:.2f}%)"
            )
        return "\n".join(lines)


def solutions_import(
    *,
    campaign: Campaign,
    path: Path,
    fmt: str = "auto",
    split: str = "blank",
    batch_size: int | None = None,
    progress: Progress | None = None,
    as_gold: bool = False,
    drop_labels: bool = False,
) -> ImportResult:
    """Import a JSONL file of solutions (and labels) into `campaign`.

    Invariants: nothing is written unless every line is valid; problems are
    unique per source, solutions per (problem, content), tasks per (campaign,
    solution), labels per (solution, labeler) in a campaign; a record whose
    labeler already labeled that solution with another timestamp is refused.
    With `as_gold`, labeled records become gold items (reference step labels
    from the record's first-completion ratings) instead of annotator labels;
    with `drop_labels`, their labels are left out and the solutions come in to
    be labeled. Imported labels count toward the campaign's overlap like any
    label, and the result says how many tasks they filled.
    """
    if as_gold and drop_labels:
        raise ValidationFailed("choose gold items or leaving the labels out, not both",
                               details={"labels": ["gold and none at once"]})
    if fmt not in FORMATS:
        raise ValidationFailed(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    try:
        split_rule(split)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"no such file: {path}")
    t0 = time.monotonic()
    answers: set = set()
    fmt, total, errors, error_count = validate(path, fmt, split, answers=answers)
    if error_count:
        raise ImportFailed(errors, error_count)
    t1 = time.monotonic()
    # Grading is most of an import's work (math-verify): all of it up front, each distinct pair
    # once, spread over processes, and outside the write transaction.
    verdicts = grade_many(answers)
    t2 = time.monotonic()

    parser = get_parser(fmt, split)
    result = ImportResult(format=fmt, overlap=campaign.overlap)
    batch_size = batch_size or settings.IMPORT_BATCH_SIZE
    writer = _BatchWriter(campaign=campaign, result=result, as_gold=as_gold, drop_labels=drop_labels,
                          verdicts=verdicts)
    with transaction.atomic():
        batch: list[tuple[int, ParsedSolution]] = []
        for lineno, raw in iter_lines(path):
            result.lines += 1
            for parsed in parser(parse_line(raw)):
                batch.append((lineno, parsed))
            if len(batch) >= batch_size:
                _flush(writer, batch)
                batch = []
                if progress:
                    progress(result.lines, total)
        if batch:
            _flush(writer, batch)
        writer.finish()
    if progress:
        progress(result.lines, total)
    result.timings = {"validate_s": round(t1 - t0, 2), "grade_s": round(t2 - t1, 2),
                      "write_s": round(time.monotonic() - t2, 2), "distinct_answers": len(answers)}
    return result


def _flush(writer: _BatchWriter, batch: list[tuple[int, ParsedSolution]]) -> None:
    # Pass 1 checks what the database refuses; anything it still refuses fails the
    # import (one transaction: nothing written) naming the lines of the batch.
    try:
        with transaction.atomic():
            writer.flush(batch)
    except (DataError, IntegrityError) as exc:
        first, last = batch[0][0], batch[-1][0]
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImportFailed([(first, f"lines {first}-{last}: the database refused them: {reason}")], 1) from exc


class _BatchWriter:
    def __init__(self, *, campaign: Campaign, result: ImportResult, as_gold: bool = False,
                 drop_labels: bool = False, verdicts: dict | None = None) -> None:
        self.campaign = campaign
        self.verdicts = verdicts or {}
        self.result = result
        self.as_gold = as_gold
        self.drop_labels = drop_labels
        self.created_assignments: list[int] = []
        self._solution_insert: CopyInsert | None = None
        self.labeler_ids: dict[str, int] = {}
        self.touched_tasks: set[int] = set()

    def flush(self, batch: list[tuple[int, ParsedSolution]]) -> None:
        self.result.solutions_in_file += len(batch)
        problem_ids = self._problems([p for _, p in batch])
        solution_ids = self._solutions(batch, problem_ids)
        task_ids = self._tasks(set(solution_ids.values()))
        self._prelabels(batch, problem_ids, solution_ids)
        labeled = [(n, p) for n, p in batch if p.label is not None]
        if labeled and self.drop_labels:
            self.result.labels_dropped += len(labeled)
        elif labeled and self.as_gold:
            self._gold(labeled, problem_ids, solution_ids)
        elif labeled:
            self._labels(labeled, problem_ids, solution_ids, task_ids)

    def _gold(self, labeled, problem_ids, solution_ids) -> None:
        for lineno, p in labeled:
            sid = solution_ids[(problem_ids[(p.problem.source, p.problem.source_id)], p.content_hash)]
            ratings = [ls.completions[0].rating for ls in p.label.steps]
            if self.campaign.mode == Campaign.Mode.FIRST_ERROR and -1 in ratings:
                # PRM800K labelers go on past a bad step with another completion;
                # as first-error gold only the ratings up to that step count.
                cut = ratings.index(-1) + 1
                ratings = ratings[:cut] + [None] * (len(ratings) - cut)
            try:
                gold_set(campaign=self.campaign, solution=Solution.objects.get(pk=sid), ratings=ratings,
                         note=f"imported as gold (line {lineno})")
            except ValidationFailed as exc:
                raise ImportFailed([(lineno, f"cannot be gold: {exc.message}")], 1) from exc
            self.result.gold_items += 1

    def _prelabels(self, batch, problem_ids, solution_ids) -> None:
        with_pre = [(solution_ids[(problem_ids[(p.problem.source, p.problem.source_id)], p.content_hash)], p)
                    for _, p in batch if p.prelabels is not None]
        if not with_pre:
            return
        step_ids = dict(((sid, idx), pk) for pk, sid, idx in Step.objects.filter(
            solution_id__in={sid for sid, _ in with_pre}).values_list("pk", "solution_id", "index"))
        rows = [(step_ids[(sid, i)], p.prelabel_source, rating, score)
                for sid, p in with_pre for i, (rating, score) in enumerate(p.prelabels)]
        self.result.prelabels_stored += prelabels_store(rows=rows)

    # -- problems --------------------------------------------------------------

    def _problems(self, parsed: list[ParsedSolution]) -> dict[tuple[str, str], int]:
        wanted = {(p.problem.source, p.problem.source_id): p.problem for p in parsed}
        ids: dict[tuple[str, str], int] = {}
        fill_gts: list[Problem] = []
        # PRM800K records name no source: their parser keys a problem by its text. Such a
        # problem is the one with that text key from any format (our PRM800K export of
        # GSM8K-imported problems must find them, not make second copies). Other formats
        # name their source, and a problem of another source stays apart.
        by_text: dict[str, int] = {}
        fetched: dict[int, Problem] = {}
        for prob in Problem.objects.filter(source_id__in={k[1] for k in wanted}).only(
            "id", "source", "source_id", "ground_truth_solution"
        ).order_by("pk"):
            fetched[prob.pk] = prob
            if prob.source_id.startswith(TEXT_KEY_PREFIX):
                by_text.setdefault(prob.source_id, prob.pk)
            if (prob.source, prob.source_id) in wanted:
                ids[(prob.source, prob.source_id)] = prob.pk
        for key in wanted:
            if key not in ids and key[0] == PRM800K_SOURCE and key[1] in by_text:
                ids[key] = by_text[key[1]]
        for key, p in wanted.items():
            prob = fetched.get(ids.get(key))
            if prob is not None and p.ground_truth_solution and not prob.ground_truth_solution:
                prob.ground_truth_solution = p.ground_truth_solution
                fill_gts.append(prob)
        if fill_gts:
            Problem.objects.bulk_update(fill_gts, ["ground_truth_solution"])
        missing = [
            Problem(
                source=p.source, source_id=p.source_id, text=p.text,
                ground_truth_answer=p.ground_truth_answer, ground_truth_solution=p.ground_truth_solution,
                subject=p.subject, level=p.level, metadata=p.metadata,
            )
            for key, p in wanted.items()
            if key not in ids
        ]
        for prob in Problem.objects.bulk_create(missing):
            ids[(prob.source, prob.source_id)] = prob.pk
        self.result.problems_created += len(missing)
        return ids

    # -- solutions -------------------------------------------------------------

    def _solutions(self, batch, problem_ids) -> dict[tuple[int, str], int]:
        """Map (problem id, content hash) to solution id, creating and grading new ones."""
        keyed = [((problem_ids[(p.problem.source, p.problem.source_id)], p.content_hash), p) for _, p in batch]
        ids: dict[tuple[int, str], int] = {}
        verdicts: dict[tuple[int, str], bool | None] = {}
        for sol in Solution.objects.filter(
            problem_id__in={k[0] for k, _ in keyed}, content_hash__in={k[1] for k, _ in keyed}
        ).only("id", "problem_id", "content_hash", "answer_is_correct"):
            ids[(sol.problem_id, sol.content_hash)] = sol.pk
            verdicts[(sol.problem_id, sol.content_hash)] = sol.answer_is_correct
        self._same_steps([(k, p) for k, p in keyed if k not in ids and p.generator in PRM800K_GENERATORS],
                         ids, verdicts)
        new: dict[tuple[int, str], tuple[tuple, ParsedSolution]] = {}
        for key, p in keyed:
            if key in ids or key in new:
                if key in ids:
                    self.result.solutions_existing += 1
                continue
            if p.problem.ground_truth_answer or p.answer_correct is None:
                pair = (p.final_answer, p.problem.ground_truth_answer)
                verdict = self.verdicts[pair] if pair in self.verdicts else grade_answer(*pair)
            else:
                verdict = p.answer_correct
            verdicts[key] = verdict
            new[key] = ((key[0], p.generator, key[1], p.final_answer or "", verdict, verdict, GRADER_VERSION,
                         p.generation, p.verifier_score, p.metadata), p)
            if verdict is True:
                self.result.graded_correct += 1
            elif verdict is False:
                self.result.graded_incorrect += 1
            else:
                self.result.graded_unknown += 1
        if self._solution_insert is None:
            self._solution_insert = CopyInsert(Solution, SOLUTION_COLUMNS)
        for pk, problem_id, content in self._solution_insert.insert(
                [row for row, _ in new.values()], returning=("id", "problem_id", "content_hash")):
            ids[(problem_id, content)] = pk
        self.result.solutions_created += len(new)
        # Steps are most of an import's rows (eight or more per solution): COPY, not model instances.
        connection.ensure_connection()
        with connection.connection.cursor() as raw, raw.copy(
            f"COPY {Step._meta.db_table} (solution_id, index, text) FROM STDIN"
        ) as copy:
            for key, (_, parsed) in new.items():
                sid = ids[key]
                for i, text in enumerate(parsed.steps):
                    copy.write_row((sid, i, text))
        for key, p in keyed:
            reference = p.metadata.get("is_correct")
            if isinstance(reference, bool):
                self.result.reference_verdicts += 1
                if verdicts.get(key) is reference:
                    self.result.reference_agreements += 1
                elif len(self.result.disagreements) < 20:
                    self.result.disagreements.append(
                        {"answer": p.final_answer, "ground_truth": p.problem.ground_truth_answer,
                         "file_says": reference, "grader_says": verdicts.get(key)}
                    )
        return ids

    def _same_steps(self, keyed, ids, verdicts) -> None:
        """Find PRM800K records among the solutions already here by their steps.

        The format has no generator, so our export of a solution imported from
        another format (or of a phase-1 record, which it writes in the phase-2
        shape) comes back under another generator and content hash. A record
        matches a solution of the same problem with the same steps under a
        different generator; where several do, the one this campaign already
        queues wins, then the oldest. SQL narrows the candidates to solutions
        whose first step is a record's first step before any step text is read.
        """
        if not keyed:
            return
        generator_of = dict(
            Step.objects.filter(index=0, solution__problem_id__in={k[0] for k, _ in keyed},
                                text__in={p.steps[0] for _, p in keyed})
            .values_list("solution_id", "solution__generator")
        )
        if not generator_of:
            return
        texts: dict[int, list[str]] = {}
        meta: dict[int, tuple[int, bool | None]] = {}
        for sid, problem_id, verdict, text in Step.objects.filter(solution_id__in=generator_of).order_by(
            "solution_id", "index"
        ).values_list("solution_id", "solution__problem_id", "solution__answer_is_correct", "text"):
            texts.setdefault(sid, []).append(text)
            meta[sid] = (problem_id, verdict)
        by_steps: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for sid, steps in texts.items():
            by_steps.setdefault((meta[sid][0], tuple(steps)), []).append(sid)
        queued = set(Task.objects.filter(campaign=self.campaign, solution_id__in=generator_of)
                     .values_list("solution_id", flat=True))
        for key, p in keyed:
            options = [sid for sid in by_steps.get((key[0], tuple(p.steps)), ()) if generator_of[sid] != p.generator]
            if options:
                sid = min(options, key=lambda s: (s not in queued, s))
                ids[key] = sid
                verdicts[key] = meta[sid][1]

    # -- tasks -----------------------------------------------------------------

    def _tasks(self, solution_ids: set[int]) -> dict[int, int]:
        """Map solution id to this campaign's task id, queueing the new ones.

        Queued by the import: generation 0 (before any active-learning generation) unless the
        file names the solution's generation; the score known at queue time is the file's. One
        INSERT ... SELECT (a task per solution is most of an import's model instances otherwise),
        with the model's own defaults for every other column; ON CONFLICT keeps a concurrent
        import of the same solutions from failing.
        """
        template = Task(campaign=self.campaign, queue_strategy="import", queued_at=timezone.now())
        fixed = {f.column: f.get_db_prep_save(f.pre_save(template, add=True), connection)
                 for f in Task._meta.concrete_fields
                 if f.column not in {"id", "solution_id", "queue_generation", "queue_score"}}
        columns = ", ".join(fixed)
        placeholders = ", ".join(["%s"] * len(fixed))
        with connection.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO {Task._meta.db_table} ({columns}, solution_id, queue_generation, queue_score)
                SELECT {placeholders}, s.id, COALESCE(s.generation, 0), s.pre_generated_verifier_score
                FROM {Solution._meta.db_table} s WHERE s.id = ANY(%s) ORDER BY s.id
                ON CONFLICT (campaign_id, solution_id) DO NOTHING
                RETURNING solution_id, id
                """,  # noqa: S608 - table and column names come from model metadata
                [*fixed.values(), sorted(solution_ids)],
            )
            ids = dict(cur.fetchall())
            self.result.tasks_created += len(ids)
            rest = sorted(solution_ids - set(ids))
            if rest:  # already queued (a re-import): only those are looked up
                cur.execute(
                    f"SELECT solution_id, id FROM {Task._meta.db_table} "  # noqa: S608 - model metadata
                    "WHERE campaign_id = %s AND solution_id = ANY(%s)",
                    [self.campaign.pk, rest],
                )
                ids.update(cur.fetchall())
            return ids

    # -- labels ----------------------------------------------------------------

    def _labels(self, labeled, problem_ids, solution_ids, task_ids) -> None:
        new_labelers = {p.label.labeler for _, p in labeled} - set(self.labeler_ids)
        self.labeler_ids.update(external_labelers_get_or_create(labelers=new_labelers, source="prm800k"))
        sol_of = {
            id(p): solution_ids[(problem_ids[(p.problem.source, p.problem.source_id)], p.content_hash)]
            for _, p in labeled
        }
        # (timestamp_raw, submitted_at) per label already here: an imported one is the same
        # label again when its raw timestamp is; one made in this app carries no raw timestamp,
        # and comes back from our export with its submit time (to the microsecond, in UTC).
        existing = {
            (a.task_id, a.annotator_id): (a.extra.get("timestamp_raw"), a.submitted_at)
            for a in Assignment.objects.filter(
                task_id__in={task_ids[s] for s in sol_of.values()},
                annotator_id__in={self.labeler_ids[p.label.labeler] for _, p in labeled},
            ).only("task_id", "annotator_id", "extra", "submitted_at")
        }
        step_ids = {
            (sid, idx): pk
            for pk, sid, idx in Step.objects.filter(solution_id__in=set(sol_of.values())).values_list(
                "id", "solution_id", "index"
            )
        }
        to_create: list[tuple[Assignment, ParsedSolution, int]] = []
        for lineno, p in labeled:
            lab = p.label
            sid = sol_of[id(p)]
            key = (task_ids[sid], self.labeler_ids[lab.labeler])
            if key in existing:
                raw, at = existing[key]
                if raw == lab.timestamp_raw or (not raw and at is not None and at == lab.timestamp):
                    self.result.assignments_existing += 1
                    continue
                raise ImportFailed(
                    [(lineno, f"labeler {lab.labeler} already labeled this solution in campaign "
                              f"'{self.campaign.slug}' "
                              + (f"(at {raw})" if raw else
                                 f"in this app (submitted {at.isoformat() if at else 'never'}, not by an import)")
                              + "; one label per labeler and solution")],
                    1,
                )
            existing[key] = (lab.timestamp_raw, lab.timestamp)
            extra = {"timestamp_raw": lab.timestamp_raw, "question_keys": lab.question_keys}
            if lab.unknown:
                extra["unknown"] = lab.unknown
            to_create.append(
                (
                    Assignment(
                        campaign=self.campaign, task_id=key[0], solution_id=sid, annotator_id=key[1],
                        status=Assignment.Status.SUBMITTED, source=Assignment.Source.IMPORTED,
                        submitted_at=lab.timestamp, active_ms=lab.total_time or 0,
                        finish_reason=lab.finish_reason, queue_generation=lab.generation,
                        queue_strategy="import", is_quality_control=lab.is_quality_control,
                        is_screening=lab.is_screening, extra=extra,
                    ),
                    p,
                    sid,
                )
            )
        created = Assignment.objects.bulk_create([a for a, _, _ in to_create])
        step_labels, alternatives = [], []
        for assignment, (_, p, sid) in zip(created, to_create, strict=True):
            self.touched_tasks.add(assignment.task_id)
            self.created_assignments.append(assignment.pk)
            for i, ls in enumerate(p.label.steps):
                step_id = step_ids[(sid, i)]
                first = ls.completions[0]
                extra = {}
                if ls.extra:
                    extra["step"] = ls.extra
                if first.extra:
                    extra["completion"] = first.extra
                negative = ls.path.rating == -1
                step_labels.append(
                    StepLabel(
                        assignment_id=assignment.pk, step_id=step_id, rating=ls.path.rating,
                        flagged=ls.path.flagged, chosen_completion=ls.chosen_completion, final=True,
                        critique=(ls.path.extra.get("critique") or "").strip() if negative else "",
                        error_types=list(dict.fromkeys(ls.path.extra.get("error_types") or [])) if negative else [],
                    )
                )
                if p.steps[i] != first.text or extra or ls.path is not first:
                    # completions[0] is not the stored step with its rating
                    # (a phase-1 path went elsewhere, or the text or fields
                    # differ): keep it verbatim at position 0.
                    alternatives.append(
                        StepAlternative(
                            assignment_id=assignment.pk, step_id=step_id, kind="alternative", position=0,
                            text=first.text, rating=first.rating, flagged=first.flagged,
                            extra={"override": True, **extra},
                        )
                    )
                for j, comp in enumerate(ls.completions[1:], start=1):
                    alternatives.append(
                        StepAlternative(
                            assignment_id=assignment.pk, step_id=step_id, kind="alternative", position=j,
                            text=comp.text, rating=comp.rating, flagged=comp.flagged, extra=comp.extra,
                        )
                    )
                if ls.human_completion is not None:
                    hc = ls.human_completion
                    alternatives.append(
                        StepAlternative(
                            assignment_id=assignment.pk, step_id=step_id, kind="human", position=0,
                            text=hc["text"], rating=hc.get("rating"), flagged=hc.get("flagged"),
                            source=hc.get("source") or "",
                            extra={k: v for k, v in hc.items() if k not in {"text", "rating", "flagged", "source"}}
                            | {"keys": list(hc.keys())},
                        )
                    )
        StepLabel.objects.bulk_create(step_labels)
        StepAlternative.objects.bulk_create(alternatives)
        self.result.assignments_created += len(created)
        self.result.step_labels_created += len(step_labels)

    def finish(self) -> None:
        """Recount the tasks that gained imported labels (one statement), summarise the new labels
        and queue the disagreements they reveal."""
        if self.created_assignments:
            assignments_summarize(assignment_ids=self.created_assignments)
            adjudications_sync(campaign=self.campaign)
        if not self.touched_tasks:
            return
        task_table = Task._meta.db_table
        assignment_table = Assignment._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                f"""
                UPDATE {task_table} t SET
                  taken = c.taken, completed = c.completed, is_open = c.taken < %s
                FROM (
                  SELECT task_id,
                         count(*) FILTER (WHERE status IN ('leased', 'submitted')) AS taken,
                         count(*) FILTER (WHERE status = 'submitted') AS completed
                  FROM {assignment_table} WHERE task_id = ANY(%s) GROUP BY task_id
                ) c
                WHERE t.id = c.task_id
                RETURNING t.completed >= %s
                """,  # noqa: S608 - table names come from model metadata
                [self.campaign.overlap, list(self.touched_tasks), self.campaign.overlap],
            )
            full = [f for (f,) in cur.fetchall()]
            self.result.tasks_filled_by_import = sum(full)
            self.result.tasks_part_filled_by_import = len(full) - sum(full)

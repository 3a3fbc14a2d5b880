"""Oracles for simulated annotators: who knows the "true" step ratings of a solution.

Pure functions over plain data (no Django). Two kinds:
- LabeledOracle: exact ratings from a fully labeled file (PRM800K format, or
  the synthetic GSM8K set that `simulate_active_learning --write-dataset`
  writes in that format). Solutions are matched on problem text and steps.
- reference_oracle: for pools without step labels (the demo's real GSM8K
  model solutions): a correct final answer rates every step +1; a wrong one
  gets -1 at the first step that states a number found neither in the
  problem nor in the reference solution. It is a noisy, deterministic
  stand-in for a human, good enough to drive the loop end to end.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_CALC_RESULT = re.compile(r"<<[^<>=]*=([^<>]+)>>")


def solution_key(problem: str, steps: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(" ".join(problem.split()).encode())
    for s in steps:
        h.update(b"\x1e" + " ".join(s.split()).encode())
    return h.hexdigest()


def prm800k_ratings(record: dict) -> tuple[str, list[str], list[int | None]]:
    """(problem, step texts, their ratings) from one PRM800K record, read as the importer reads it.

    Going through the import parser keeps the oracle and an imported file in
    step. Phase 2: the pre-generated steps, each rated by its first
    completion (real records leave `chosen_completion` null on the -1 step
    that ends a found_error label, so following chosen completions would
    drop every first error). Phase 1: the path the labeler took. Steps past
    the label are None. Raises ValueError (RecordError) for a record the
    importer would refuse.
    """
    from labeling.importing.formats import parse_prm800k

    (parsed,) = parse_prm800k(record)
    ratings: list[int | None] = [ls.path.rating for ls in parsed.label.steps]
    ratings += [None] * (len(parsed.steps) - len(ratings))
    return parsed.problem.text, list(parsed.steps), ratings


class LabeledOracle:
    def __init__(self, table: dict[str, list[int | None]]):
        self.table = table

    @classmethod
    def from_file(cls, path: str | Path) -> LabeledOracle:
        table = {}
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    problem, steps, ratings = prm800k_ratings(json.loads(line))
                except (KeyError, TypeError, IndexError, ValueError) as exc:
                    raise ValueError(f"{path}:{n}: not a PRM800K record ({exc})") from None
                table[solution_key(problem, steps)] = ratings
        return cls(table)

    def __call__(self, problem: str, steps: Sequence[str], **_) -> list[int | None] | None:
        return self.table.get(solution_key(problem, steps))


def _numbers(text: str) -> set[Fraction]:
    out = set()
    for m in _NUM.finditer(text):
        try:
            out.add(Fraction(m.group().replace(",", "")))
        except ValueError:
            continue
    return out


def reference_oracle(problem: str, steps: Sequence[str], *, answer_correct: bool | None,
                     reference: str = "", **_) -> list[int]:
    if answer_correct:
        return [1] * len(steps)
    known = _numbers(problem) | _numbers(reference)
    for i, step in enumerate(steps):
        # Prefer calculator results; else the numbers after "=".
        stated = {Fraction(r.replace(",", "")) for r in _CALC_RESULT.findall(step) if _NUM.fullmatch(r.strip())}
        if not stated and "=" in step:
            stated = _numbers(step.split("=")[-1])
        if any(v not in known for v in stated):
            return [1] * i + [-1]
    return [1] * (len(steps) - 1) + [-1]


def as_submission(ratings: Sequence[int | None], *, first_error: bool,
                  n_steps: int | None = None) -> list[tuple[int, int]]:
    """(step, rating) pairs a labeler would submit: in first-error mode, up to the first -1.

    In all-steps mode (`first_error=False`) every step is rated: the oracles
    locate only the first error, and in these solutions that error is carried
    forward to the final answer, so the steps after it that the oracle left
    unrated are rated -1 up to `n_steps`. Without a first error the oracle's
    own ratings are all there is.
    """
    out = []
    for i, r in enumerate(ratings):
        if r is None:
            break
        out.append((i, int(r)))
        if first_error and r == -1:
            break
    if not first_error and n_steps and any(r == -1 for _, r in out):
        out += [(i, -1) for i in range(len(out), n_steps)]
    return out


def perturb(ratings: Sequence[int | None], *, rng, error_rate: float, n_steps: int | None = None) -> list[int | None]:
    """An imperfect annotator: with probability `error_rate`, one plausible slip.

    The slips are the ones QC catches in practice: the first error seen one
    step early or late, a real error missed (rated fine), or a fine step
    called wrong. Ratings after the (new) first error are dropped, as a
    first-error annotator would not give them. Steps the oracle left unrated
    after its first error (up to `n_steps`) count as fine when a slip moves
    past them.
    """
    out = list(ratings)
    if not out or rng.random() >= error_rate:
        return out
    n = max(n_steps or 0, len(out))
    out = [1 if r is None else r for r in out] + [1] * (n - len(out))
    fe = next((i for i, r in enumerate(out) if r == -1), None)
    if fe is None:
        out[rng.randrange(len(out))] = -1  # false alarm
    else:
        slip = rng.choice(["early", "late", "miss"])
        out = [1 if r == -1 else r for r in out]
        if slip == "early" and fe > 0:
            out[fe - 1] = -1
        elif slip == "late" and fe + 1 < len(out):
            out[fe] = 1
            out[fe + 1] = -1
        elif slip == "miss":
            out[fe] = 1
        else:
            out[fe] = -1
    cut = next((i for i, r in enumerate(out) if r == -1), None)
    return out if cut is None else out[: cut + 1] + [None] * (len(out) - cut - 1)

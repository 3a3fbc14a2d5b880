"""Real-data evaluation sets a campaign can be checked against after every cycle (pure: no Django).

A registry rather than a path in the campaign's settings: a manager picks a
set by name and never points the training workers at a file of their
choosing. Each set is read with the toolkit's readers (prm/formats.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from active_learning.prm.data import SolutionExample
from active_learning.prm.formats import read_examples

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EvalSet:
    name: str
    label: str
    path: Path
    fmt: str


EVAL_SETS = {
    s.name: s for s in (
        EvalSet("gsm8k-real", "real GSM8K model solutions: 1,319 test problems x 4, graded (OpenAI, MIT)",
                REPO / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl", "gsm8k_solutions"),
    )
}


@lru_cache(maxsize=4)
def _read(name: str) -> tuple[SolutionExample, ...]:
    s = EVAL_SETS[name]
    return tuple(read_examples(s.path, fmt=s.fmt))


def eval_examples(name: str, *, exclude_problems: frozenset[str] | set[str] = frozenset()) -> list[SolutionExample]:
    """The set's solutions, without those of problems the model was trained on (held-out problems only)."""
    if name not in EVAL_SETS:
        raise KeyError(f"unknown evaluation set {name!r}; choose from {', '.join(sorted(EVAL_SETS))}")
    return [ex for ex in _read(name) if ex.problem not in exclude_problems]

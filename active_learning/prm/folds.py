"""Cross-fitted PRMs: k models, each trained without one fold of problems and scoring only that fold.

Why: a warm start from the pool's own graded outcomes trains on the very
solutions the loop will later rank. A model that has seen a solution's
verdict scores it from memory, so "high score, wrong answer" would pick
what it failed to memorise instead of what convinces it. With cross-fitting
(Chernozhukov et al.'s double ML trick, and how stacking avoids leakage)
every solution is scored by the member that never saw its problem. The
campaign then keeps k lineages: each cycle fine-tunes every member on the
human labels, and members keep scoring their own fold.

The fold of a problem is a stable hash of its text, so the pool, the
held-out labels and a real evaluation set all agree on it without sharing ids.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from active_learning.prm.model import PRM

FOLDS_FILE = "folds.json"
RULE = "sha256(problem text) mod k"


def fold_of(problem: str, k: int) -> int:
    return int(hashlib.sha256(problem.encode("utf-8")).hexdigest()[:12], 16) % k


@dataclass
class FoldedPRM:
    """k members; member f trained without fold f and scores only fold f."""

    members: list[PRM]

    @property
    def k(self) -> int:
        return len(self.members)

    def member_for(self, problem: str) -> PRM:
        return self.members[fold_of(problem, self.k)]

    @property
    def meta(self):
        # The members share backbone, separator and window sizes; temperatures and biases are their own.
        return self.members[0].meta

    def meta_dict(self) -> dict:
        return {**self.members[0].meta_dict(), "folds": self.k,
                "temperatures": [m.meta.temperature for m in self.members],
                "biases": [m.meta.bias for m in self.members]}

    def parameter_count(self) -> int:
        return sum(m.parameter_count() for m in self.members)

    def save(self, directory: str | Path, *, card: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for i, m in enumerate(self.members):
            m.save(directory / f"fold-{i}", card=card)
        (directory / FOLDS_FILE).write_text(json.dumps({"k": self.k, "rule": RULE}, indent=2) + "\n")
        if card is not None:
            (directory / "README.md").write_text(card)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> FoldedPRM:
        directory = Path(directory)
        spec = json.loads((directory / FOLDS_FILE).read_text())
        if spec.get("rule") != RULE:
            raise ValueError(f"{directory}: unknown fold rule {spec.get('rule')!r}")
        return cls([PRM.load(directory / f"fold-{i}") for i in range(int(spec["k"]))])


def is_folded(directory: str | Path) -> bool:
    return (Path(directory) / FOLDS_FILE).is_file()


def load_checkpoint(directory: str | Path) -> PRM | FoldedPRM:
    """A checkpoint directory this package wrote, single or cross-fitted."""
    return FoldedPRM.load(directory) if is_folded(directory) else PRM.load(directory)

"""Plain-data examples and their token windows.

Layout, in the style of TRL's PRM trainer: [CLS] problem SEP step_1 SEP
step_2 SEP ... where SEP is the configured separator. The label of step i
sits on the last token of the separator that closes it, so one forward pass
scores every step, and a step's prediction sees the problem and every
earlier step (and, in an encoder, later ones too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

IGNORE = -100  # torch's cross-entropy ignore_index


@dataclass(frozen=True)
class SolutionExample:
    """One solution; labels are per step: 1 correct, 0 wrong, None not used.

    `group` keys the held-out split (the problem, so no problem is on both
    sides). `answer_correct` / `answer` feed solution AUROC and best-of-N.
    """

    problem: str
    steps: tuple[str, ...]
    labels: tuple[int | None, ...] = ()
    group: str = ""
    answer_correct: bool | None = None
    answer: str = ""
    key: str = ""  # caller's id for the solution
    split: str = ""  # evaluation reports per split (ProcessBench's gsm8k / math / ...)

    def __post_init__(self):
        if self.labels and len(self.labels) != len(self.steps):
            raise ValueError(f"{len(self.labels)} labels for {len(self.steps)} steps")

    @property
    def first_error(self) -> int | None:
        """Index of the first wrong step, -1 if every step is labeled correct, None if unknown."""
        for i, label in enumerate(self.labels):
            if label == 0:
                return i
            if label is None:
                return None
        return -1 if self.labels else None


def heldout_split(examples: Sequence[SolutionExample], fraction: float) -> tuple[list, list]:
    """Split by problem with a stable hash, so a problem stays on its side across retrains."""
    def held(group: str) -> bool:
        h = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16)
        return h / 0xFFFFFFFF < fraction

    train = [ex for ex in examples if not held(ex.group)]
    test = [ex for ex in examples if held(ex.group)]
    if fraction > 0 and not test and len(train) > 1:
        test, train = train[-1:], train[:-1]  # tiny campaigns: at least one held-out example
    return train, test


OUTCOME_MODES = ("last_step", "all_steps")


def outcome_examples(examples: Sequence[SolutionExample], *, mode: str = "last_step") -> list[SolutionExample]:
    """Step labels made from final-answer verdicts, for solutions that have a verdict and no step labels.

    The free supervision every graded pool already has (the paper's ORM
    data). `last_step`: only the last step carries the verdict, so the
    model learns "does this solution end right" and the steps before stay
    unlabeled. `all_steps`: every step carries it, which is Math-Shepherd's
    hard estimation with the solution itself as the only rollout. It is noisy on the
    correct prefix of a wrong solution, but it teaches every position. Solutions that have
    step labels are kept as they are; ones with neither are dropped.
    """
    if mode not in OUTCOME_MODES:
        raise ValueError(f"unknown outcome mode {mode!r}; choose from {', '.join(OUTCOME_MODES)}")
    out = []
    for ex in examples:
        if any(x is not None for x in ex.labels):
            out.append(ex)
        elif ex.answer_correct is not None and ex.steps:
            verdict = 1 if ex.answer_correct else 0
            n = len(ex.steps)
            labels = (verdict,) * n if mode == "all_steps" else (None,) * (n - 1) + (verdict,)
            out.append(replace(ex, labels=labels))
    return out


def ratings_to_labels(ratings: Sequence[int | None], *, neutral: str = "positive") -> tuple[int | None, ...]:
    """Map -1/0/+1 step ratings to training labels, dropping everything after the first error.

    The paper trains only up to the first wrong step: later steps are
    conditioned on a broken prefix, so their "correctness" is ill-defined.
    """
    out: list[int | None] = []
    seen_error = False
    for r in ratings:
        if seen_error or r is None:
            out.append(None)
            continue
        if r == 1:
            out.append(1)
        elif r == -1:
            out.append(0)
            seen_error = True
        elif r == 0:
            out.append({"positive": 1, "negative": 0, "ignore": None}[neutral])
            seen_error = seen_error or neutral == "negative"
        else:
            raise ValueError(f"rating must be -1, 0, 1 or None, not {r!r}")
    return tuple(out)


@dataclass
class Window:
    input_ids: list[int]
    positions: list[int]  # token index of each scored step's label token
    steps: list[int]  # step index for each position
    labels: list[int] = field(default_factory=list)  # aligned with positions; IGNORE where unlabeled


@dataclass
class Encoded:
    windows: list[Window]
    n_steps: int
    truncated: bool  # some step lost context or tokens


class StepEncoder:
    """Turns (problem, steps) into windows of at most `max_length` tokens."""

    def __init__(self, tokenizer, *, separator: str, max_length: int, max_problem_tokens: int):
        self.tokenizer = tokenizer
        self.separator = separator
        self.max_length = max_length
        self.max_problem_tokens = max_problem_tokens
        self.sep_ids = tokenizer(separator, add_special_tokens=False)["input_ids"]
        if not self.sep_ids:
            hint = f" (it drops whitespace: use its sep token {tokenizer.sep_token!r})" if tokenizer.sep_token else ""
            raise ValueError(f"separator {separator!r} encodes to no tokens with this tokenizer{hint}")
        cls_id = tokenizer.cls_token_id
        bos_id = tokenizer.bos_token_id
        self.prefix = [cls_id] if cls_id is not None else ([bos_id] if bos_id is not None else [])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def _problem_ids(self, ids: list[int]) -> tuple[list[int], bool]:
        cap = self.max_problem_tokens - len(self.sep_ids)
        if len(ids) <= cap:
            return ids + self.sep_ids, False
        # Keep head and tail: the setup is at the start, the question at the end.
        head = cap // 2
        return ids[:head] + ids[len(ids) - (cap - head):] + self.sep_ids, True

    def encode(self, problem: str, steps: Sequence[str], labels: Sequence[int | None] = ()) -> Encoded:
        pieces = self.tokenizer([problem, *steps], add_special_tokens=False)["input_ids"]
        prob, truncated = self._problem_ids(pieces[0])
        budget = self.max_length - len(self.prefix) - len(prob)
        step_ids: list[list[int]] = []
        for ids in pieces[1:]:
            if len(ids) + len(self.sep_ids) > budget:
                ids = ids[: budget - len(self.sep_ids)]
                truncated = True
            step_ids.append(ids + self.sep_ids)
        windows: list[Window] = []
        start, n = 0, len(step_ids)
        while start < n:
            # Context: as many directly preceding steps as fit in half the budget.
            ctx_len, first = 0, start
            while first > 0 and ctx_len + len(step_ids[first - 1]) <= budget // 2:
                first -= 1
                ctx_len += len(step_ids[first])
            # A long next step may not fit beside the context: give up context
            # (oldest first) rather than the step.
            while first < start and ctx_len + len(step_ids[start]) > budget:
                ctx_len -= len(step_ids[first])
                first += 1
            if first > 0:
                truncated = True
            ids = list(self.prefix) + prob
            for j in range(first, start):
                ids += step_ids[j]
            used = ctx_len
            w = Window(input_ids=ids, positions=[], steps=[], labels=[])
            j = start
            while j < n and used + len(step_ids[j]) <= budget:
                w.input_ids += step_ids[j]
                used += len(step_ids[j])
                w.positions.append(len(w.input_ids) - 1)
                w.steps.append(j)
                label = labels[j] if labels else None
                w.labels.append(IGNORE if label is None else int(label))
                j += 1
            if j == start:  # cannot happen after per-step truncation; guard against a loop
                raise AssertionError("window made no progress")
            windows.append(w)
            start = j
        if len(windows) > 1:
            truncated = True
        return Encoded(windows=windows, n_steps=n, truncated=truncated)


def collate(windows: Sequence[Window], pad_id: int):
    """Right-padded tensors: input_ids, attention_mask, token labels (IGNORE off label tokens)."""
    import torch

    width = max(len(w.input_ids) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    labels = torch.full((len(windows), width), IGNORE, dtype=torch.long)
    for r, w in enumerate(windows):
        ids[r, : len(w.input_ids)] = torch.tensor(w.input_ids, dtype=torch.long)
        mask[r, : len(w.input_ids)] = 1
        for pos, label in zip(w.positions, w.labels, strict=True):
            labels[r, pos] = label
    return ids, mask, labels

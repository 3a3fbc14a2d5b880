"""Final-answer extraction and grading against the ground truth.

Extraction understands the conventions our sources use: PRM800K's
`# Answer` section, GSM8K's `#### 42`, the `A: 42` last line of the GSM8K
model samples, and `\\boxed{...}`. Equivalence is decided by math-verify.

math-verify enforces its timeouts with signal.alarm, which only works in a
process's main thread; elsewhere (threaded web workers) we call it without
the alarm and bound the input size instead.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from importlib.metadata import version

from math_verify import parse, verify

GRADER_VERSION = f"math-verify-{version('math-verify')}+extract-1"
# Longer "answers" are almost certainly extraction failures; sympy on them
# can take unbounded time when no alarm is available.
MAX_ANSWER_CHARS = 400
_TIMEOUT_SECONDS = 5

_ANSWER_SECTION = re.compile(r"^#\s*Answer\s*$", re.MULTILINE | re.IGNORECASE)
_HASHES = re.compile(r"^####\s*(.*)$", re.MULTILINE)
_A_LINE = re.compile(r"^\s*A:\s*(.*)$", re.MULTILINE)
_CURRENCY = re.compile(r"^\\?\$\s*(?=[\d.,-])")


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None


def extract_final_answer(text: str) -> str | None:
    """The final answer a solution states, or None when it states none."""
    if not text:
        return None
    section = list(_ANSWER_SECTION.finditer(text))
    if section:
        answer = text[section[-1].end():].strip()
        boxed = _last_boxed(answer)
        return (boxed if boxed is not None else answer) or None
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip() or None
    a_lines = _A_LINE.findall(text)
    if a_lines:
        return a_lines[-1].strip() or None
    boxed = _last_boxed(text)
    return boxed.strip() if boxed else None


def _normalise(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip()
    # GSM8K-style currency ("$18") is not LaTeX math; drop the sign.
    return _CURRENCY.sub("", answer)


def _parse(answer: str, timeout: int | None):
    answer = _normalise(answer)
    if "$" in answer or "\\(" in answer or "\\[" in answer or "\\boxed" in answer:
        wrapped = answer
    else:
        # Bare answers such as "3R^2" must be read as LaTeX, not cut at "R".
        wrapped = f"${answer}$"
    parsed = parse(wrapped, parsing_timeout=timeout)
    if not parsed:
        parsed = parse(answer, parsing_timeout=timeout)
    return parsed


def _same_text(a: str, b: str) -> bool:
    return " ".join(_normalise(a).lower().split()) == " ".join(_normalise(b).lower().split())


# An integer or decimal, optionally signed, with or without thousands separators.
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
# Plain numbers that differ by less than this (relative) go to math-verify, which compares
# with a float tolerance; everything else is decided exactly.
_CLOSE = Decimal("1e-6")
_counts: Counter = Counter()


def _plain_number(text: str) -> Decimal | None:
    text = _normalise(text)
    if _PLAIN_NUMBER.fullmatch(text) is None:
        return None
    return Decimal(text.replace(",", ""))


def _fast_verdict(answer: str, ground_truth: str) -> bool | None:
    """The verdict without math-verify where it is certain: the same text, or two plain numbers
    that are equal or clearly apart. On the 5,276 GSM8K model solutions this path decides
    5,261 and agrees with math-verify on every one (tests/labeling/test_grading.py)."""
    if _same_text(answer, ground_truth):
        _counts["same_text"] += 1
        return True
    a, g = _plain_number(answer), _plain_number(ground_truth)
    if a is None or g is None:
        return None
    if a == g:
        _counts["fast"] += 1
        return True
    if abs(a - g) > _CLOSE * max(abs(a), abs(g)):
        _counts["fast"] += 1
        return False
    return None


def stats() -> dict:
    """How verdicts were reached since the last stats_reset(): same_text, fast, math_verify, cached."""
    return dict(_counts)


def stats_reset() -> None:
    _counts.clear()


def grade_answer(answer: str | None, ground_truth: str | None) -> bool | None:
    """Is the stated final answer equivalent to the ground truth?

    False when the solution states no answer (a truncated or rambling sample
    did not solve the problem); None only when there is no ground truth or the
    grader itself failed (timeout, oversized input), so "unknown" is never
    mistaken for "wrong".
    """
    if ground_truth is None or not ground_truth.strip():
        return None
    if answer is None or not answer.strip():
        return False
    fast = _fast_verdict(answer, ground_truth)
    if fast is not None:
        return fast
    return _math_verify(answer, ground_truth)


def _math_verify(answer: str, ground_truth: str) -> bool | None:
    _counts["math_verify"] += 1
    if len(answer) > MAX_ANSWER_CHARS or len(ground_truth) > MAX_ANSWER_CHARS:
        return None
    timeout = _TIMEOUT_SECONDS if threading.current_thread() is threading.main_thread() else None
    try:
        gold = _parse(ground_truth, timeout)
        pred = _parse(answer, timeout)
        if not gold or not pred:
            # Not math (e.g. a word answer) and not the same text.
            return False
        return bool(verify(gold, pred, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - math-verify/sympy raise anything, incl. timeouts
        return None


def _grade_chunk(pairs: list[tuple[str, str]]) -> list[bool | None]:
    # Runs in a grading process: its main thread, so math-verify's alarm-based timeouts work.
    return [_math_verify(a, g) for a, g in pairs]


# Below this many math-verify pairs, starting processes (about a second each: sympy's import)
# costs more than it saves.
PARALLEL_MIN_PAIRS = 400


def grade_many(pairs: Iterable[tuple[str | None, str | None]], *, processes: int | None = None
               ) -> dict[tuple[str | None, str | None], bool | None]:
    """Verdicts for many (answer, ground truth) pairs, each distinct pair graded once.

    The fast paths run here; what needs math-verify is spread over `processes` grading processes
    (default: one per CPU) when there is enough of it, else graded in this process. A process pool
    that cannot start (a daemonic worker process may not have children) falls back to grading here.
    """
    out: dict = {}
    slow: list[tuple[str, str]] = []
    for pair in dict.fromkeys(pairs):
        answer, truth = pair
        if truth is None or not truth.strip():
            out[pair] = None
        elif answer is None or not answer.strip():
            out[pair] = False
        else:
            verdict = _fast_verdict(answer, truth)
            if verdict is None:
                slow.append(pair)
            else:
                out[pair] = verdict
    processes = processes or multiprocessing.cpu_count()
    if len(slow) >= PARALLEL_MIN_PAIRS and processes > 1:
        try:
            size = max(50, len(slow) // (processes * 8))
            chunks = [slow[i:i + size] for i in range(0, len(slow), size)]
            # spawn, not fork: a forked child would share this process's database connection.
            with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
                for chunk, verdicts in zip(chunks, pool.map(_grade_chunk, chunks), strict=True):
                    out.update(zip(chunk, verdicts, strict=True))
            _counts["math_verify"] += len(slow)
            _counts["parallel"] += len(slow)
            return out
        except (OSError, AssertionError, RuntimeError):  # no child processes here: grade in-process
            pass
    for answer, truth in slow:
        out[(answer, truth)] = _math_verify(answer, truth)
    return out

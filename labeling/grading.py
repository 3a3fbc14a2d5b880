"""Final-answer extraction and grading against the ground truth.

Extraction understands the conventions our sources use: PRM800K's
`# Answer` section, GSM8K's `#### 42`, the `A: 42` last line of the GSM8K
model samples, and `\\boxed{...}`. Equivalence is decided by math-verify.

math-verify enforces its timeouts with signal.alarm, which only works in a
process's main thread; elsewhere (threaded web workers) we call it without
the alarm and bound the input size instead.
"""

from __future__ import annotations

import re
import threading
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
    if _same_text(answer, ground_truth):
        return True
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

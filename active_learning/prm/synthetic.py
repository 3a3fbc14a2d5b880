"""Synthetic step-labeled data from GSM8K reference solutions.

GSM8K train solutions carry calculator annotations, `<<48/2=24>>24`, which
make every intermediate value explicit. We inject one plausible error at a
chosen step and carry it forward: every later calculation that used a
changed value is recomputed, so the solution stays internally consistent and
reaches a wrong final answer, exactly like a real model's slip. Labels are
then exact: steps before the error are correct, the corrupted step is the
first error, and later steps are unlabeled (the paper does not train on them).

Error kinds:
- wrong_result: the arithmetic of one calculation is off (48/2 = 26);
- misread_number: an operand is misread (48/3 instead of 48/2), computed right;
- dropped_term: one term of a sum or difference is left out.
"""

from __future__ import annotations

import ast
import json
import operator
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from active_learning.prm.data import SolutionExample

CALC = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\d)")
KINDS = ("wrong_result", "misread_number", "dropped_term")

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate_expr(expr: str) -> Fraction | None:
    """Exact value of a calculator expression (+ - * / and parentheses), or None."""
    try:
        tree = ast.parse(expr.replace(",", "").replace("x", "*").strip(), mode="eval")
    except SyntaxError:
        return None

    def ev(node) -> Fraction:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            right = ev(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ZeroDivisionError
            return _OPS[type(node.op)](ev(node.left), right)
        raise ValueError("unsupported")

    try:
        return ev(tree)
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


def fmt(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def parse_number(text: str) -> Fraction | None:
    try:
        return Fraction(text.replace(",", "").strip())
    except (ValueError, ZeroDivisionError):
        return None


@dataclass(frozen=True)
class Reference:
    question: str
    steps: tuple[str, ...]  # without the final "#### x" line
    answer: str


def parse_reference(question: str, answer: str) -> Reference | None:
    if "####" not in answer:
        return None
    body, final = answer.rsplit("####", 1)
    steps = tuple(line.strip() for line in body.strip().split("\n") if line.strip())
    return Reference(question=question.strip(), steps=steps, answer=final.strip().replace(",", ""))


def _perturb(value: Fraction, rng: random.Random) -> Fraction:
    choice = rng.random()
    if value.denominator == 1 and abs(value) >= 10 and choice < 0.3:
        # Transposed digits, a classic slip.
        digits = list(str(abs(value.numerator)))
        i = rng.randrange(len(digits) - 1)
        digits[i], digits[i + 1] = digits[i + 1], digits[i]
        new = Fraction(int("".join(digits))) * (1 if value >= 0 else -1)
        if new != value:
            return new
    if choice < 0.5 and value != 0:
        return value * rng.choice([Fraction(10), Fraction(1, 2), Fraction(2)])
    delta = rng.choice([1, 2, 3, 4, 5, 10])
    return value + delta if rng.random() < 0.5 or value - delta <= 0 else value - delta


def _replace_number(text: str, old: Fraction, new: Fraction) -> tuple[str, bool]:
    """Replace the first standalone occurrence of `old` in `text` by `new`."""
    for m in NUMBER.finditer(text):
        if parse_number(m.group()) == old:
            return text[: m.start()] + fmt(new) + text[m.end():], True
    return text, False


def _rewrite_calc(step: str, m: re.Match, new_expr: str, new_value: Fraction) -> str:
    """Rewrite one annotation and the visible result right after it."""
    old_result = m.group(2)
    tail = step[m.end():]
    if tail.startswith(old_result):
        tail = fmt(new_value) + tail[len(old_result):]
    head = step[: m.start()]
    return head + f"<<{new_expr}={fmt(new_value)}>>" + tail


def _substitute(expr: str, changed: dict[Fraction, Fraction]) -> str:
    def repl(m: re.Match) -> str:
        v = parse_number(m.group())
        return fmt(changed[v]) if v in changed else m.group()

    return NUMBER.sub(repl, expr)


def corrupt(ref: Reference, rng: random.Random, kind: str | None = None) -> tuple[list[str], int, str, str] | None:
    """(steps, first_error_index, wrong_answer, kind), or None if this reference cannot be corrupted.

    The error is carried forward: values derived from the changed one are
    recomputed in later annotations and in the visible text.
    """
    steps = list(ref.steps)
    sites = []
    for i, step in enumerate(steps):
        for m in CALC.finditer(step):
            value = evaluate_expr(m.group(1))
            if value is not None and value == parse_number(m.group(2)):
                sites.append((i, m.start()))
    if not sites:
        return None
    i, start = rng.choice(sites)
    m = next(x for x in CALC.finditer(steps[i]) if x.start() == start)
    expr, old_value = m.group(1), parse_number(m.group(2))
    kind = kind or rng.choice(KINDS)
    new_expr = expr
    if kind == "wrong_result":
        new_value = _perturb(old_value, rng)
    elif kind == "misread_number":
        operands = [x for x in NUMBER.finditer(expr)]
        if not operands:
            return None
        op = rng.choice(operands)
        old_operand = parse_number(op.group())
        new_operand = _perturb(old_operand, rng)
        new_expr = expr[: op.start()] + fmt(new_operand) + expr[op.end():]
        new_value = evaluate_expr(new_expr)
        # The misread number also shows in the prose before the annotation.
        steps[i] = _replace_number(steps[i][: m.start()], old_operand, new_operand)[0] + steps[i][m.start():]
        m = next(x for x in CALC.finditer(steps[i]) if x.group(1) == expr)
    elif kind == "dropped_term":
        terms = re.split(r"(?<=[\d)])\s*([+-])\s*", expr)
        if len(terms) < 5 or "(" in expr:  # need at least three terms, flat
            return None
        drop = rng.randrange(1, (len(terms) + 1) // 2) * 2  # a term after an operator
        new_expr = "".join(terms[: drop - 1] + terms[drop + 1:])
        new_value = evaluate_expr(new_expr)
        visible = steps[i][: m.start()]
        dropped = terms[drop]
        steps[i] = visible.replace(f" {terms[drop - 1]} {dropped}", "", 1) + steps[i][m.start():]
        m = next(x for x in CALC.finditer(steps[i]) if x.group(1) == expr)
    else:
        raise ValueError(f"unknown error kind {kind!r}")
    if new_value is None or new_value == old_value or new_value < 0:
        return None
    steps[i] = _rewrite_calc(steps[i], m, new_expr, new_value)
    changed = {old_value: new_value}
    # Carry forward through the rest of this step and every later one.
    first = True
    for j in range(i, len(steps)):
        pos = 0
        while True:
            found = [x for x in CALC.finditer(steps[j]) if x.start() >= pos]
            if first:
                # Skip the annotation we corrupted.
                found = [x for x in found if x.group(1) != new_expr or x.start() > m.start()]
                first = False
            if not found:
                break
            x = found[0]
            sub = _substitute(x.group(1), changed)
            value = evaluate_expr(sub)
            if value is None:
                return None
            old = parse_number(x.group(2))
            if sub != x.group(1) or (old is not None and value != old and old in changed):
                if old is not None and value != old:
                    changed[old] = value
                prose = steps[j][: x.start()]
                for o, n in changed.items():
                    prose = _replace_number(prose, o, n)[0]
                steps[j] = prose + steps[j][x.start():]
                x = next(y for y in CALC.finditer(steps[j]) if y.group(1) == x.group(1) and y.start() >= len(prose))
                steps[j] = _rewrite_calc(steps[j], x, sub, value)
            pos = x.start() + 1
    final = parse_number(ref.answer)
    if final is None:
        return None
    wrong = changed.get(final)
    if wrong is None:
        return None  # the error did not reach the answer: not a clean wrong-answer sample
    return steps, i, fmt(wrong), kind


def _answer_step(answer: str) -> str:
    return f"The answer is {answer}"


def build_examples(records: Iterable[dict], *, variants: int = 2, seed: int = 0) -> Iterator[SolutionExample]:
    """For each GSM8K {question, answer}: the reference (all correct) plus up to `variants` corruptions."""
    rng = random.Random(seed)
    for n, rec in enumerate(records):
        ref = parse_reference(rec["question"], rec["answer"])
        if ref is None:
            continue
        group = f"gsm8k-train-{n}"
        steps = (*ref.steps, _answer_step(ref.answer))
        yield SolutionExample(
            problem=ref.question, steps=steps, labels=(1,) * len(steps), group=group,
            answer_correct=True, answer=ref.answer, key=f"{group}-ref",
        )
        seen = {steps}
        for v in range(variants * 3):  # a few tries per wanted variant
            if len(seen) > variants:
                break
            out = corrupt(ref, rng)
            if out is None:
                continue
            bad_steps, err, wrong, kind = out
            full = (*bad_steps, _answer_step(wrong))
            if full in seen:
                continue
            seen.add(full)
            labels = tuple(1 if k < err else (0 if k == err else None) for k in range(len(full)))
            yield SolutionExample(
                problem=ref.question, steps=full, labels=labels, group=group, answer_correct=False,
                answer=wrong, key=f"{group}-{kind}-{v}",
            )


def prm800k_records(examples: Iterable[SolutionExample], *, labeler: str = "synthetic-oracle",
                    timestamp: str = "2026-01-01T00:00:00") -> Iterator[dict]:
    """Examples as PRM800K phase-2 records, shaped like the real ones.

    The solution is `pre_generated_steps`; the label covers the steps up to
    the first error, whose `chosen_completion` is null as in PRM800K. The
    ground truth is the answer of the group's reference solution, which
    build_examples yields before its corruptions. The records import with
    `import_solutions` as submitted labels and feed the LabeledOracle.
    """
    truth: dict[str, str] = {}
    for ex in examples:
        if ex.answer_correct:
            truth.setdefault(ex.group, ex.answer)
        steps = []
        for text, label in zip(ex.steps, ex.labels, strict=True):
            if label is None:
                break
            rating = 1 if label == 1 else -1
            steps.append({"completions": [{"text": text, "rating": rating, "flagged": False}],
                          "human_completion": None, "chosen_completion": 0 if rating == 1 else None})
        finish = "found_error" if steps and steps[-1]["completions"][0]["rating"] == -1 else "solution"
        yield {
            "labeler": labeler, "timestamp": timestamp, "generation": None,
            "is_quality_control_question": False, "is_initial_screening_question": False,
            "question": {"problem": ex.problem, "ground_truth_answer": truth.get(ex.group),
                         "pre_generated_steps": list(ex.steps), "pre_generated_answer": ex.answer},
            "label": {"steps": steps, "total_time": None, "finish_reason": finish},
        }


def read_gsm8k(path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)

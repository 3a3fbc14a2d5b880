import itertools
import random
from fractions import Fraction

from active_learning.management.commands.simulate_active_learning import BUNDLED_GSM8K
from active_learning.prm.synthetic import (
    CALC,
    Reference,
    build_examples,
    corrupt,
    evaluate_expr,
    parse_number,
    read_gsm8k,
)

NATALIA = Reference(
    question="Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    steps=("Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
           "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May."),
    answer="72",
)


def test_calculator_expressions_evaluate_exactly():
    assert evaluate_expr("48/2") == 24
    assert evaluate_expr("(3+4)*2-1") == 13
    assert evaluate_expr("1/3") == Fraction(1, 3)
    assert evaluate_expr("2**100") is None  # only + - * /
    assert evaluate_expr("__import__('os')") is None
    assert evaluate_expr("4/0") is None


def test_a_wrong_result_is_carried_forward_to_a_wrong_final_answer():
    for seed in range(20):
        out = corrupt(NATALIA, random.Random(seed), kind="wrong_result")
        if out is None:
            continue
        steps, err, wrong, kind = out
        assert kind == "wrong_result"
        if err == 0:
            first = CALC.search(steps[0])
            assert evaluate_expr(first.group(1)) != parse_number(first.group(2))  # the slip itself
            second = CALC.search(steps[1])
            # ...and the next step uses the wrong value consistently.
            assert evaluate_expr(second.group(1)) == parse_number(second.group(2)) == parse_number(wrong)
            assert f"{first.group(2)}" in second.group(1)
        assert wrong != "72"


def test_a_misread_number_changes_the_prose_and_the_calculation_consistently():
    out = corrupt(NATALIA, random.Random(1), kind="misread_number")
    assert out is not None
    steps, err, wrong, _ = out
    m = CALC.search(steps[err])
    assert evaluate_expr(m.group(1)) == parse_number(m.group(2))  # arithmetic is right...
    assert wrong != "72"  # ...but the answer is not


def test_generated_set_has_exact_labels_on_real_gsm8k():
    records = list(itertools.islice(read_gsm8k(BUNDLED_GSM8K), 200))
    examples = list(build_examples(records, variants=2, seed=0))
    refs = [e for e in examples if e.answer_correct]
    bad = [e for e in examples if e.answer_correct is False]
    assert len(refs) == 200
    assert len(bad) > 250  # most problems yield two distinct corruptions
    for e in bad:
        err = e.first_error
        assert err is not None and err >= 0
        assert e.labels[:err] == (1,) * err
        assert all(x is None for x in e.labels[err + 1 :])
        ref = next(r for r in refs if r.group == e.group)
        assert e.answer != ref.answer
        assert e.steps[:err] == ref.steps[:err]  # untouched before the error
        assert e.steps[-1] == f"The answer is {e.answer}"
    kinds = {e.key.split("-")[3] for e in bad}
    assert {"wrong_result", "misread_number"} <= kinds

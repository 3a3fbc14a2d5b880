"""labeling.quality.metrics: hand-computed fixtures, and the `krippendorff` package as an
independent reference for alpha (the module itself must not use it)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import krippendorff
import numpy as np
import pytest

from labeling.quality.metrics import (
    CATEGORIES,
    GoldComparison,
    alpha_from_pair_counts,
    alpha_ordinal,
    cohen_kappa,
    cohen_kappa_from_pairs,
    coincidence_from_units,
    first_error_agreement,
    first_error_index,
    gold_compare,
    krippendorff_alpha_ordinal,
)

REPO = Path(__file__).resolve().parents[3]
T, F = True, False


def close(expected: float) -> object:
    return pytest.approx(expected, abs=1e-9, rel=0)


def assert_invariants(result: GoldComparison) -> None:
    assert result.compared == result.gold_negatives + result.gold_fine
    assert 0 <= result.misses <= result.gold_negatives
    assert 0 <= result.false_alarms <= result.gold_fine
    assert result.matches + result.misses + result.false_alarms <= result.compared
    assert result.first_error_within_one or not result.first_error_exact


# --- purity ----------------------------------------------------------------------------------


def test_module_imports_neither_django_nor_krippendorff():
    # A fresh interpreter: this test process already has both loaded.
    code = (
        "import sys, labeling.quality.metrics; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'krippendorff')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# --- first_error_index -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([], None),
        ([1, 0, 1], None),
        ([None, None], None),
        ([-1], 0),
        ([1, 1, -1, -1], 2),
        ([1, None, 0, -1, 1], 3),
    ],
)
def test_first_error_index(ratings, expected):
    assert first_error_index(ratings) == expected


@pytest.mark.parametrize("bad", [2, -2, 0.5, "1"])
def test_first_error_index_rejects_non_ratings(bad):
    with pytest.raises(ValueError, match="not a rating"):
        first_error_index([1, bad])


# --- gold_compare ----------------------------------------------------------------------------


def test_gold_compare_false_alarm_and_early_first_error():
    result = gold_compare([1, 1, -1], [1, -1])
    assert result == GoldComparison(
        compared=2,
        matches=1,
        gold_first_error=2,
        label_first_error=1,
        first_error_exact=False,
        first_error_within_one=True,
        misses=0,
        gold_negatives=0,
        false_alarms=1,
        gold_fine=2,
    )
    assert result.step_accuracy == 0.5
    assert_invariants(result)


def test_gold_compare_miss():
    # The annotator rated the wrong step neutral and the next one negative.
    result = gold_compare([1, -1, -1, 1], [1, 0, -1, 1])
    assert result.compared == 4
    assert result.matches == 3
    assert (result.misses, result.gold_negatives) == (1, 2)
    assert (result.false_alarms, result.gold_fine) == (0, 2)
    assert (result.gold_first_error, result.label_first_error) == (1, 2)
    assert not result.first_error_exact
    assert result.first_error_within_one
    assert result.step_accuracy == 0.75
    assert_invariants(result)


def test_gold_compare_missed_error_entirely_is_not_within_one():
    result = gold_compare([1, -1], [1, 1])
    assert (result.gold_first_error, result.label_first_error) == (1, None)
    assert not result.first_error_exact
    assert not result.first_error_within_one
    assert result.misses == 1


def test_gold_compare_first_error_two_steps_apart():
    result = gold_compare([-1, 1, 1], [1, 1, -1])
    assert (result.gold_first_error, result.label_first_error) == (0, 2)
    assert not result.first_error_exact
    assert not result.first_error_within_one
    assert (result.misses, result.false_alarms) == (1, 1)
    assert result.matches == 1
    assert_invariants(result)


def test_gold_compare_length_mismatch_compares_common_prefix_only():
    # The annotator stopped at their first negative (first-error mode); gold goes on.
    result = gold_compare([1, 0, -1, 1, -1], [1, 0, -1])
    assert result.compared == 3
    assert result.matches == 3
    assert result.gold_negatives == 1
    assert result.misses == 0
    assert result.first_error_exact
    assert result.step_accuracy == 1.0
    # And the other way round: gold shorter than the labels.
    swapped = gold_compare([1, -1], [1, 1, 1, -1])
    assert swapped.compared == 2
    assert swapped.misses == 1
    assert swapped.false_alarms == 0
    assert (swapped.gold_first_error, swapped.label_first_error) == (1, 3)
    assert_invariants(result)
    assert_invariants(swapped)


def test_gold_compare_skips_steps_unrated_on_either_side():
    result = gold_compare([1, None, -1, 0], [None, -1, -1, -1])
    # Only steps 2 and 3 are rated in both.
    assert result.compared == 2
    assert result.matches == 1
    assert (result.gold_negatives, result.misses) == (1, 0)
    assert (result.gold_fine, result.false_alarms) == (1, 1)
    # First errors use the whole lists, including steps the other side left unrated.
    assert (result.gold_first_error, result.label_first_error) == (2, 1)
    assert result.first_error_within_one
    assert_invariants(result)


def test_gold_compare_all_none():
    result = gold_compare([None, None, None], [None, None])
    assert result.compared == 0
    assert result.matches == 0
    assert result.step_accuracy is None
    assert (result.misses, result.gold_negatives, result.false_alarms, result.gold_fine) == (0, 0, 0, 0)
    # Neither side found an error: that is agreement on the first-error position.
    assert result.gold_first_error is None and result.label_first_error is None
    assert result.first_error_exact
    assert result.first_error_within_one


def test_gold_compare_rejects_non_ratings():
    with pytest.raises(ValueError, match=r"labels\[1\]"):
        gold_compare([1, 1], [1, 5])


def test_gold_comparison_is_frozen():
    result = gold_compare([1], [1])
    with pytest.raises(AttributeError):
        result.matches = 0  # type: ignore[misc]


# --- coincidence matrix ----------------------------------------------------------------------


def test_coincidence_from_units_by_hand():
    # One unit with values {-1, 0, 0} (m_u = 3): each -1/0 pair counts 1*2/2 = 1 each way,
    # the two 0s pair with each other 2*1/2 = 1. A lone +1 in another unit is not pairable.
    matrix = coincidence_from_units([{-1: 1, 0: 2}, {1: 1}, {}])
    assert matrix == [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]


def test_coincidence_total_is_number_of_pairable_values():
    units = [{-1: 2, 1: 1}, {0: 4}, {1: 1}, {-1: 1, 0: 1, 1: 3}]
    matrix = coincidence_from_units(units)
    assert sum(map(sum, matrix)) == close(3 + 4 + 5)
    assert all(matrix[c][k] == close(matrix[k][c]) for c in range(3) for k in range(3))


def test_coincidence_rejects_bad_units():
    with pytest.raises(ValueError, match="not one of the categories"):
        coincidence_from_units([{2: 2}])
    with pytest.raises(ValueError, match="non-negative"):
        coincidence_from_units([{0: -1, 1: 3}])
    with pytest.raises(TypeError):
        coincidence_from_units([{0: 1.5, 1: 1}])


# --- Krippendorff's alpha --------------------------------------------------------------------


def units_from_reliability(data: np.ndarray) -> list[Counter[int]]:
    """Reliability data (coders x units, NaN = missing) to per-unit value counts."""
    return [Counter(int(value) for value in column if not np.isnan(value)) for column in np.asarray(data).T]


def reference_alpha(data, value_domain=CATEGORIES) -> float:
    return float(
        krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=list(value_domain))
    )


def random_reliability(seed: int, coders: int, units: int, *, agreement: float, missing: float) -> np.ndarray:
    # Coders copy a latent true rating with probability `agreement`, otherwise rate at random,
    # so alpha lands well away from 0 for some cases and near 0 for others.
    rng = np.random.default_rng(seed)
    truth = rng.choice(CATEGORIES, size=units, p=[0.25, 0.35, 0.4])
    noise = rng.choice(CATEGORIES, size=(coders, units))
    data = np.where(rng.random((coders, units)) < agreement, truth, noise).astype(float)
    data[rng.random((coders, units)) < missing] = np.nan
    return data


@pytest.mark.parametrize(
    ("seed", "coders", "units", "agreement", "missing"),
    [
        (0, 3, 20, 0.6, 0.1),
        (1, 4, 80, 0.85, 0.3),
        (2, 5, 150, 0.3, 0.5),
        (3, 6, 200, 0.95, 0.4),
        (4, 3, 200, 0.0, 0.2),
    ],
)
def test_alpha_matches_krippendorff_package(seed, coders, units, agreement, missing):
    data = random_reliability(seed, coders, units, agreement=agreement, missing=missing)
    expected = reference_alpha(data)
    ours = krippendorff_alpha_ordinal(units_from_reliability(data))
    assert ours == close(expected)
    assert alpha_ordinal(coincidence_from_units(units_from_reliability(data))) == close(expected)


def test_alpha_krippendorff_2011_example_four_coders_five_values():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers,
    # 12 units, values 1..5, missing data; published ordinal alpha 0.815. Unit 12 has a
    # single value and must be ignored.
    nan = np.nan
    data = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        ]
    )
    categories = (1, 2, 3, 4, 5)
    ours = krippendorff_alpha_ordinal(units_from_reliability(data), categories=categories)
    assert round(ours, 3) == 0.815
    assert ours == close(reference_alpha(data, categories))


def test_alpha_krippendorff_2011_example_binary_two_coders():
    # Krippendorff (2011), binary data, two observers, no missing data: alpha = 0.095.
    # By hand: o_00 = 10, o_01 = o_10 = 4, o_11 = 2, n_0 = 14, n_1 = 6, n = 20, and with two
    # categories the ordinal metric is constant, so alpha = 1 - 19 * 4 / (14 * 6) = 2/21.
    coder_a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    coder_b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    counts = Counter(zip(coder_a, coder_b, strict=True))
    assert alpha_from_pair_counts(counts) == close(2 / 21)
    assert krippendorff_alpha_ordinal(units_from_reliability(np.array([coder_a, coder_b], float))) == close(2 / 21)
    assert reference_alpha([coder_a, coder_b]) == close(2 / 21)


def test_alpha_ordinal_by_hand_adjacent_versus_extreme_disagreement():
    # Units (-1,-1), (0,0), (+1,+1) and one disagreement. Adjacent (-1 vs 0):
    # n = (3, 3, 2), n = 8; delta(-1,0) = (6 - 3)^2 = 9, delta(0,1) = (5 - 2.5)^2 = 6.25,
    # delta(-1,1) = (8 - 2.5)^2 = 30.25; observed 2*9 = 18, expected 2*(81 + 37.5 + 181.5) = 600;
    # alpha = 1 - 7 * 18 / 600 = 0.79.
    adjacent = alpha_from_pair_counts({(-1, -1): 1, (0, 0): 1, (1, 1): 1, (-1, 0): 1})
    assert adjacent == close(0.79)
    # Extreme (-1 vs +1): n = (3, 2, 3); delta(-1,1) = (8 - 3)^2 = 25, the others 6.25;
    # observed 2*25 = 50, expected 2*(37.5 + 225 + 37.5) = 600; alpha = 1 - 350/600 = 5/12.
    extreme = alpha_from_pair_counts({(-1, -1): 1, (0, 0): 1, (1, 1): 1, (-1, 1): 1})
    assert extreme == close(5 / 12)


def test_alpha_perfect_agreement_on_two_categories_is_one():
    assert krippendorff_alpha_ordinal([{1: 3}, {-1: 2}, {1: 2}, {-1: 4}]) == 1.0
    assert alpha_from_pair_counts({(0, 0): 5, (1, 1): 2}) == 1.0


@pytest.mark.parametrize(
    "units",
    [
        [],  # no data
        [{1: 1}, {0: 1}, {-1: 1}],  # no unit has two values
        [{1: 3}, {1: 2}],  # perfect agreement, single category: 0/0
        [{0: 5}],
    ],
)
def test_alpha_undefined(units):
    assert krippendorff_alpha_ordinal(units) is None


def test_alpha_pair_counts_undefined():
    assert alpha_from_pair_counts({}) is None
    assert alpha_from_pair_counts({(1, 1): 10}) is None
    assert alpha_from_pair_counts({(1, 1): 0, (-1, 1): 0}) is None


def test_alpha_from_pair_counts_matches_package_on_two_coders():
    data = random_reliability(7, 2, 150, agreement=0.7, missing=0.25)
    both = ~np.isnan(data).any(axis=0)
    counts = Counter(zip(data[0, both].astype(int).tolist(), data[1, both].astype(int).tolist(), strict=True))
    expected = reference_alpha(data)
    assert alpha_from_pair_counts(counts) == close(expected)
    assert alpha_from_pair_counts(counts) == close(krippendorff_alpha_ordinal(units_from_reliability(data)))


def test_alpha_is_symmetric_in_the_coders():
    counts = {(-1, 0): 3, (0, 1): 4, (1, 1): 7, (-1, -1): 2, (1, -1): 1}
    swapped = {(b, a): n for (a, b), n in counts.items()}
    assert alpha_from_pair_counts(counts) == close(alpha_from_pair_counts(swapped))


def test_alpha_ordinal_rejects_malformed_matrices():
    with pytest.raises(ValueError, match="symmetric"):
        # A one-way (coder a, coder b) table is not a coincidence matrix.
        alpha_ordinal([[2, 1, 0], [0, 2, 0], [0, 0, 2]])
    with pytest.raises(ValueError, match="square"):
        alpha_ordinal([[1, 0], [0, 1], [0, 0]])
    with pytest.raises(ValueError, match="non-negative"):
        alpha_ordinal([[1, -1], [-1, 1]])
    with pytest.raises(ValueError, match="non-negative"):
        alpha_ordinal([[1, float("nan")], [float("nan"), 1]])


def test_alpha_from_pair_counts_rejects_unknown_ratings():
    with pytest.raises(ValueError, match="not one of the categories"):
        alpha_from_pair_counts({(1, None): 3})  # type: ignore[dict-item]


# --- Cohen's kappa ---------------------------------------------------------------------------


def test_cohen_kappa_by_hand():
    # n = 50, p_o = 35/50 = 0.7; A says True 25/50, B says True 30/50;
    # p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    counts = {(T, T): 20, (T, F): 5, (F, T): 10, (F, F): 15}
    assert cohen_kappa(counts) == close(0.4)
    pairs = [(T, T)] * 20 + [(T, F)] * 5 + [(F, T)] * 10 + [(F, F)] * 15
    assert cohen_kappa_from_pairs(pairs) == close(0.4)


def test_cohen_kappa_extremes():
    assert cohen_kappa({(T, T): 4, (F, F): 6}) == 1.0
    # Complete disagreement with balanced marginals: p_o = 0, p_e = 0.5.
    assert cohen_kappa({(T, F): 5, (F, T): 5}) == close(-1.0)
    # One rater constant, the other not: p_e < 1 so kappa is defined, and it is 0.
    assert cohen_kappa({(T, T): 3, (T, F): 1}) == close(0.0)


@pytest.mark.parametrize(
    "counts",
    [
        {},
        {(T, T): 0, (F, F): 0},
        {(T, T): 12},  # both always True: p_e == 1
        {(F, F): 3},
    ],
)
def test_cohen_kappa_undefined(counts):
    assert cohen_kappa(counts) is None


def test_cohen_kappa_from_pairs_undefined_and_invalid():
    assert cohen_kappa_from_pairs([]) is None
    assert cohen_kappa_from_pairs([(F, F)] * 4) is None
    with pytest.raises(ValueError, match="boolean"):
        cohen_kappa_from_pairs([(T, None)])  # type: ignore[list-item]


# --- first_error_agreement -------------------------------------------------------------------


def test_first_error_agreement():
    pairs = [
        (2, 2),  # exact
        (None, None),  # exact: both found no error
        (1, 2),  # within one
        (3, 1),  # two apart
        (None, 0),  # error versus no error
    ]
    assert first_error_agreement(pairs) == {"pairs": 5, "exact": 2 / 5, "within_one": 3 / 5}


def test_first_error_agreement_accepts_an_iterator_and_empty():
    assert first_error_agreement(iter([(0, 1)])) == {"pairs": 1, "exact": 0.0, "within_one": 1.0}
    assert first_error_agreement([]) == {"pairs": 0, "exact": None, "within_one": None}

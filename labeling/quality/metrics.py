"""Agreement metrics for step-level ratings: against gold labels and between annotators.

This module is pure (no Django, no I/O) so the numbers can be checked in isolation and
fed from anywhere: Python loops over labels, or SQL aggregates that only return counts.

Conventions shared by every function here:

* A rating is -1 (negative: the step is wrong), 0 (neutral), +1 (positive), or None
  (the step was not rated). Any other value raises ValueError.
* A step list is indexed by step position. Lists of one solution may differ in length:
  in first-error mode an annotator stops rating after the first negative step.
* A "first error" is the index of the first -1 in a step list, or None when there is none.
* Metrics that can be undefined (no data, no variation) return None rather than a number,
  so a caller cannot mistake "nothing to measure" for perfect or zero agreement.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

NEGATIVE = -1

# Ordinal order of the ratings; coincidence matrices are indexed in this order.
CATEGORIES: tuple[int, ...] = (-1, 0, 1)

_VALID_RATINGS = frozenset(CATEGORIES)

# Coincidence matrices built by a caller (e.g. from SQL floats) are only symmetric up to rounding.
_SYMMETRY_TOLERANCE = 1e-9


# --- Gold comparison -------------------------------------------------------------------------


def _check_ratings(ratings: Sequence[int | None], *, name: str) -> None:
    for position, rating in enumerate(ratings):
        if rating is not None and rating not in _VALID_RATINGS:
            raise ValueError(f"{name}[{position}] = {rating!r} is not a rating (-1, 0, 1 or None)")


def first_error_index(ratings: Sequence[int | None]) -> int | None:
    """Index of the first -1 in `ratings`, or None when no step is rated negative.

    Unrated steps (None) before the first negative do not stop the scan: an annotator may
    skip a step and still mark a later one wrong.
    """
    _check_ratings(ratings, name="ratings")
    for position, rating in enumerate(ratings):
        if rating == NEGATIVE:
            return position
    return None


def _first_errors_equal(a: int | None, b: int | None) -> bool:
    # Both None means both say "no error anywhere": that is agreement, not missing data.
    return a == b


def _first_errors_within_one(a: int | None, b: int | None) -> bool:
    if a is None or b is None:
        # "No error" versus "error at step k" is a disagreement whatever k is.
        return a is None and b is None
    return abs(a - b) <= 1


@dataclass(frozen=True)
class GoldComparison:
    """How one annotator's step ratings compare with the gold ratings of the same solution.

    Step counts only cover steps rated (non-None) in both lists. Invariants:

    * ``compared == gold_negatives + gold_fine``
    * ``0 <= misses <= gold_negatives`` and ``0 <= false_alarms <= gold_fine``
    * ``matches + misses + false_alarms <= compared`` (misses and false alarms are mismatches;
      a 0 against a +1 is a mismatch that is neither)
    * ``first_error_exact`` implies ``first_error_within_one``

    The first-error fields use each full list, rated steps or not, because the first error is
    a property of the whole solution, not of the steps both happened to rate.
    """

    compared: int
    matches: int
    gold_first_error: int | None
    label_first_error: int | None
    first_error_exact: bool
    first_error_within_one: bool
    misses: int
    gold_negatives: int
    false_alarms: int
    gold_fine: int

    @property
    def step_accuracy(self) -> float | None:
        """Fraction of compared steps with the same rating; None when no step was compared."""
        if self.compared == 0:
            return None
        return self.matches / self.compared


def gold_compare(gold: Sequence[int | None], labels: Sequence[int | None]) -> GoldComparison:
    """Compare an annotator's step ratings (`labels`) with the gold ratings of one solution.

    A miss is a gold -1 the annotator rated 0 or +1; a false alarm is a gold 0/+1 the
    annotator rated -1. Neutral and positive are both "fine" here: what matters for a
    process reward model is whether a step is wrong.
    """
    _check_ratings(gold, name="gold")
    _check_ratings(labels, name="labels")
    compared = matches = misses = gold_negatives = false_alarms = gold_fine = 0
    # Not strict: steps past the end of the shorter list were not rated by one side
    # (first-error mode stops after the first negative), so they cannot be compared.
    for gold_rating, label_rating in zip(gold, labels, strict=False):
        if gold_rating is None or label_rating is None:
            continue
        compared += 1
        if gold_rating == label_rating:
            matches += 1
        if gold_rating == NEGATIVE:
            gold_negatives += 1
            if label_rating != NEGATIVE:
                misses += 1
        else:
            gold_fine += 1
            if label_rating == NEGATIVE:
                false_alarms += 1
    gold_first_error = first_error_index(gold)
    label_first_error = first_error_index(labels)
    return GoldComparison(
        compared=compared,
        matches=matches,
        gold_first_error=gold_first_error,
        label_first_error=label_first_error,
        first_error_exact=_first_errors_equal(gold_first_error, label_first_error),
        first_error_within_one=_first_errors_within_one(gold_first_error, label_first_error),
        misses=misses,
        gold_negatives=gold_negatives,
        false_alarms=false_alarms,
        gold_fine=gold_fine,
    )


# --- Krippendorff's alpha (ordinal) ---------------------------------------------------------


def _count(value: int) -> int:
    # operator.index rejects floats: a fractional "number of coders/units" means the caller
    # aggregated the wrong thing, and rounding it silently would hide that.
    count = operator.index(value)
    if count < 0:
        raise ValueError(f"counts must be non-negative, got {count}")
    return count


def _category_positions(categories: Sequence[int]) -> dict[int, int]:
    positions = {category: position for position, category in enumerate(categories)}
    if len(positions) != len(categories):
        raise ValueError(f"categories must be distinct, got {tuple(categories)!r}")
    return positions


def _position(positions: Mapping[int, int], value: int) -> int:
    try:
        return positions[value]
    except KeyError:
        raise ValueError(f"{value!r} is not one of the categories {tuple(positions)!r}") from None


def _zero_matrix(size: int) -> list[list[float]]:
    return [[0.0] * size for _ in range(size)]


def coincidence_from_units(
    units: Iterable[Mapping[int, int]], *, categories: Sequence[int] = CATEGORIES
) -> list[list[float]]:
    """Krippendorff's coincidence matrix from per-unit value counts.

    Each unit (here: a step) is ``{rating: number of coders who gave it}``. With ``m_u`` the
    number of values in the unit, it adds ``n_c * n_k / (m_u - 1)`` to ``o[c][k]`` for
    ``c != k`` and ``n_c * (n_c - 1) / (m_u - 1)`` to ``o[c][c]``. Units with fewer than two
    values are skipped. Rows and columns follow the order of `categories` (default
    CATEGORIES, i.e. -1, 0, +1).

    Invariants: the result is symmetric, non-negative, and its total equals the number of
    pairable values (the sum of ``m_u`` over units with ``m_u >= 2``).
    """
    positions = _category_positions(categories)
    coincidence = _zero_matrix(len(positions))
    for unit in units:
        values = [(_position(positions, value), _count(count)) for value, count in unit.items()]
        pairable = sum(count for _, count in values)
        if pairable < 2:
            # A lone value has no partner within its unit to agree or disagree with.
            continue
        for row, row_count in values:
            for column, column_count in values:
                # A value cannot be paired with itself, hence the -1 on the diagonal.
                pairs = row_count * (column_count - 1 if row == column else column_count)
                coincidence[row][column] += pairs / (pairable - 1)
    return coincidence


def _ordinal_distances(marginals: Sequence[float]) -> list[list[float]]:
    # delta^2_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2: the distance between two ranks
    # grows with how many values lie between them, not with their numeric difference.
    prefix = [0.0]
    for marginal in marginals:
        prefix.append(prefix[-1] + marginal)
    size = len(marginals)
    distances = _zero_matrix(size)
    for c in range(size):
        for k in range(size):
            low, high = min(c, k), max(c, k)
            between = prefix[high + 1] - prefix[low]
            distances[c][k] = (between - (marginals[c] + marginals[k]) / 2) ** 2
    return distances


def alpha_ordinal(coincidence: Sequence[Sequence[float]]) -> float | None:
    """Krippendorff's alpha with the ordinal metric, from a coincidence matrix.

    ``alpha = 1 - (n - 1) * sum_ck o_ck delta_ck / sum_ck n_c n_k delta_ck`` where ``n_c`` are
    the marginals of the matrix and ``n`` its total. Rows and columns must be in ordinal order;
    any square size works, though callers here use CATEGORIES.

    The matrix must be square, finite, non-negative and symmetric (a coincidence matrix
    counts every pair both ways; a one-way matrix of (coder a, coder b) counts is not one).

    Returns None when alpha is undefined: fewer than two pairable values, or no expected
    disagreement. The latter includes perfect agreement on a single category (every value
    is, say, +1): observed and expected disagreement are both 0 and alpha is 0/0. That is
    reported as None, not 1.0, because data without variation says nothing about whether
    annotators can tell the categories apart.

    Otherwise alpha is at most 1 (1 = perfect agreement, 0 = chance level, negative =
    systematic disagreement).
    """
    matrix = [[float(value) for value in row] for row in coincidence]
    size = len(matrix)
    if any(len(row) != size for row in matrix):
        raise ValueError("coincidence matrix must be square")
    for row in matrix:
        for value in row:
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"coincidence matrix entries must be finite and non-negative, got {value!r}")
    for c in range(size):
        for k in range(c + 1, size):
            scale = max(1.0, abs(matrix[c][k]), abs(matrix[k][c]))
            if abs(matrix[c][k] - matrix[k][c]) > _SYMMETRY_TOLERANCE * scale:
                raise ValueError(f"coincidence matrix is not symmetric at ({c}, {k}): {matrix[c][k]} != {matrix[k][c]}")

    marginals = [math.fsum(row) for row in matrix]
    total = math.fsum(marginals)
    if total < 2:
        return None
    distances = _ordinal_distances(marginals)
    observed = math.fsum(matrix[c][k] * distances[c][k] for c in range(size) for k in range(size))
    expected = math.fsum(marginals[c] * marginals[k] * distances[c][k] for c in range(size) for k in range(size))
    if expected <= 0:
        return None
    return 1.0 - (total - 1) * observed / expected


def alpha_from_pair_counts(
    counts: Mapping[tuple[int, int], int], *, categories: Sequence[int] = CATEGORIES
) -> float | None:
    """Ordinal Krippendorff's alpha for two coders from a table of rating pairs.

    ``counts[(r_a, r_b)]`` is the number of units where coder a gave ``r_a`` and coder b gave
    ``r_b``; units rated by only one coder are simply not in the table. This is the shape a
    SQL ``GROUP BY a.rating, b.rating`` returns. Each unit has exactly two values, so it adds
    1 to ``o[r_a][r_b]`` and 1 to ``o[r_b][r_a]`` (2 to the diagonal when they agree).

    Equal to ``krippendorff_alpha_ordinal`` over the same units; None when undefined
    (see alpha_ordinal).
    """
    positions = _category_positions(categories)
    coincidence = _zero_matrix(len(positions))
    for (rating_a, rating_b), count in counts.items():
        row, column = _position(positions, rating_a), _position(positions, rating_b)
        pairs = _count(count)
        coincidence[row][column] += pairs
        coincidence[column][row] += pairs
    return alpha_ordinal(coincidence)


def krippendorff_alpha_ordinal(
    units: Iterable[Mapping[int, int]], *, categories: Sequence[int] = CATEGORIES
) -> float | None:
    """Ordinal Krippendorff's alpha from per-unit value counts (see coincidence_from_units).

    Any number of coders, each unit rated by any subset of them. None when undefined.
    """
    return alpha_ordinal(coincidence_from_units(units, categories=categories))


# --- Cohen's kappa (binary: does the solution contain an error?) ----------------------------


def _as_bool(value: bool) -> bool:
    # Strict on purpose: bool(None) would silently turn "not judged" into "no error".
    if value in (True, False):
        return bool(value)
    raise ValueError(f"expected a boolean judgement, got {value!r}")


def cohen_kappa(counts: Mapping[tuple[bool, bool], int]) -> float | None:
    """Cohen's kappa for two raters on a binary judgement, from a 2x2 contingency table.

    ``counts[(a, b)]`` is the number of items rater A judged `a` and rater B judged `b`;
    missing cells count as 0. ``kappa = (p_o - p_e) / (1 - p_e)``.

    Returns None when undefined: no items, or chance agreement p_e == 1 (both raters gave the
    same single answer to every item, so there is nothing beyond chance to measure).
    Otherwise kappa is in [-1, 1].
    """
    table: dict[tuple[bool, bool], int] = {(a, b): 0 for a in (True, False) for b in (True, False)}
    for (judgement_a, judgement_b), count in counts.items():
        table[(_as_bool(judgement_a), _as_bool(judgement_b))] += _count(count)
    total = sum(table.values())
    if total == 0:
        return None
    agreed = table[(True, True)] + table[(False, False)]
    a_yes = table[(True, True)] + table[(True, False)]
    b_yes = table[(True, True)] + table[(False, True)]
    # Everything is scaled by total**2 so the p_e == 1 test is exact integer arithmetic
    # rather than a float comparison that rounding could tip either way.
    chance = a_yes * b_yes + (total - a_yes) * (total - b_yes)
    if chance == total * total:
        return None
    return (agreed * total - chance) / (total * total - chance)


def cohen_kappa_from_pairs(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa from one ``(rater A's judgement, rater B's judgement)`` pair per item."""
    return cohen_kappa(Counter((_as_bool(a), _as_bool(b)) for a, b in pairs))


# --- First-error position agreement ----------------------------------------------------------


class FirstErrorAgreement(TypedDict):
    """``pairs``: number of pairs; ``exact`` / ``within_one``: fractions in [0, 1], None when
    ``pairs == 0``. Invariant: ``exact <= within_one``."""

    pairs: int
    exact: float | None
    within_one: float | None


def first_error_agreement(pairs: Iterable[tuple[int | None, int | None]]) -> FirstErrorAgreement:
    """How often two first-error positions agree, over ``(first_error_a, first_error_b)`` pairs.

    Exact: equal positions, where both None ("no error") counts as equal. Within one: both
    None, or both set and at most one step apart; None against a position never agrees.
    """
    total = exact = within_one = 0
    for a, b in pairs:
        total += 1
        exact += _first_errors_equal(a, b)
        within_one += _first_errors_within_one(a, b)
    if total == 0:
        return {"pairs": 0, "exact": None, "within_one": None}
    return {"pairs": total, "exact": exact / total, "within_one": within_one / total}


def agreed_prefix(labelings: list[list[int | None]] | list[dict[int, int | None]], n_steps: int) -> dict[int, int]:
    """The ratings every labeling gives, from the first step up to the first step they do not all rate
    alike (or one leaves unrated). With fewer than two labelings nothing is "agreed".

    A prefix rather than every agreed step, so that a resolution started from it has no gaps, as
    first-error mode requires; the disputed step and what follows it are left to the adjudicator.
    (In first-error mode a shared first error ends the prefix by itself: nobody rates past it.)
    """
    if len(labelings) < 2:
        return {}
    out: dict[int, int] = {}
    for i in range(n_steps):
        seen = {(lab.get(i) if isinstance(lab, dict) else (lab[i] if i < len(lab) else None)) for lab in labelings}
        if len(seen) != 1 or None in seen:
            break
        value = seen.pop()
        _check_ratings([value], name=f"step {i}")
        out[i] = value
    return out

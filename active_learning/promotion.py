"""The promotion gate: whether a freshly trained PRM may replace the active one. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from active_learning.prm.calibration import MIN_PER_CLASS

# A held-out AUROC at or below this plus the margin is no better than a coin:
# such a model would order the queue at random (or worse, backwards).
CHANCE = 0.5
# An AUROC over fewer examples than this of either class is not evidence: with 2 right answers
# and 10 wrong ones, a model that ranks at random scores 1.000 one time in six. The same floor
# below which calibration refuses to fit.
MIN_SUPPORT = MIN_PER_CLASS
_UNITS = {"step_auroc": ("correct", "wrong steps"), "solution_auroc": ("right", "wrong answers")}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def _fmt(x: float | None) -> str:
    return "none" if x is None else f"{x:.3f}"


def promotion_decide(*, metric: str, new: dict, active: dict | None, gate: bool, chance_margin: float,
                     max_regression: float | None) -> Decision:
    """Decide on promotion from held-out metrics.

    With the gate on, a run is refused when its `metric` is missing (nothing
    to check it on), rests on fewer than MIN_SUPPORT held-out examples of
    either class (when the metrics say how many: `support`), is at most
    CHANCE + chance_margin, or is lower than the active model's by more than
    `max_regression` (None: any drop is accepted). With the gate off, only
    the regression check applies, as before the gate.
    """
    value = new.get(metric)
    old = (active or {}).get(metric)
    if gate:
        if value is None:
            return Decision(False, f"not promoted: no held-out {metric} to check it against")
        support = (new.get("support") or {}).get(metric)
        if support is not None and min(support) < MIN_SUPPORT:
            pos, neg = _UNITS.get(metric, ("positive", "negative examples"))
            return Decision(False, f"not promoted: held-out {metric} {_fmt(value)} rests on {support[0]} {pos} and "
                                   f"{support[1]} {neg}; the gate needs at least {MIN_SUPPORT} of each")
        if value <= CHANCE + chance_margin:
            return Decision(False, f"not promoted: held-out {metric} {_fmt(value)} is not above chance "
                                   f"({CHANCE} + margin {chance_margin})")
    if max_regression is not None and old is not None and (value is None or value < old - max_regression):
        return Decision(False, f"not promoted: {metric} {_fmt(value)} is worse than the active model's "
                               f"{_fmt(old)} by more than {max_regression}")
    if old is None:
        return Decision(True, f"promoted: {metric} {_fmt(value)}" + (" (first model)" if active is None else ""))
    return Decision(True, f"promoted: {metric} {_fmt(value)} against the active model's {_fmt(old)}")

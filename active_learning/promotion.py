"""The promotion gate: whether a freshly trained PRM may replace the active one. Pure."""

from __future__ import annotations

from dataclasses import dataclass

# A held-out AUROC at or below this plus the margin is no better than a coin:
# such a model would order the queue at random (or worse, backwards).
CHANCE = 0.5


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
    to check it on), at most CHANCE + chance_margin, or lower than the active
    model's by more than `max_regression` (None: any drop is accepted). With
    the gate off, only the regression check applies, as before the gate.
    """
    value = new.get(metric)
    old = (active or {}).get(metric)
    if gate:
        if value is None:
            return Decision(False, f"not promoted: no held-out {metric} to check it against")
        if value <= CHANCE + chance_margin:
            return Decision(False, f"not promoted: held-out {metric} {_fmt(value)} is not above chance "
                                   f"({CHANCE} + margin {chance_margin})")
    if max_regression is not None and old is not None and (value is None or value < old - max_regression):
        return Decision(False, f"not promoted: {metric} {_fmt(value)} is worse than the active model's "
                               f"{_fmt(old)} by more than {max_regression}")
    if old is None:
        return Decision(True, f"promoted: {metric} {_fmt(value)}" + (" (first model)" if active is None else ""))
    return Decision(True, f"promoted: {metric} {_fmt(value)} against the active model's {_fmt(old)}")

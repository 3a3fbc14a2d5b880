"""Temperature and Platt scaling of step probabilities, fitted on held-out labeled steps.

A fine-tuned PRM's P(correct) is usually over- or under-confident: the ranking (AUROC) is fine
but 0.9 does not mean "right 9 times in 10", so a fixed threshold such as the first-error rule
(a step under 0.5 is an error) or a "convincing" cut-off means something different for every
model version. One scalar T rescales the logit margin, p' = sigmoid(logit(p) / T), chosen to
minimise the negative log-likelihood of the held-out labels (Guo et al., 2017). It cannot change
any ranking, so AUROC and best-of-N are untouched; ECE and thresholded metrics are what it fixes.

Temperature fixes confidence, not base rate. An active-learning arm that queues mostly
wrong-answer solutions trains on far more negative steps than the held-out mix has, so its
P(correct) is shifted down at every confidence level, and no T can move 0.5 to where the
labels put it. Platt scaling (Platt, 1999) fits a bias as well, p' = sigmoid(logit(p) / T + b):
a two-parameter logistic regression on the logit. It still keeps the order of step scores, but
a solution's product of step scores can reorder across solutions of different lengths, and so
can best-of-N.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_EPS = 1e-6
# T is searched on log T in [log 0.25, log 20]: beyond that the held-out set is telling us the
# model is degenerate (constant, or saturated), and a wild T would only hide it. A small held-out
# set that the model happens to separate perfectly drives the fit towards T -> 0 (sharper is
# always better there), so below MIN_STEPS labeled steps, or MIN_PER_CLASS of either class, the
# temperature stays 1.0.
_LO, _HI = math.log(0.25), math.log(20.0)
MIN_STEPS = 30
MIN_PER_CLASS = 5
# TrainConfig.calibration, the CLI and the simulation all take one of these.
CALIBRATION_METHODS = ("temperature", "platt")


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def scaled(p: float, temperature: float, bias: float = 0.0) -> float:
    """p rescaled by `temperature` and shifted by `bias` on the logit scale."""
    if temperature == 1.0 and bias == 0.0:
        return p
    return _sigmoid(_logit(p) / temperature + bias)


def nll(labels: Sequence[bool], probs: Sequence[float], temperature: float = 1.0, bias: float = 0.0) -> float:
    """Mean negative log-likelihood of the labels under the rescaled probabilities."""
    total = 0.0
    for y, p in zip(labels, probs, strict=True):
        q = min(max(scaled(p, temperature, bias), _EPS), 1 - _EPS)
        total -= math.log(q if y else 1 - q)
    return total / max(1, len(labels))


def _enough(labels: Sequence[bool]) -> bool:
    positives = sum(1 for y in labels if y)
    return len(labels) >= MIN_STEPS and min(positives, len(labels) - positives) >= MIN_PER_CLASS


# Platt's bias is bounded like T: a shift of more than 4 nats (0.5 -> 0.98) says the held-out set
# and the training mix disagree so badly that the model, not its calibration, needs fixing.
_BIAS_MAX = 4.0
# A weak ridge on the slope and bias keeps Newton finite when the held-out steps are separable.
_RIDGE = 1e-3


def fit_platt(labels: Sequence[bool], probs: Sequence[float], *, iterations: int = 50) -> tuple[float, float]:
    """(T, b) minimising held-out NLL of sigmoid(logit(p) / T + b); (1.0, 0.0) when there is too little.

    Newton's method on the two-parameter logistic regression (slope a = 1/T, intercept b), which is
    convex, with a ridge and a step-halving line search so a separable set cannot send it to
    infinity. If the optimum lies outside |b| <= 4 or the T range of fit_temperature, b is clamped to
    its bound and T refitted with b held there (a constrained optimum on the boundary, since the NLL
    is convex): a large shift is exactly the case Platt is for, and dropping it would leave the base
    rate wrong. If that still ends worse than temperature scaling alone, the temperature-only fit is
    returned with b = 0: Platt must never be worse than what it replaces on the data it was fitted on.
    """
    if not _enough(labels):
        return 1.0, 0.0
    zs = [_logit(p) for p in probs]
    ys = [1.0 if y else 0.0 for y in labels]
    n = len(zs)

    def loss(a: float, b: float) -> float:
        return nll(labels, probs, 1 / a, b) + _RIDGE * ((a - 1) ** 2 + b * b)

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for z, y in zip(zs, ys, strict=True):
            q = _sigmoid(a * z + b)
            r, w = q - y, q * (1 - q)
            ga += r * z
            gb += r
            haa += w * z * z
            hab += w * z
            hbb += w
        ga, gb = ga / n + 2 * _RIDGE * (a - 1), gb / n + 2 * _RIDGE * b
        haa, hab, hbb = haa / n + 2 * _RIDGE, hab / n, hbb / n + 2 * _RIDGE
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        step = 1.0
        while step > 1e-4:
            na, nb = a - step * da, b - step * db
            trial = loss(na, nb) if na > 0 else math.inf
            if trial < current:
                break
            step /= 2
        else:
            break
        improved = current - trial
        a, b, current = na, nb, trial
        if improved < 1e-9:
            break
    t_only = fit_temperature(labels, probs)
    temperature = 1 / a
    if not (math.exp(_LO) <= temperature <= math.exp(_HI)) or abs(b) > _BIAS_MAX:
        b = max(-_BIAS_MAX, min(_BIAS_MAX, b))
        temperature = fit_temperature(labels, probs, bias=b)
    if nll(labels, probs, temperature, b) > nll(labels, probs, t_only):
        return t_only, 0.0
    return round(temperature, 4), round(b, 4)


def fit_temperature(labels: Sequence[bool], probs: Sequence[float], *, bias: float = 0.0,
                    iterations: int = 60) -> float:
    """The T > 0 minimising held-out NLL (with the logit shifted by a fixed `bias`); 1.0 when there
    is too little to fit it on.

    NLL is convex in 1/T for a fixed set of logits, so a golden-section search on log T finds the
    minimum to well under a percent in 60 steps, with no optimiser state and no dependence on torch.
    """
    if not _enough(labels):
        return 1.0
    g = (math.sqrt(5) - 1) / 2
    a, b = _LO, _HI
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(labels, probs, math.exp(c), bias), nll(labels, probs, math.exp(d), bias)
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(labels, probs, math.exp(c), bias)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(labels, probs, math.exp(d), bias)
    return round(math.exp((a + b) / 2), 4)

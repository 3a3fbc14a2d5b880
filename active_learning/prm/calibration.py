"""Temperature scaling of step probabilities (Guo et al., 2017), fitted on held-out labeled steps.

A fine-tuned PRM's P(correct) is usually over- or under-confident: the ranking (AUROC) is fine
but 0.9 does not mean "right 9 times in 10", so a fixed threshold such as the first-error rule
(a step under 0.5 is an error) or a "convincing" cut-off means something different for every
model version. One scalar T rescales the logit margin, p' = sigmoid(logit(p) / T), chosen to
minimise the negative log-likelihood of the held-out labels. It cannot change any ranking, so
AUROC and best-of-N are untouched; ECE and thresholded metrics are what it fixes.
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


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def scaled(p: float, temperature: float) -> float:
    """p rescaled by `temperature` on the logit scale."""
    if temperature == 1.0:
        return p
    z = _logit(p) / temperature
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def nll(labels: Sequence[bool], probs: Sequence[float], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under the rescaled probabilities."""
    total = 0.0
    for y, p in zip(labels, probs, strict=True):
        q = min(max(scaled(p, temperature), _EPS), 1 - _EPS)
        total -= math.log(q if y else 1 - q)
    return total / max(1, len(labels))


def fit_temperature(labels: Sequence[bool], probs: Sequence[float], *, iterations: int = 60) -> float:
    """The T > 0 minimising held-out NLL; 1.0 when there is too little to fit it on.

    NLL is convex in 1/T for a fixed set of logits, so a golden-section search on log T finds the
    minimum to well under a percent in 60 steps, with no optimiser state and no dependence on torch.
    """
    positives = sum(1 for y in labels if y)
    if len(labels) < MIN_STEPS or min(positives, len(labels) - positives) < MIN_PER_CLASS:
        return 1.0
    g = (math.sqrt(5) - 1) / 2
    a, b = _LO, _HI
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(labels, probs, math.exp(c)), nll(labels, probs, math.exp(d))
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(labels, probs, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(labels, probs, math.exp(d))
    return round(math.exp((a + b) / 2), 4)

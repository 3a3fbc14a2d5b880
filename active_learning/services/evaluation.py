"""The real-data check after every cycle: the new model on held-out problems of a real evaluation set."""

from __future__ import annotations

import time

from active_learning.evalsets import EVAL_SETS, eval_examples

REAL_EVAL_REPLICATES = 500


def real_eval_metrics(*, prm, name: str, trained_problems: set[str], device: str = "auto",
                      aggregate: str = "product") -> dict:
    """Solution AUROC, best-of-N against majority vote (and step metrics where the set has step labels),
    with 95% bootstrap intervals over problems, on the set's problems that the model did not train on.

    Invariant: no problem of the campaign's labeled data is in the evaluation (matched by problem
    text), so a campaign labeling the set's own solutions is still measured on unseen problems.
    """
    from active_learning.prm.evaluate import evaluate_with_intervals

    t0 = time.monotonic()
    examples = eval_examples(name, exclude_problems=trained_problems)
    if not examples:
        return {"set": name, "label": EVAL_SETS[name].label, "problems": 0, "solutions": 0,
                "note": "every problem of this set is in the campaign's training data (its labels or its prior), "
                        "so no unseen problem is left to measure on"}
    out = evaluate_with_intervals(prm, examples, aggregate=aggregate, device=device,
                                  replicates=REAL_EVAL_REPLICATES)
    return {"set": name, "label": EVAL_SETS[name].label, "solutions": len(examples), **out,
            "seconds": round(time.monotonic() - t0, 1)}

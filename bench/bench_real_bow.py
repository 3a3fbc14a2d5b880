"""A bag-of-words outcome model on the real GSM8K solutions: how much within-problem signal is on the surface?

    .venv/bin/python bench/bench_real_bow.py [--folds 2] [--epochs 200] [--replicates 1000]
                                             [--out bench/results/real_bow.json]

bench_real_outcomes.py finds that a 2-layer (and a 6-layer) MiniLM trained on the pool's verdicts
ranks solutions across problems (solution AUROC ~0.66) but picks no better than chance among
the 4 solutions of one problem. Is that the encoder failing to learn, or is there nothing
shallow to learn? This is the control: a logistic regression on hashed unigrams and bigrams of
the solution text (numbers folded into one token), cross-fitted over the same folds of the same
problems, scored with the same bootstrap over problems. It runs in about 90 s on 2 cores, so its verdict
costs nothing to reproduce.

If this model also sits at chance on best-of-4, the signal that separates a right solution from
a wrong one to the same problem is not in the words; it is in whether the arithmetic and the
reasoning hold, which a shallow model cannot check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_real_outcomes import DEMO, fold_of, log  # noqa: E402  (same data, same folds)

BUCKETS = 2**18
TOKEN = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")


def features(ex) -> list[int]:
    toks = ["<num>" if t.isdigit() else t for t in TOKEN.findall(" ".join(ex.steps).lower())]
    grams = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
    return [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), 'big') % BUCKETS for g in grams] or [0]


def fit_and_score(train_rows, test_rows, *, epochs: int, l2: float, seed: int) -> list[float]:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)

    def bag(rows):
        flat, offsets = [], []
        for ids in rows:
            offsets.append(len(flat))
            flat += ids
        return torch.tensor(flat), torch.tensor(offsets)

    w = torch.zeros(BUCKETS, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.01)
    x, off = bag([f for f, _ in train_rows])
    y = torch.tensor([float(v) for _, v in train_rows])
    for _ in range(epochs):
        logit = F.embedding_bag(x, w, off, mode="mean").squeeze(1) + b
        loss = F.binary_cross_entropy_with_logits(logit, y) + l2 * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    xt, offt = bag([f for f, _ in test_rows])
    with torch.no_grad():
        return torch.sigmoid(F.embedding_bag(xt, w, offt, mode="mean").squeeze(1) + b).tolist()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=200, help="full-batch Adam steps")
    p.add_argument("--l2", type=float, default=1e-4)
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "real_bow.json")
    args = p.parse_args(argv)

    from active_learning.prm.bootstrap import bootstrap_intervals
    from active_learning.prm.evaluate import format_intervals
    from active_learning.prm.formats import read_examples

    real = read_examples(DEMO, fmt="gsm8k_solutions")
    feats = [features(ex) for ex in real]
    scores: list[float] = [0.0] * len(real)
    t0 = time.monotonic()
    for f in range(args.folds):
        train_idx = [i for i, ex in enumerate(real) if fold_of(ex.group, args.folds) != f]
        test_idx = [i for i, ex in enumerate(real) if fold_of(ex.group, args.folds) == f]
        out = fit_and_score([(feats[i], real[i].answer_correct) for i in train_idx],
                            [(feats[i], None) for i in test_idx], epochs=args.epochs, l2=args.l2, seed=args.seed + f)
        for i, s in zip(test_idx, out, strict=True):
            scores[i] = s
    seconds = round(time.monotonic() - t0, 1)
    iv = bootstrap_intervals(real, [(s,) for s in scores], scores, replicates=args.replicates, seed=args.seed)
    log(f"bag-of-words, cross-fitted over {args.folds} folds ({seconds} s):\n{format_intervals(iv)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "args": {k: str(v) for k, v in vars(args).items()},
        "solutions": len(real), "seconds": seconds, "intervals": iv,
    }, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()

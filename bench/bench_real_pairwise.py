"""Within-problem pairwise training on the real GSM8K solutions: does removing the difficulty shortcut help best-of-4?

    .venv/bin/python bench/bench_real_pairwise.py [--folds 2] [--max-steps 400] [--pairs-per-step 8]
                                                  [--pointwise-weight 0.0] [--replicates 1000]
                                                  [--out bench/results/real_pairwise.json]

bench_real_outcomes.py trains pointwise on the pool's verdicts: every solution is "right" or
"wrong" on its own. The cheapest way to lower that loss is to learn which *problems* are hard,
since all four solutions of a hard problem tend to be wrong. That ranks solutions across problems
(solution AUROC ~0.66) and says nothing among the four of one problem, which is all best-of-4
asks. Training only on problems with mixed verdicts (--mixed-only there) still lets a pointwise
loss lean on difficulty (1 right of 4 against 3 of 4).

This is the objective that cannot: a Bradley-Terry loss on pairs (right, wrong) of solutions to
the *same* problem, -log sigmoid(m_right - m_wrong), where m is the model's logit margin at the
last step's separator (the ORM reading, ScoreConfig.aggregate = "last"). A term that is equal for
every solution of a problem cancels from the difference, so problem difficulty earns nothing.
`--pointwise-weight` adds the usual all-steps outcome cross-entropy on the same solutions, for the
mix of the two.

Same real file, the same folds by problem (bench_real_outcomes.fold_of), the same 2-layer
MiniLM, the same 400 optimizer steps of 16 sequences, and the same bootstrap over problems: only
the objective differs. No Django.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from itertools import product
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_real_outcomes import DEMO, fold_of, log  # noqa: E402  (same data, same folds)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--pairs-per-step", type=int, default=8, help="pairs per optimizer step (2 sequences each)")
    p.add_argument("--pointwise-weight", type=float, default=0.0,
                   help="weight of the all-steps outcome cross-entropy added to the pairwise loss (0: pairwise only)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--aggregates", default="last,product,min,mean")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "real_pairwise.json")
    return p.parse_args(argv)


def pairs_of(examples) -> list[tuple[int, int]]:
    """(right, wrong) index pairs within each problem; problems whose solutions agree give none."""
    by_problem: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_problem.setdefault(ex.group, []).append(i)
    out = []
    for idx in by_problem.values():
        right = [i for i in idx if examples[i].answer_correct]
        wrong = [i for i in idx if examples[i].answer_correct is False]
        out += list(product(right, wrong))
    return out


def train_pairwise(prm, examples, *, steps: int, pairs_per_step: int, lr: float, seed: int,
                   pointwise_weight: float) -> dict:
    """Fine-tune prm in place on within-problem pairs; returns a small report."""
    import torch
    import torch.nn.functional as F

    from active_learning.prm.data import IGNORE, collate
    from active_learning.prm.train import lr_factor

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    pairs = pairs_of(examples)
    if not pairs:
        raise SystemExit("no problem with both a right and a wrong solution in the training folds")
    # One window per solution: the last one, which holds the final step (GSM8K solutions fit in one).
    windows, last_pos = [], []
    for ex in examples:
        labels = tuple(1 if ex.answer_correct else 0 for _ in ex.steps)
        w = prm.encoder.encode(ex.problem, ex.steps, labels).windows[-1]
        windows.append(w)
        last_pos.append(w.positions[-1])
    model = prm.model
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n.lower()]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "norm" in n.lower()]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=lr)
    pos_id, pad = prm.positive_id, prm.encoder.pad_id
    running, t0 = None, time.monotonic()
    order: list[int] = []
    for step in range(steps):
        if len(order) < pairs_per_step:
            order += torch.randperm(len(pairs), generator=gen).tolist()
        chosen = [pairs[order.pop()] for _ in range(pairs_per_step)]
        rows = [i for pair in chosen for i in pair]  # right, wrong, right, wrong, ...
        ids, mask, tgt = collate([windows[i] for i in rows], pad)
        for g in optim.param_groups:
            g["lr"] = lr * lr_factor(step, total=steps, warmup_fraction=0.1)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        at = logits[torch.arange(len(rows)), torch.tensor([last_pos[i] for i in rows])]
        margin = at[:, pos_id] - at[:, 1 - pos_id]
        loss = -F.logsigmoid(margin[0::2] - margin[1::2]).mean()
        if pointwise_weight:
            loss = loss + pointwise_weight * F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        value = float(loss.detach())
        running = value if running is None else 0.9 * running + 0.1 * value
        if (step + 1) % 50 == 0:
            log(f"  step {step + 1}/{steps}: loss {running:.4f}")
    model.eval()
    return {"pairs": len(pairs), "steps": steps, "final_loss": round(running, 5),
            "seconds": round(time.monotonic() - t0, 1)}


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    from active_learning.prm.bootstrap import bootstrap_intervals
    from active_learning.prm.config import ModelConfig
    from active_learning.prm.evaluate import format_intervals, score_examples
    from active_learning.prm.formats import read_examples
    from active_learning.prm.model import PRM
    from active_learning.strategies import solution_score

    aggregates = args.aggregates.split(",")
    for how in aggregates:
        solution_score([0.5], how)  # refuse an unknown aggregation before any training
    real = read_examples(DEMO, fmt="gsm8k_solutions")
    result: dict = {
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) for k, v in vars(args).items()}, "solutions": len(real),
        "problems": len({ex.group for ex in real}), "folds": [],
    }
    scored_all: list = [None] * len(real)
    for f in range(args.folds):
        train_set = [ex for ex in real if fold_of(ex.group, args.folds) != f]
        test_idx = [i for i, ex in enumerate(real) if fold_of(ex.group, args.folds) == f]
        prm = PRM.from_backbone(ModelConfig(num_hidden_layers=args.layers), seed=args.seed + f)
        rep = train_pairwise(prm, train_set, steps=args.max_steps, pairs_per_step=args.pairs_per_step, lr=args.lr,
                             seed=args.seed + f, pointwise_weight=args.pointwise_weight)
        for i, s in zip(test_idx, score_examples(prm, [real[i] for i in test_idx], device="cpu"), strict=True):
            scored_all[i] = s
        result["folds"].append({"fold": f, **rep, "scored_solutions": len(test_idx)})
        log(f"fold {f}: {rep['pairs']} pairs, {rep['seconds']:.0f} s, scored {len(test_idx)}")
    probs = [s.step_probs for s in scored_all]
    result["by_aggregate"] = {
        how: bootstrap_intervals(real, probs, [solution_score(p, how) for p in probs],
                                 replicates=args.replicates, seed=args.seed)
        for how in aggregates}
    for how in aggregates:
        log(f"aggregate {how}:\n{format_intervals(result['by_aggregate'][how])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()

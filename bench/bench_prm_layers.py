"""Speed/quality trade-off of backbone depth at an equal CPU training budget.

The CPU scoring target (200 solutions/s) is out of reach for the full 6-layer MiniLM on two
cores, so the default keeps only the first layers. This measures what that costs: each depth is
fine-tuned on the same synthetic step-labeled GSM8K set for the same wall-clock budget (a
shallower model gets through more epochs in it, which is the trade a CPU worker actually makes),
evaluated on held-out problems, and timed scoring real GSM8K model solutions.

    DJANGO_ENV=test .venv/bin/python bench/bench_prm_layers.py --layers 6 3 2 \
        --problems 600 --budget 180 --out bench/results/prm_layers_cpu.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig  # noqa: E402
from active_learning.prm.evaluate import evaluate  # noqa: E402
from active_learning.prm.model import PRM  # noqa: E402
from active_learning.prm.score import score  # noqa: E402
from active_learning.prm.simulate import split_by_group  # noqa: E402
from active_learning.prm.synthetic import build_examples, read_gsm8k  # noqa: E402
from active_learning.prm.train import train  # noqa: E402
from bench.bench_prm import TRAIN, demo_items  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, nargs="+", default=[6, 3, 2])
    ap.add_argument("--problems", type=int, default=600)
    ap.add_argument("--budget", type=float, default=180.0, help="training seconds per depth")
    ap.add_argument("--score-solutions", type=int, default=1024)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch

    examples = list(build_examples(itertools.islice(read_gsm8k(TRAIN), args.problems), variants=2, seed=args.seed))
    train_set, heldout = split_by_group(examples, 0.25, args.seed)
    items = demo_items(args.score_solutions)
    results = {
        "machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "train_solutions": len(train_set), "heldout_solutions": len(heldout), "budget_s": args.budget,
        "rows": [],
    }
    for layers in args.layers:
        prm = PRM.from_backbone(ModelConfig(num_hidden_layers=layers), seed=args.seed)
        # Enough epochs that the time budget, not the epoch count, stops every depth.
        rep = train(prm, train_set, TrainConfig(epochs=50, time_budget_s=args.budget, seed=args.seed,
                                                device=args.device))
        quality = evaluate(prm, heldout, device=args.device)
        cfg = ScoreConfig(device=args.device)
        score(prm, items[:64], cfg)  # warm-up and the int8 conversion
        t0 = time.perf_counter()
        score(prm, items, cfg)
        dt = time.perf_counter() - t0
        row = {
            "layers": layers, "parameters": prm.parameter_count(), "epochs": rep.epochs,
            "train_seconds": rep.seconds, "stopped_by": rep.stopped_by,
            "solutions_per_second": round(len(items) / dt, 1),
            **{k: quality[k] for k in ("step_auroc", "ece", "first_error_f1", "solution_auroc")},
            "best_of_n": quality["best_of_n"],
        }
        results["rows"].append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""PRM throughput on this machine: scoring (solutions/s) and training (s per 10k labeled steps).

Uses the real default backbone (all-MiniLM-L6-v2) on real GSM8K model solutions from the demo
file (scoring) and on the synthetic step-labeled GSM8K set (training). No database: this measures
the model code the training worker runs; the cycle's database work is measured separately.

    DJANGO_ENV=test .venv/bin/python bench/bench_prm.py --out bench/results/prm_cpu.json
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

from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig, resolve_device  # noqa: E402
from active_learning.prm.model import PRM  # noqa: E402
from active_learning.prm.score import score  # noqa: E402
from active_learning.prm.synthetic import build_examples, read_gsm8k  # noqa: E402
from active_learning.prm.train import train  # noqa: E402

DEMO = ROOT / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl"
TRAIN = ROOT / "active_learning" / "data" / "gsm8k_train.jsonl"


def demo_items(n: int) -> list[tuple[str, list[str]]]:
    items = []
    with open(DEMO) as fh:
        for line in fh:
            rec = json.loads(line)
            for value in rec.values():
                if isinstance(value, dict) and "solution" in value:
                    steps = [s.strip() for s in value["solution"].split("\n") if s.strip()]
                    items.append((rec["question"], steps))
            if len(items) >= n:
                return items[:n]
    return items


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--solutions", type=int, default=1024)
    ap.add_argument("--train-solutions", type=int, default=400)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch

    results = {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
               "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "scoring": [],
               "training": []}
    items = demo_items(args.solutions)
    # (layers, int8, max_length, batch token budget); None: the per-device default.
    configs = [(None, False, 384, None), (None, True, 384, 8192), (None, True, 384, None), (3, True, 384, None),
               (2, True, 384, None)]
    for layers, quant, max_len, batch_tokens in configs:
        prm = PRM.from_backbone(ModelConfig(num_hidden_layers=layers, max_length=max_len))
        cfg = ScoreConfig(quantize_cpu=quant, device=args.device, max_batch_tokens=batch_tokens)
        score(prm, items[:64], cfg)  # warm-up (and the int8 conversion)
        t0 = time.perf_counter()
        out = score(prm, items, cfg)
        dt = time.perf_counter() - t0
        row = {"layers": layers or 6, "int8": quant, "max_length": max_len,
               "batch_tokens": cfg.batch_tokens(resolve_device(args.device)), "solutions": len(items),
               "seconds": round(dt, 2), "solutions_per_second": round(len(items) / dt, 1),
               "truncated": sum(o.truncated for o in out)}
        results["scoring"].append(row)
        print("score", row, flush=True)
    examples = list(build_examples(itertools.islice(read_gsm8k(TRAIN), args.train_solutions), variants=2))
    for layers in (None, 2):
        prm = PRM.from_backbone(ModelConfig(num_hidden_layers=layers))
        rep = train(prm, examples, TrainConfig(epochs=1, batch_size=16, device=args.device))
        row = {"layers": layers or 6, "solutions": len(examples), "labeled_steps": rep.labeled_steps,
               "steps": rep.steps, "seconds": rep.seconds,
               "seconds_per_10k_labeled_steps": round(rep.seconds * 10_000 / rep.labeled_steps, 1)}
        results["training"].append(row)
        print("train", row, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

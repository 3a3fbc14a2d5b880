"""`python -m active_learning.prm train | evaluate | score`: the PRM toolkit without Django.

    python -m active_learning.prm train --data export/ --output ckpt/ [--model DIR] [--epochs 2] ...
    python -m active_learning.prm evaluate --model ckpt/ --data processbench.jsonl [--output result.json]
    python -m active_learning.prm score --model ckpt/ --data pool.jsonl --output scored.jsonl

`train` runs unchanged under `accelerate launch --num_processes N -m active_learning.prm train ...`:
every rank reads the data and trains its shard of each batch; rank 0 alone evaluates and saves.
Exit status: 0 done, 2 bad arguments or unreadable data (one line on stderr saying why).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from active_learning.prm.calibration import CALIBRATION_METHODS
from active_learning.prm.card import model_card
from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.prm.data import OUTCOME_MODES, heldout_split, outcome_examples
from active_learning.prm.evaluate import (
    calibrate,
    evaluate_splits,
    evaluate_with_intervals,
    format_intervals,
    format_table,
    reset_calibration,
    score_examples,
)
from active_learning.prm.folds import FoldedPRM, is_folded
from active_learning.prm.formats import FORMATS, FormatError, read_examples
from active_learning.prm.lifetime import die_with_parent
from active_learning.prm.model import PRM
from active_learning.prm.score import score
from active_learning.prm.train import train
from active_learning.strategies import SOLUTION_AGGREGATES


class UsageError(Exception):
    """Bad arguments or data: printed as one line, exit status 2."""


def _is_main() -> bool:
    # accelerate launch (torchrun underneath) sets RANK; a plain run has none.
    return int(os.environ.get("RANK", "0")) == 0


def _log(msg: str) -> None:
    if _is_main():
        print(msg, file=sys.stderr, flush=True)


def _split_dir(path: Path) -> set[str]:
    return {p.stem for p in path.iterdir() if p.suffix in {".jsonl", ".json"}} if path.is_dir() else set()


def _read(path: str, fmt: str, neutral: str, splits=None):
    try:
        return read_examples(path, fmt=fmt, neutral=neutral, splits=splits)
    except FormatError as exc:
        raise UsageError(str(exc)) from None


def _load_model(args) -> PRM | FoldedPRM:
    path = Path(args.model)
    if is_folded(path):
        # A campaign's cross-fitted checkpoint: each solution is scored by the member that never saw its problem.
        try:
            return FoldedPRM.load(path)
        except (ValueError, OSError) as exc:
            raise UsageError(f"--model {args.model}: {exc}") from None
    if not (path / "config.json").is_file():
        raise UsageError(f"--model {args.model}: not a Hugging Face model directory (no config.json)")
    try:
        return PRM.load_any(path, separator=args.separator, max_length=args.max_length,
                            positive_label=args.positive_label)
    except ValueError as exc:
        raise UsageError(f"--model {args.model}: {exc}") from None


def cmd_train(args) -> dict:
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--output {out} exists and is not empty")
    data = Path(args.data)
    splits = _split_dir(data)
    # A dataset directory with a train split (our hf-dataset export) trains on it and, unless
    # told otherwise, reports held-out metrics on its test split.
    train_splits = [args.train_split] if args.train_split in splits else None
    examples = _read(args.data, args.format, args.neutral, train_splits)
    if args.eval_data:
        heldout = _read(args.eval_data, args.eval_format, args.neutral, [args.eval_split] if args.eval_split else None)
        train_set = examples
    elif train_splits and "test" in splits:
        heldout, train_set = _read(args.data, args.format, args.neutral, ["test"]), examples
    else:
        train_set, heldout = heldout_split(examples, args.holdout)
    if args.outcome_labels:
        # Free labels from graded answers (warm start): only for solutions without step labels.
        train_set = outcome_examples(train_set, mode=args.outcome_labels)
    if not train_set:
        raise UsageError(f"{args.data}: no training examples")
    try:
        model_cfg = ModelConfig(backbone=args.model or "", separator=args.separator, max_length=args.max_length or 384,
                                max_problem_tokens=args.max_problem_tokens, num_hidden_layers=args.layers)
        train_cfg = TrainConfig(
            epochs=args.epochs, max_steps=args.max_steps, time_budget_s=args.time_budget, batch_size=args.batch_size,
            learning_rate=args.lr, neutral=args.neutral, last_step_only=args.train_on_last_step_only,
            mixed_precision=args.mixed_precision, seed=args.seed, device=args.device, calibration=args.calibration,
        )
        if args.train_config:
            # Every TrainConfig field at once, as JSON: how the Celery training worker hands a
            # campaign's settings to the processes it launches.
            train_cfg = TrainConfig.from_dict(json.loads(args.train_config))
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.init_checkpoint and is_folded(args.init_checkpoint):
            raise ValueError("a cross-fitted checkpoint has one model per fold; pass one member, e.g. "
                             f"{Path(args.init_checkpoint) / 'fold-0'}")
        prm = PRM.load(args.init_checkpoint) if args.init_checkpoint else PRM.from_backbone(model_cfg, seed=args.seed)
    except (ValueError, RuntimeError, OSError) as exc:
        raise UsageError(f"--{'init-checkpoint' if args.init_checkpoint else 'model'}: {exc}") from None
    _log(f"training on {len(train_set)} solutions ({len(heldout)} held out), backbone {prm.meta.backbone}")
    t0 = time.monotonic()
    last = [0.0]

    def progress(step, total, loss):
        if time.monotonic() - last[0] >= 5 or step == total:
            last[0] = time.monotonic()
            _log(f"step {step}/{total} loss {loss:.4f}")

    report = train(prm, train_set, train_cfg, progress=progress)
    result = {"train": report.to_dict(), "train_examples": len(train_set), "heldout_examples": len(heldout)}
    if not _is_main():
        return result
    metrics = {}
    if not heldout or args.no_calibration:
        reset_calibration(prm)  # an --init-checkpoint's fit describes its weights, not these
    else:
        result["calibration"] = calibrate(prm, heldout, device=args.device, method=train_cfg.calibration)
        c = result["calibration"]
        fit = f"temperature {c['temperature']}" + (f", bias {c['bias']}" if c["method"] == "platt" else "")
        _log(f"{fit} (held-out ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f})" if c["ece_before"] is not None
             else fit)
    if heldout:
        ev = evaluate_splits(prm, heldout, device=args.device)
        metrics = ev["overall"]
        result["heldout"] = ev
        _log(format_table(ev))
    data_counts = {
        "source": str(args.data), "format": args.format, "training solutions": len(train_set),
        "labeled steps": report.labeled_steps, "correct steps": report.positives, "wrong steps": report.negatives,
        "held-out solutions": len(heldout),
    }
    license_ = args.license or ("apache-2.0" if not args.model else "other")
    card = model_card(prm.meta_dict(), license=license_, data=data_counts, metrics=metrics,
                      train={k: v for k, v in train_cfg.to_dict().items() if k != "device"})
    out = Path(args.output)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    prm.save(tmp, card=card)
    (tmp / "training_report.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    (tmp / "training_report.json").chmod(0o644)
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    result["seconds"] = round(time.monotonic() - t0, 3)
    result["output"] = str(out)
    _log(f"saved {out} ({report.steps} steps, stopped by {report.stopped_by}, {report.seconds:.1f} s)")
    return result


def cmd_evaluate(args) -> dict:
    prm = _load_model(args)
    examples = _read(args.data, args.format, args.neutral, args.split or None)
    if not examples:
        raise UsageError(f"{args.data}: no rows")
    if not any(ex.labels for ex in examples) and not any(ex.answer_correct is not None for ex in examples):
        raise UsageError(f"{args.data}: no step labels and no graded answers to evaluate against "
                         "(a pool file? use `score`)")
    scored = score_examples(prm, examples, aggregate=args.aggregate, device=args.device)
    result = evaluate_splits(prm, examples, aggregate=args.aggregate, device=args.device, threshold=args.threshold,
                             scored=scored)
    result["model"] = str(args.model)
    result["data"] = str(args.data)
    print(format_table(result))
    if args.bootstrap:
        result["intervals"] = evaluate_with_intervals(prm, examples, aggregate=args.aggregate, device=args.device,
                                                      threshold=args.threshold, replicates=args.bootstrap,
                                                      seed=args.seed, scored=scored)
        print(format_intervals(result["intervals"]))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2, sort_keys=True))
    return result


def cmd_score(args) -> dict:
    prm = _load_model(args)
    examples = _read(args.data, args.format, "positive")
    try:
        cfg = ScoreConfig(device=args.device, aggregate=args.aggregate, quantize_cpu=not args.exact,
                          max_batch_tokens=args.batch_tokens)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    t0 = time.monotonic()
    scored = score(prm, [(ex.problem, ex.steps) for ex in examples], cfg)
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for ex, s in zip(examples, scored, strict=True):
            fh.write(json.dumps({"id": ex.key, "problem": ex.problem, "steps": list(ex.steps),
                                 "step_scores": [round(p, 6) for p in s.step_probs], "score": round(s.score, 6),
                                 "truncated": s.truncated}, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    seconds = time.monotonic() - t0
    _log(f"scored {len(examples)} solutions in {seconds:.1f} s ({len(examples) / max(seconds, 1e-9):.1f}/s) "
         f"to {out}")
    return {"solutions": len(examples), "seconds": round(seconds, 3), "output": str(out)}


def _model_options(p, *, for_training: bool) -> None:
    p.add_argument("--separator", default=None,
                   help="text after every step; the label sits on its last token (default: the tokenizer's "
                        "sep token, e.g. [SEP]; else a blank line for training, a newline for a foreign model)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per window (default 384 for training)")
    if not for_training:
        p.add_argument("--positive-label", default=None,
                       help="a foreign model's label id meaning 'correct' (default: from id2label, else 1)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m active_learning.prm", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="fine-tune a PRM on step-labeled JSONL")
    t.add_argument("--data", required=True, help="JSONL/JSON file, or a dataset directory of split files")
    t.add_argument("--format", default="auto", choices=FORMATS)
    t.add_argument("--output", required=True, help="checkpoint directory to create (Hub-ready)")
    t.add_argument("--model", default="", help="local Hugging Face model directory (default: the bundled MiniLM)")
    t.add_argument("--train-split", default="train", help="split to train on when --data is a directory")
    t.add_argument("--eval-data", default=None, help="held-out file or directory (default: the test split, "
                                                     "else --holdout of the problems)")
    t.add_argument("--eval-format", default="auto", choices=FORMATS)
    t.add_argument("--eval-split", default=None)
    t.add_argument("--holdout", type=float, default=0.1, help="fraction of problems held out (default 0.1)")
    _model_options(t, for_training=True)
    t.add_argument("--max-problem-tokens", type=int, default=None)
    t.add_argument("--layers", type=int, default=None, help="keep only the first N transformer layers")
    t.add_argument("--neutral", default="positive", choices=["positive", "negative", "ignore"],
                   help="a 0 rating trains as correct (the paper), wrong (trl-lib/prm800k) or not at all")
    t.add_argument("--train-on-last-step-only", action="store_true",
                   help="only each solution's last labeled step carries a label")
    t.add_argument("--init-checkpoint", default=None,
                   help="continue training a checkpoint this package wrote (warm start) instead of a fresh head")
    t.add_argument("--train-config", default=None, metavar="JSON",
                   help="TrainConfig fields as JSON, replacing the training flags")
    t.add_argument("--outcome-labels", default=None, choices=OUTCOME_MODES,
                   help="train solutions that have a graded final answer and no step labels on that verdict: on "
                        "their last step, or on all steps (Math-Shepherd hard estimation with one rollout)")
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--time-budget", type=float, default=None, help="seconds")
    t.add_argument("--batch-size", type=int, default=16, help="global batch, split across processes")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    t.add_argument("--no-calibration", action="store_true",
                   help="keep the raw probabilities (default: fit temperature scaling on the held-out steps)")
    t.add_argument("--calibration", default="temperature", choices=CALIBRATION_METHODS,
                   help="temperature scaling, or platt: temperature and a bias (fixes a base-rate shift)")
    t.add_argument("--license", default=None,
                   help="license written into the model card (default: apache-2.0, the bundled MiniLM's, when "
                        "training from it; else other)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="ProcessBench-style evaluation of a PRM on a labeled file")
    e.add_argument("--model", required=True, help="a checkpoint, or any local 2-label token-classification model")
    e.add_argument("--data", required=True, help="ProcessBench file or directory of splits, or any labeled format")
    e.add_argument("--format", default="auto", choices=FORMATS)
    e.add_argument("--split", action="append", default=None, help="only these splits (repeatable)")
    e.add_argument("--neutral", default="positive", choices=["positive", "negative", "ignore"])
    e.add_argument("--threshold", type=float, default=0.5, help="a step under this P(correct) is an error")
    e.add_argument("--aggregate", default="product", choices=SOLUTION_AGGREGATES)
    e.add_argument("--device", default="auto")
    e.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="also 95%% intervals from N bootstrap replicates over problems (1000 is typical)")
    e.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    e.add_argument("--output", default=None, help="write the full result as JSON")
    _model_options(e, for_training=False)
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("score", help="per-step and solution scores for a pool")
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True, help="JSONL with problem and steps (or any labeled format)")
    s.add_argument("--format", default="auto", choices=FORMATS)
    s.add_argument("--output", required=True, help="JSONL to write: id, step_scores, score, truncated")
    s.add_argument("--aggregate", default="product", choices=SOLUTION_AGGREGATES)
    s.add_argument("--device", default="auto")
    s.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per forward pass")
    s.add_argument("--exact", action="store_true", help="no int8 quantization on CPU")
    _model_options(s, for_training=False)
    s.set_defaults(func=cmd_score)
    return top


def _end_distributed(*, ok: bool) -> None:
    # Under torchrun the other ranks return from `train` while rank 0 still evaluates and saves. A rank
    # that then exits with its gloo group alive aborts in the group's C++ destructor ("terminate called
    # without an active exception", SIGABRT) and torchrun fails the whole run: wait for rank 0, then
    # tear the group down.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    if "LOCAL_RANK" in os.environ:
        # A rank under torchrun / accelerate launch goes when its launcher goes (prm/lifetime.py).
        die_with_parent()
    args = parser().parse_args(argv)
    ok = False
    try:
        args.func(args)
        ok = True
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        _end_distributed(ok=ok)
    return 0

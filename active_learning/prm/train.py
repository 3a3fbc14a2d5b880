"""Fine-tuning loop (nanoGPT-style: one function, explicit state, no Trainer).

Determinism: the head init, the shuffling and dropout all come from `seed`,
so two runs with the same data and config produce the same weights on the
same device and thread count. That is what lets a regression in a campaign's
metrics be blamed on the data rather than on luck.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from active_learning.prm.config import TrainConfig, resolve_device
from active_learning.prm.data import IGNORE, SolutionExample, Window, collate
from active_learning.prm.model import PRM


@dataclass
class TrainReport:
    steps: int
    epochs: float
    seconds: float
    stopped_by: str  # "epochs" | "max_steps" | "time_budget" | "cancelled" | "no_data"
    windows: int
    labeled_steps: int
    positives: int
    negatives: int
    truncated_solutions: int
    final_loss: float | None
    device: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[int, int, float], None]  # (step, total_steps, running loss)


def build_windows(prm: PRM, examples: Sequence[SolutionExample]) -> tuple[list[Window], int]:
    windows, truncated = [], 0
    for ex in examples:
        enc = prm.encoder.encode(ex.problem, ex.steps, ex.labels)
        truncated += enc.truncated
        # A window with no labeled step carries no gradient; skip it.
        windows.extend(w for w in enc.windows if any(label != IGNORE for label in w.labels))
    return windows, truncated


def _length_bucketed_batches(windows: Sequence[Window], batch_size: int, gen) -> list[list[int]]:
    """Shuffled batches of similar-length windows.

    Random batches pad every row to the longest one; on CPU that padding is
    pure waste (about 2x here). We shuffle, cut into chunks of 50 batches,
    sort each chunk by length, batch it, then shuffle the batch order, so
    batches stay random across the epoch while rows within one are alike.
    """
    import torch

    order = torch.randperm(len(windows), generator=gen).tolist()
    chunk = batch_size * 50
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda j: len(windows[j].input_ids))
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]


def lr_factor(step: int, *, total: int, warmup_fraction: float, elapsed: float = 0.0,
              time_budget: float | None = None) -> float:
    """Learning-rate multiplier: linear warmup, then cosine decay to 10%.

    Both phases run on one progress value, the larger of step progress and
    time progress. Under a time budget the step count is unknown up front:
    scheduling warmup and decay by a step total derived from `epochs` could
    spend the whole budget warming up, or stop at peak rate, never annealed.
    Without a time budget only steps count, so the schedule (and the run) is
    reproducible.
    """
    p = (step + 1) / max(1, total)
    if time_budget:
        p = max(p, elapsed / time_budget)
    p = min(1.0, p)
    if p < warmup_fraction:
        return p / warmup_fraction
    frac = (p - warmup_fraction) / (1.0 - warmup_fraction)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


def train(
    prm: PRM,
    examples: Sequence[SolutionExample],
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 10,
) -> TrainReport:
    """Fine-tune `prm` in place on the labeled steps of `examples`."""
    import torch

    t0 = time.monotonic()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    windows, truncated = build_windows(prm, examples)
    labels = [label for w in windows for label in w.labels if label != IGNORE]
    pos, neg = sum(1 for x in labels if x == 1), sum(1 for x in labels if x == 0)

    def report(steps: int, stopped_by: str, loss: float | None) -> TrainReport:
        per_epoch = max(1, math.ceil(len(windows) / config.batch_size))
        return TrainReport(
            steps=steps, epochs=round(steps / per_epoch, 3), seconds=round(time.monotonic() - t0, 3),
            stopped_by=stopped_by, windows=len(windows), labeled_steps=len(labels), positives=pos,
            negatives=neg, truncated_solutions=truncated, final_loss=loss, device=str(device),
        )

    if not labels:
        return report(0, "no_data", None)

    # Class weights: equal total mass per class, capped so a handful of
    # negatives cannot dominate the gradient.
    weight = None
    if config.balance_classes and pos and neg:
        w_neg = min(5.0, pos / neg) if pos > neg else 1.0
        w_pos = min(5.0, neg / pos) if neg > pos else 1.0
        weight = torch.tensor([w_neg, w_pos], dtype=torch.float32, device=device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE)

    model = prm.model.to(device)
    prm._quantized = None  # any cached int8 copy is stale once weights move
    model.train()
    per_epoch = math.ceil(len(windows) / config.batch_size)
    total = math.ceil(per_epoch * config.epochs)
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    total = max(total, 1)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(p)
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )

    def lr_at(step: int) -> float:
        return lr_factor(step, total=total, warmup_fraction=config.warmup_fraction, elapsed=time.monotonic() - t0,
                         time_budget=config.time_budget_s)

    gen = torch.Generator().manual_seed(config.seed)
    step, running, stopped_by = 0, None, "epochs"
    pad = prm.encoder.pad_id
    while step < total:
        for batch_idx in _length_bucketed_batches(windows, config.batch_size, gen):
            if step >= total:
                break
            if config.time_budget_s is not None and time.monotonic() - t0 >= config.time_budget_s:
                stopped_by = "time_budget"
                break
            if should_stop is not None and should_stop():
                stopped_by = "cancelled"
                break
            ids, mask, tgt = collate([windows[j] for j in batch_idx], pad)
            ids, mask, tgt = ids.to(device), mask.to(device), tgt.to(device)
            for g in optim.param_groups:
                g["lr"] = config.learning_rate * lr_at(step)
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optim.step()
            step += 1
            value = float(loss.detach())
            running = value if running is None else 0.9 * running + 0.1 * value
            if progress is not None and (step % progress_every == 0 or step == total):
                progress(step, total, running)
        else:
            continue
        break
    if stopped_by == "epochs" and config.max_steps is not None and step >= config.max_steps:
        stopped_by = "max_steps" if config.max_steps < math.ceil(per_epoch * config.epochs) else "epochs"
    model.eval()
    return report(step, stopped_by, None if running is None else round(running, 5))

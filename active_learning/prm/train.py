"""Fine-tuning loop (nanoGPT-style: one function, explicit state, no Trainer).

Distribution goes through Hugging Face `accelerate`: the same function runs in
one process (the Celery training worker, the CLI, a test) and unchanged under
`accelerate launch` on several GPUs, CPU processes (gloo) or nodes. accelerate
owns the process group, device placement, DDP wrapping, mixed precision and
gradient clipping across ranks; we own the data order.

Data sharding is explicit rather than through `accelerator.prepare(dataloader)`:
every rank builds the same global batch list from the same seed and takes a
strided slice of each batch. Each rank's loss is its share of the *global*
batch's token-mean (sum over its labeled tokens / the global labeled-token
count, which every rank can count locally), times the world size because DDP
averages gradients. The gradient is then the single-process gradient of the
same global batch, so N processes train the same model as one, up to float
summation order. accelerate's own batch splitting drops or pads uneven batches,
and length bucketing makes uneven batches routine.

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
    processes: int = 1

    def to_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[int, int, float], None]  # (step, total_steps, running loss)


def last_step_only(labels: Sequence[int | None]) -> tuple[int | None, ...]:
    """Keep only the last labeled step's label (TRL's train_on_last_step_only).

    For outcome-style data (one verdict per solution, or Math-Shepherd labels
    whose early steps are noisy Monte Carlo estimates) the last step carries
    the signal and earlier labels would teach the model that prefixes are fine.
    """
    last = max((i for i, label in enumerate(labels) if label is not None), default=None)
    return tuple(label if i == last else None for i, label in enumerate(labels))


def build_windows(prm: PRM, examples: Sequence[SolutionExample], *, only_last: bool = False
                  ) -> tuple[list[Window], int]:
    windows, truncated = [], 0
    for ex in examples:
        labels = last_step_only(ex.labels) if only_last and ex.labels else ex.labels
        enc = prm.encoder.encode(ex.problem, ex.steps, labels)
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


def _accelerator(config: TrainConfig):
    """The accelerate handle for this run.

    accelerate keeps one process-wide state, so a worker that trains many
    times asks for the same settings each time. `cpu=True` whenever the run is
    on the CPU: it is also what makes accelerate join several CPU processes
    (torchrun's environment) into one gloo group instead of training each alone.
    """
    import torch
    from accelerate import Accelerator

    on_cpu = config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())
    return Accelerator(cpu=on_cpu, mixed_precision=config.mixed_precision)


def train(
    prm: PRM,
    examples: Sequence[SolutionExample],
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 10,
) -> TrainReport:
    """Fine-tune `prm` in place on the labeled steps of `examples`.

    Under `accelerate launch` every rank must call this with the same examples
    and config; each rank ends with the same weights. `progress` and
    `should_stop` are consulted on every rank (the stop decision is agreed by
    all-reduce, so no rank is left waiting in a collective).
    """
    import torch

    t0 = time.monotonic()
    accelerator = _accelerator(config)
    world, rank = accelerator.num_processes, accelerator.process_index
    if world == 1 and config.device.startswith("cuda:"):
        device = resolve_device(config.device)  # one process on a chosen GPU
    elif world == 1 and config.device == "cuda":
        device = resolve_device("cuda")
    else:
        device = accelerator.device if config.device != "cpu" else torch.device("cpu")
    torch.manual_seed(config.seed)
    windows, truncated = build_windows(prm, examples, only_last=config.last_step_only)
    labels = [label for w in windows for label in w.labels if label != IGNORE]
    pos, neg = sum(1 for x in labels if x == 1), sum(1 for x in labels if x == 0)

    def report(steps: int, stopped_by: str, loss: float | None) -> TrainReport:
        per_epoch = max(1, math.ceil(len(windows) / config.batch_size))
        return TrainReport(
            steps=steps, epochs=round(steps / per_epoch, 3), seconds=round(time.monotonic() - t0, 3),
            stopped_by=stopped_by, windows=len(windows), labeled_steps=len(labels), positives=pos,
            negatives=neg, truncated_solutions=truncated, final_loss=loss, device=str(device), processes=world,
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
    # Summed, then divided by the global batch's (weighted) label mass: see the module docstring.
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE, reduction="sum")

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
    # One process: prepare() only applies mixed precision; several: DDP as well.
    wrapped, optim = accelerator.prepare(model, optim)

    def lr_at(step: int) -> float:
        return lr_factor(step, total=total, warmup_fraction=config.warmup_fraction, elapsed=time.monotonic() - t0,
                         time_budget=config.time_budget_s)

    def agreed(stop: bool) -> bool:
        if world == 1:
            return stop
        flag = torch.tensor([1.0 if stop else 0.0], device=accelerator.device)
        return bool(accelerator.reduce(flag, reduction="sum").item() > 0)

    gen = torch.Generator().manual_seed(config.seed)
    step, running, stopped_by = 0, None, "epochs"
    pad = prm.encoder.pad_id
    while step < total:
        for batch_idx in _length_bucketed_batches(windows, config.batch_size, gen):
            if step >= total:
                break
            if agreed(config.time_budget_s is not None and time.monotonic() - t0 >= config.time_budget_s):
                stopped_by = "time_budget"
                break
            if agreed(should_stop is not None and should_stop()):
                stopped_by = "cancelled"
                break
            batch = [windows[j] for j in batch_idx]
            mass = _label_mass(batch, weight)
            # A rank whose slice is empty (batch smaller than the world) still runs a
            # forward pass on one window, weighted zero, so DDP's all-reduce lines up.
            mine = batch[rank::world] or batch[:1]
            scale = 0.0 if not batch[rank::world] else float(world) / mass
            ids, mask, tgt = collate(mine, pad)
            ids, mask, tgt = ids.to(device), mask.to(device), tgt.to(device)
            for g in optim.param_groups:
                g["lr"] = config.learning_rate * lr_at(step)
            logits = wrapped(input_ids=ids, attention_mask=mask).logits
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1)) * scale
            optim.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.grad_clip:
                accelerator.clip_grad_norm_(wrapped.parameters(), config.grad_clip)
            optim.step()
            step += 1
            # The batch loss as one process would report it: this rank's share, summed over ranks.
            share = loss.detach() / world
            value = float(share if world == 1 else accelerator.reduce(share, reduction="sum"))
            running = value if running is None else 0.9 * running + 0.1 * value
            if progress is not None and (step % progress_every == 0 or step == total):
                progress(step, total, running)
        else:
            continue
        break
    if stopped_by == "epochs" and config.max_steps is not None and step >= config.max_steps:
        stopped_by = "max_steps" if config.max_steps < math.ceil(per_epoch * config.epochs) else "epochs"
    prm.model = accelerator.unwrap_model(wrapped, keep_fp32_wrapper=False)
    prm.model.eval()
    return report(step, stopped_by, None if running is None else round(running, 5))


def _label_mass(batch: Sequence[Window], weight) -> float:
    """Labeled tokens in the whole global batch, class-weighted when weights are on:
    CrossEntropyLoss's "mean" divides by exactly this."""
    if weight is None:
        return float(sum(1 for w in batch for label in w.labels if label != IGNORE))
    w = weight.tolist()
    return float(sum(w[label] for win in batch for label in win.labels if label != IGNORE))

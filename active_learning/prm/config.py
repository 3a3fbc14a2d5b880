"""Dataclass configs for the PRM. Plain values only, so they round-trip through JSON.

They are stored with every checkpoint and training run, which is what makes a
run reproducible: same data, same config, same seed, same weights (on the same
device and thread count, and with no time budget, which makes the step count
depend on the machine's speed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from active_learning.prm.calibration import CALIBRATION_METHODS
from active_learning.strategies import SOLUTION_AGGREGATES


class _JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        # Unknown keys are an error, not silently dropped: a typo in a
        # campaign's training settings must not fall back to a default.
        data = dict(data or {})
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                _check_type(cls.__name__, f.name, str(f.type), data[f.name])
        return cls(**data)


# JSON gives us these; a field's annotation (a string, under `from __future__ import annotations`)
# names which it takes. Checked up front so "max_steps": "lots" is a named error, not a TypeError
# deep in training, and NaN never reaches PostgreSQL's jsonb (which refuses it).
_JSON_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "None": (type(None),)}


def _check_type(owner: str, name: str, annotation: str, value: Any) -> None:
    parts = [p.strip() for p in annotation.split("|")]
    if not all(p in _JSON_TYPES for p in parts):
        return  # a container or other type: the dataclass's own checks apply
    ok = any(isinstance(value, t) and not (isinstance(value, bool) and p in ("int", "float"))
             for p in parts for t in _JSON_TYPES[p])
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        raise ValueError(f"{owner}.{name} must be {' or '.join(parts)}, not {value!r}")


@dataclass(frozen=True)
class ModelConfig(_JsonMixin):
    """How solutions are turned into tokens and which backbone reads them.

    backbone: a local Hugging Face model directory, or "" for the bundled
    default (all-MiniLM-L6-v2, see backbone.py).
    separator: text appended after every step; the step's label sits on the
    separator's last token. None picks the tokenizer's sep token for encoders
    (BERT's [SEP] is a single, never-merged token) and "\\n\\n" otherwise.
    max_length: tokens per window. Longer solutions are split into windows
    that repeat the problem and as much preceding context as fits in half the
    budget; the split is reported as truncation.
    max_problem_tokens: the problem statement is cut to this many tokens
    (head and tail kept) so long statements cannot crowd out the steps;
    default min(160, max_length / 2).
    num_hidden_layers: keep only the first N transformer layers of the
    backbone (None keeps all). A cheap speed/quality knob on CPU.
    """

    backbone: str = ""
    separator: str | None = None
    max_length: int = 384
    max_problem_tokens: int | None = None
    num_hidden_layers: int | None = None

    def __post_init__(self):
        if self.max_problem_tokens is None:  # frozen: set the derived default once
            object.__setattr__(self, "max_problem_tokens", min(160, self.max_length // 2))
        if self.max_length < 32:
            raise ValueError("max_length must be at least 32")
        if not 8 <= self.max_problem_tokens <= self.max_length // 2:
            raise ValueError("max_problem_tokens must be between 8 and max_length / 2")
        if self.num_hidden_layers is not None and self.num_hidden_layers < 1:
            raise ValueError("num_hidden_layers must be at least 1 (leave it unset to keep every layer)")


@dataclass(frozen=True)
class TrainConfig(_JsonMixin):
    """Fine-tuning settings.

    Budgets: training stops at whichever comes first of `epochs`, `max_steps`
    and `time_budget_s`; the report says which one stopped it. Warmup and
    decay follow whichever budget is closest to spent. With `time_budget_s`
    set, the step count and the schedule depend on the machine's speed, so
    a run is reproducible from its seed only without a time budget.
    neutral: how a 0 rating is trained. The paper counts neutral as correct
    ("positive"); "negative" is the strict reading; "ignore" drops the step.
    last_step_only: train on the last labeled step of each solution only (TRL's
    train_on_last_step_only): outcome-style supervision, for data whose only
    trustworthy label is the verdict at the end.
    mixed_precision: "no", "fp16" or "bf16", applied by accelerate (GPU runs).
    balance_classes: give each class equal total weight (capped at 5x).
    Negatives are rare once labels stop at the first error, but reweighting
    pushed every step probability down: on synthetic GSM8K it left the step
    AUROC flat and wrecked calibration and the 0.5-threshold first-error F1
    (0.02 accuracy on correct solutions), so it is off by default.
    calibration: how the held-out split calibrates the trained model.
    "temperature" fits one scale; "platt" fits a scale and a bias, which also
    undoes the base-rate shift of a model trained on a skewed queue (mostly
    wrong answers). See calibration.py and BENCHMARKS.md.
    """

    epochs: float = 2.0
    max_steps: int | None = None
    time_budget_s: float | None = None
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    grad_clip: float = 1.0
    balance_classes: bool = False
    neutral: str = "positive"
    last_step_only: bool = False
    mixed_precision: str = "no"
    seed: int = 0
    device: str = "auto"
    calibration: str = "temperature"

    def __post_init__(self):
        if self.calibration not in CALIBRATION_METHODS:
            raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_METHODS)}")
        if self.mixed_precision not in {"no", "fp16", "bf16"}:
            raise ValueError("mixed_precision must be no, fp16 or bf16")
        if self.neutral not in {"positive", "negative", "ignore"}:
            raise ValueError("neutral must be positive, negative or ignore")
        _check_device(self.device)
        if self.epochs <= 0 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError("time_budget_s must be positive (leave it unset for no time budget)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError("warmup_fraction must be in [0, 1)")


@dataclass(frozen=True)
class ScoreConfig(_JsonMixin):
    """Inference settings.

    max_batch_tokens bounds padded tokens per forward pass (windows are sorted
    by length, so padding waste stays small). None picks per device: 2048 on
    CPU, where activations that stay in cache matter more than GEMM width
    (measured 85 solutions/s at 2048 against 61 at 8192 with the 6-layer
    int8 MiniLM on two cores), and 32768 on a GPU, which wants wide batches.
    quantize_cpu applies dynamic
    int8 quantization of the linear layers when scoring on CPU: about 1.6x
    faster on this class of machine, and scores move by ~1e-2, which does
    not matter for ranking a queue (evaluation runs unquantized).
    aggregate: solution score from step scores: "product" (the paper), "min",
    "last" (the ORM reading, for models trained on outcomes) or "mean"; see
    active_learning.strategies.solution_score.
    """

    max_batch_tokens: int | None = None
    max_batch_size: int = 128
    device: str = "auto"
    quantize_cpu: bool = True
    aggregate: str = "product"

    def __post_init__(self):
        if self.aggregate not in SOLUTION_AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(SOLUTION_AGGREGATES)}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 32:
            raise ValueError("max_batch_tokens must be at least 32")
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        _check_device(self.device)

    def batch_tokens(self, device) -> int:
        if self.max_batch_tokens is not None:
            return self.max_batch_tokens
        return 2048 if device.type == "cpu" else 32768


def _check_device(name: str) -> None:
    # The syntax only: whether this worker has that GPU is known where it loads the model
    # (resolve_device), not on the web process that checks a setting.
    if name in {"auto", "cpu", "cuda"} or (name.startswith("cuda:") and name[5:].isdigit()):
        return
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {name!r}")


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for but CUDA is not available on this worker")
    return torch.device(name)

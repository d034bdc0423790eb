from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.models import PatchClassifierConfig, build_patch_classifier, load_patch_classifier, save_checkpoint


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_one_logit_per_patch(arch: str) -> None:
    model = build_patch_classifier(PatchClassifierConfig(arch=arch, tile_size=64)).eval()
    with torch.inference_mode():
        logits = model(torch.rand(3, 3, 64, 64))
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="unknown patch classifier architecture 'vgg'"):
        build_patch_classifier(PatchClassifierConfig(arch="vgg"))
    with pytest.raises(ConfigError, match="tile size"):
        build_patch_classifier(PatchClassifierConfig(tile_size=8))
    with pytest.raises(ConfigError, match="unknown key"):
        PatchClassifierConfig.from_dict({"arch": "resnet18", "size": 3})


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    config = PatchClassifierConfig(arch="mobilenet_v3_small", tile_size=64, mpp=2.0)
    torch.manual_seed(0)
    model = build_patch_classifier(config).eval()
    path = tmp_path / "patch_classifier.pt"
    save_checkpoint(path, "patch-classifier", config.to_dict(), model, extra={"patches": {"size": 64}})
    loaded, loaded_config, checkpoint = load_patch_classifier(path)
    assert loaded_config == config
    assert checkpoint["patches"] == {"size": 64}
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    with pytest.raises(ConfigError, match="holds a 'patch-classifier' model, expected a 'segmenter'"):
        from algorithm.models import load_segmenter

        load_segmenter(path)

"""The nuclei U-Net: shapes, its config and its checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.models import UNetConfig, build_unet, load_nuclei_segmenter, save_checkpoint


def test_logits_have_the_tiles_size() -> None:
    model = build_unet(UNetConfig(widths=(4, 8, 16), tile_size=64)).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 48)).shape == (2, 1, 64, 48)


def test_config_round_trips_and_checks_itself() -> None:
    config = UNetConfig(widths=(8, 16, 32), tile_size=128, mpp=0.25)
    assert UNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="multiple of 4"):
        UNetConfig(widths=(8, 16, 32), tile_size=66)
    with pytest.raises(ConfigError, match="two or more levels"):
        UNetConfig(widths=(8,))
    with pytest.raises(ConfigError, match="ckpt: config.*unknown"):
        UNetConfig.from_dict({"widths": [8, 16], "depth": 3}, source="ckpt: config")
    with pytest.raises(ConfigError, match="ckpt: config: .*tile size"):
        UNetConfig.from_dict({"widths": [8, 16], "tile_size": 65}, source="ckpt: config")


def test_a_checkpoint_of_another_kind_is_refused(tmp_path: Path) -> None:
    config = UNetConfig(widths=(4, 8), tile_size=32)
    save_checkpoint(tmp_path / "n.pt", "nuclei", config.to_dict(), build_unet(config))
    model, loaded, _ = load_nuclei_segmenter(tmp_path / "n.pt")
    assert loaded == config and not model.training
    save_checkpoint(tmp_path / "s.pt", "segmenter", config.to_dict(), build_unet(config))
    with pytest.raises(ConfigError, match="expected a 'nuclei'"):
        load_nuclei_segmenter(tmp_path / "s.pt")

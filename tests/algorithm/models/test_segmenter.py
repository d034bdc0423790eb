from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.models import SegmenterConfig, build_segmenter, load_segmenter, save_checkpoint


@pytest.mark.parametrize("stages", [(1, 2, 3), (2, 3, 4), (3,)])
def test_logits_cover_the_tile(stages: tuple[int, ...]) -> None:
    model = build_segmenter(SegmenterConfig(stages=stages, tile_size=64)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64) and torch.isfinite(out).all()


def test_later_stages_are_not_built() -> None:
    """Stages past the last one asked for hold most of ResNet's weights: they must not exist."""
    model = build_segmenter(SegmenterConfig(stages=(1, 2, 3)))
    assert not any(name.startswith("encoder.layer4") for name, _ in model.named_parameters())


@pytest.mark.parametrize(
    "config, message",
    [
        (SegmenterConfig(arch="vgg"), "unknown segmenter architecture"),
        (SegmenterConfig(stages=(3, 2)), "increasing"),
        (SegmenterConfig(stages=(1, 2, 3), tile_size=100), "multiple of 16"),
    ],
)
def test_bad_configs(config: SegmenterConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_segmenter(config)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    config = SegmenterConfig(tile_size=64, mpp=4.0)
    model = build_segmenter(config).eval()
    save_checkpoint(tmp_path / "s.pt", "segmenter", config.to_dict(), model, extra={"stain": None})
    loaded, loaded_config, rest = load_segmenter(tmp_path / "s.pt")
    assert loaded_config == config and "stain" in rest and not loaded.training
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_a_detector_is_not_a_segmenter(tmp_path: Path) -> None:
    config = SegmenterConfig(tile_size=64)
    save_checkpoint(tmp_path / "d.pt", "detector", config.to_dict(), build_segmenter(config))
    with pytest.raises(ConfigError, match=r"d\.pt: holds a 'detector' model, expected a 'segmenter'"):
        load_segmenter(tmp_path / "d.pt")

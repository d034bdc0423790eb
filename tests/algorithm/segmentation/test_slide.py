from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.engine import EngineOptions
from algorithm.errors import ConfigError
from algorithm.models import SegmenterConfig, build_segmenter
from algorithm.segmentation import SegmentationOptions, segment_slide
from algorithm.slide import open_slide
from tests.conftest import blob_image, write_pyramid_tiff

CONFIG = SegmenterConfig(tile_size=64, mpp=2.0)  # 64 px tiles = 256 level-0 px at 0.5 um/px


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_segmenter(CONFIG).eval()


def test_heatmap_geometry_and_values(tmp_path: Path, model: torch.nn.Module) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    with open_slide(path) as slide:
        found = segment_slide(slide, model, CONFIG, SegmentationOptions(engine=EngineOptions(batch_size=4)))
    heatmap = found.heatmap
    assert heatmap.downsample == 8.0 and heatmap.mpp == 4.0  # two model pixels per heatmap pixel
    assert heatmap.shape == (100, 150)
    assert 0 < found.tiles < found.tiles_total
    assert heatmap.probability.dtype == np.float32
    assert heatmap.probability.min() >= 0 and heatmap.probability.max() <= 1
    assert heatmap.tissue.any() and not heatmap.tissue.all()
    # corners hold no tissue tile: never analysed, zero
    assert heatmap.probability[0, 0] == 0 and heatmap.probability[-1, -1] == 0
    assert (heatmap.probability[heatmap.tissue] > 0).mean() > 0.95


def test_same_slide_same_heatmap(tmp_path: Path, model: torch.nn.Module) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 600), mpp=0.5, tile=128)
    with open_slide(path) as slide:
        a = segment_slide(slide, model, CONFIG).heatmap.probability
        b = segment_slide(slide, model, CONFIG).heatmap.probability
        c = segment_slide(
            slide, model, CONFIG, SegmentationOptions(engine=EngineOptions(batch_size=3, prefetch=1))
        ).heatmap.probability
    assert np.array_equal(a, b)
    assert np.allclose(a, c, atol=1e-5)  # batch size changes float summation order, nothing more


def test_glass_gives_an_empty_heatmap(tmp_path: Path, model: torch.nn.Module) -> None:
    path = write_pyramid_tiff(tmp_path / "g.tiff", np.full((600, 800, 3), 244, np.uint8), mpp=0.5)
    with open_slide(path) as slide:
        found = segment_slide(slide, model, CONFIG)
    assert found.tiles == 0 and not found.heatmap.probability.any() and not found.heatmap.tissue.any()


def test_heatmap_factor_must_divide_the_tile(tmp_path: Path, model: torch.nn.Module) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(300, 200), mpp=0.5)
    with open_slide(path) as slide, pytest.raises(ConfigError, match="heatmap factor 3"):
        segment_slide(slide, model, CONFIG, SegmentationOptions(heatmap_factor=3))

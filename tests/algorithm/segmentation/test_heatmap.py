from __future__ import annotations

import numpy as np
import pytest

from algorithm.errors import KitError
from algorithm.segmentation.heatmap import HeatmapStitcher, heatmap_shape, mask_on_grid
from algorithm.tiling.grid import Tile


def _tile(x: int, y: int, extent: int = 80, size: int = 40) -> Tile:
    return Tile(index=0, x=x, y=y, extent=(extent, extent), size=(size, size), tissue=1.0)


def test_overlaps_are_averaged_not_summed() -> None:
    stitcher = HeatmapStitcher((160, 80), downsample=4.0)  # 40 x 20 heatmap pixels
    a, b = _tile(0, 0), _tile(40, 0)  # 20 heatmap px each, overlapping by 10
    stitcher.add(a, np.full((20, 20), 0.2, np.float32))
    stitcher.add(b, np.full((20, 20), 0.6, np.float32))
    heatmap = stitcher.result(np.ones(stitcher.shape, bool), mpp=2.0)
    row = heatmap.probability[0]
    assert np.allclose(row[:10], 0.2) and np.allclose(row[10:20], 0.4) and np.allclose(row[20:30], 0.6)
    assert np.all(row[30:] == 0)  # never covered: zero
    assert heatmap.mpp == 2.0 and heatmap.downsample == 4.0


def test_tiles_past_the_edge_are_clipped() -> None:
    stitcher = HeatmapStitcher((100, 100), downsample=4.0)  # 25 x 25
    stitcher.add(_tile(60, 60), np.ones((20, 20), np.float32))
    heatmap = stitcher.result(np.ones(stitcher.shape, bool), mpp=1.0)
    assert heatmap.probability[15:, 15:].min() == 1 and heatmap.probability[:15].max() == 0


def test_wrong_tile_size_is_refused() -> None:
    stitcher = HeatmapStitcher((100, 100), downsample=4.0)
    with pytest.raises(KitError, match="expected"):
        stitcher.add(_tile(0, 0), np.ones((10, 10), np.float32))


def test_shape_and_mask_sampling() -> None:
    assert heatmap_shape((1001, 500), 10.0) == (50, 101)
    mask = np.zeros((10, 20), bool)
    mask[:, 10:] = True  # right half, mask pixels of 8 level-0 px
    on_grid = mask_on_grid(mask, (8.0, 8.0), heatmap_shape((160, 80), 4.0), 4.0)
    assert on_grid.shape == (20, 40)
    assert not on_grid[:, :20].any() and on_grid[:, 20:].all()


def test_a_taper_blends_overlaps_linearly_and_keeps_lone_values() -> None:
    stitcher = HeatmapStitcher((160, 80), downsample=4.0, taper=10)
    stitcher.add(_tile(0, 0), np.full((20, 20), 0.2, np.float32))
    stitcher.add(_tile(40, 0), np.full((20, 20), 0.6, np.float32))
    row = stitcher.result(np.ones(stitcher.shape, bool), mpp=2.0).probability[10]
    assert np.allclose(row[:10], 0.2)  # one tile only: its value, whatever its weight
    blend = row[10:20]
    assert np.all(np.diff(blend) > 0) and 0.2 < blend[0] < 0.4 < blend[-1] < 0.6  # a ramp, not a step
    assert np.allclose(row[20:30], 0.6)


def test_taper_window() -> None:
    from algorithm.segmentation.heatmap import taper_window

    window = taper_window((8, 6), taper=2)
    assert window.shape == (6, 8) and window.max() == 1.0 and window[0, 0] == pytest.approx(0.0625)
    assert np.all(taper_window((4, 4), taper=0) == 1)

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from algorithm.tiling import read_tile, tile_grid
from algorithm.tiling.grid import _starts
from algorithm.tissue import TissueMask, tissue_mask
from tests.conftest import blob_image, write_pyramid_tiff


def test_starts_cover_the_axis_flush_with_the_edge() -> None:
    assert _starts(1000, 512, 448) == [0, 448, 488]
    assert _starts(512, 512, 448) == [0]
    assert _starts(100, 512, 448) == [0]
    assert _starts(100, 512, 448, centred=True) == [-206]  # 206 + 100 + 206 = 512
    assert _starts(1000, 512, 448, centred=True) == [0, 448, 488]  # longer axes as before
    for length in range(513, 3000, 97):
        starts = _starts(length, 512, 448)
        assert starts[-1] + 512 == length
        assert all(b - a <= 448 for a, b in zip(starts, starts[1:], strict=False))


@pytest.fixture()
def slide(tmp_path: Path):
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    with open_slide(path) as s:
        yield s


def test_full_grid_order_and_overlap(slide) -> None:
    grid = tile_grid(slide, 256, 32)
    assert grid.candidates == len(grid) == 6 * 4
    origins = [(t.x, t.y) for t in grid]
    assert origins == sorted(origins, key=lambda o: (o[1], o[0]))
    assert origins[1][0] - origins[0][0] == 224


def test_grid_keeps_tissue_and_skips_glass(slide) -> None:
    mask = tissue_mask(slide)
    grid = tile_grid(slide, 128, 0, mask=mask, min_tissue=0.5)
    assert 0 < len(grid) < grid.candidates
    for tile in grid:
        patch = read_tile(slide, grid, tile)
        assert (patch.min(axis=-1) < 220).mean() > 0.3  # stained pixels, not glass
    kept = {t.index for t in grid}
    dropped = [i for i in range(grid.candidates) if i not in kept]
    assert dropped  # corners of the slide are glass


def test_grid_at_a_coarser_resolution_reads_the_pyramid(slide) -> None:
    grid = tile_grid(slide, 100, 10, mpp=2.0)
    assert grid.scale == pytest.approx(4.0)
    assert grid.level == 2
    tile = grid.tiles[1]
    assert tile.extent == (400, 400)
    patch = read_tile(slide, grid, tile)
    assert patch.shape == (100, 100, 3)
    direct = slide.read_region((tile.x, tile.y), 0, (400, 400))
    approx = direct.reshape(100, 4, 100, 4, 3).mean(axis=(1, 3))
    assert np.abs(patch.astype(float) - approx).mean() < 4.0


def test_grid_between_levels_resamples(slide) -> None:
    grid = tile_grid(slide, 64, 0, mpp=0.75)  # 1.5 level-0 px per tile px: read level 0, shrink
    assert grid.level == 0
    assert read_tile(slide, grid, grid.tiles[0]).shape == (64, 64, 3)


def test_empty_slide_gives_empty_grid(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "glass.tiff", np.full((500, 700, 3), 243, np.uint8), mpp=0.5)
    with open_slide(path) as glass:
        mask = tissue_mask(glass)
        assert mask.is_empty
        grid = tile_grid(glass, 128, 16, mask=mask)
    assert len(grid) == 0 and grid.candidates > 0


def test_bad_grid_arguments(slide) -> None:
    with pytest.raises(ConfigError):
        tile_grid(slide, 128, 128)
    with pytest.raises(ConfigError):
        tile_grid(slide, 128, 0, level=1, mpp=1.0)
    with pytest.raises(ConfigError, match="level 9"):
        tile_grid(slide, 128, 0, level=9)


def test_an_image_smaller_than_a_tile_counts_tissue_over_the_image(tmp_path: Path) -> None:
    # 100 x 100 px of tissue under one 256 px tile: 15 % of the tile, all of the image
    image = np.full((100, 100, 3), (170, 90, 160), np.uint8)
    with open_slide(write_pyramid_tiff(tmp_path / "small.tiff", image, mpp=0.5, levels=1)) as small:
        grid = tile_grid(small, 256, 32, mpp=0.5, mask=TissueMask.whole(100, 100), min_tissue=0.5)
        assert len(grid) == 1 and grid.tiles[0].tissue == 1.0
        half = TissueMask(mask=np.arange(100)[None, :].repeat(100, 0) < 50, downsample=(1.0, 1.0))
        assert tile_grid(small, 256, 32, mpp=0.5, mask=half, min_tissue=0.4).tiles[0].tissue == 0.5


def test_a_small_image_centred_in_its_tile_reads_glass_all_round(tmp_path: Path) -> None:
    """``centred``: a 100 x 60 px image (0.25 um/px) in the middle of its one 256 px tile at 0.5 um/px;
    the tissue fraction is still the image's."""
    image = np.full((60, 100, 3), (170, 90, 160), np.uint8)
    path = write_pyramid_tiff(tmp_path / "small.tiff", image, mpp=0.25, levels=1)
    with open_slide(path) as small:
        mask = TissueMask.whole(100, 60)
        assert [(t.x, t.y) for t in tile_grid(small, 256, 32, mpp=0.5, mask=mask)] == [(0, 0)]
        grid = tile_grid(small, 256, 32, mpp=0.5, mask=mask, centred=True)
        tile = grid.tiles[0]
        assert len(grid) == 1 and tile.tissue == 1.0
        assert (tile.x, tile.y) == (-2 * 103, -2 * 113)  # (256 - 50) / 2 and (256 - 30) / 2 tile px, in level-0 px
        pixels = read_tile(small, grid, tile)
    stained = (pixels != 255).any(axis=-1)
    rows, cols = np.flatnonzero(stained.any(axis=1)), np.flatnonzero(stained.any(axis=0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (113, 143, 103, 153)

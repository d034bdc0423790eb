from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.engine.reading import RegionReader
from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.slide.base import WHITE
from algorithm.slide.resample import resample
from algorithm.tiling import tile_grid
from algorithm.tiling.grid import Tile
from tests.algorithm.engine.helpers import slide_with_a_broken_tile
from tests.conftest import blob_image, write_pyramid_tiff


def _slide(tmp_path: Path) -> Path:
    return write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1000, 700, seed=3), mpp=0.25, tile=64, compression="jpeg")


def test_native_regions_equal_the_readers_and_each_stored_tile_is_decoded_once(tmp_path: Path) -> None:
    with open_slide(_slide(tmp_path)) as slide:
        grid = tile_grid(slide, 96, 24, mpp=0.5)  # read at level 1, overlapping, edge tiles past the slide
        reader = RegionReader(slide, grid, tilewise=False)
        assert reader.native is not None and reader.concurrent
        with ThreadPoolExecutor(4) as pool:
            regions = list(pool.map(reader.read, grid.tiles))
        for tile, region in zip(grid.tiles, regions, strict=False):
            w, h = region.shape[1], region.shape[0]
            np.testing.assert_array_equal(region, slide.read_region((tile.x, tile.y), grid.level, (w, h)))
        native = slide.native_tiles()
        assert native is not None
        columns, rows = native.tile_grid(grid.level)
        assert reader.decoded == columns * rows  # every stored tile touched, each decoded once
        assert reader.cached == 0  # all released after their last use


def test_regions_read_into_a_given_array_as_into_a_new_one(tmp_path: Path) -> None:
    """The CUDA path reads each region straight into its pinned batch slot, which holds the last batch's pixels."""
    with open_slide(_slide(tmp_path)) as slide:
        grid = tile_grid(slide, 96, 24, mpp=0.5)
        reader = RegionReader(slide, grid, tilewise=False)
        last = grid.tiles[-1]
        edge = Tile(last.index + 1, 900, 600, last.extent, last.size, 1.0)  # past the corner: glass must
        # overwrite what the slot held
        for tile in (grid.tiles[0], edge):
            expected = RegionReader(slide, grid, tilewise=False).read(tile)
            slot = np.zeros_like(expected)
            assert reader.read(tile, out=slot) is slot
            np.testing.assert_array_equal(slot, expected)
        (x, y, w, h), (_, _, x1, y1) = reader.clipped(edge)
        assert x1 < x + w or y1 < y + h  # it does pass the edge
        assert (slot[y1 - y :, :] == WHITE).all() and (slot[:, x1 - x :] == WHITE).all()


def test_formats_without_stored_tiles_read_through_the_reader(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "stripped.tif"
    tifffile.imwrite(
        path, blob_image(300, 200), photometric="rgb", resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER"
    )
    with open_slide(path) as slide:
        grid = tile_grid(slide, 64, 8)
        reader = RegionReader(slide, grid)
        assert reader.native is None
        tile = grid.tiles[5]
        np.testing.assert_array_equal(reader.read(tile), slide.read_region((tile.x, tile.y), 0, tile.size))


def _colour_map(pixels: np.ndarray) -> np.ndarray:
    """A per-pixel map that moves white too (so glass past the edge must be mapped as well)."""
    p = pixels.astype(np.uint16)
    return (255 - (p * p) // 255).astype(np.uint8)[..., ::-1].copy()


@pytest.mark.parametrize(
    ("levels", "mpp", "factor"),
    [(3, 0.5, 1), (1, 0.5, 2), (1, 1.0, 4), (2, 1.0, 2), (1, 0.6, None)],
    ids=["level-1-as-is", "shrink-2", "shrink-4", "odd-sized-level-shrink-2", "not-whole"],
)
def test_tiles_cut_from_shrunk_mapped_stored_tiles_equal_each_region_read_and_resampled(
    tmp_path: Path, levels: int, mpp: float, factor: int | None
) -> None:
    path = write_pyramid_tiff(
        tmp_path / "s.tiff", blob_image(1002, 706, seed=5), mpp=0.25, tile=64, levels=levels, compression="jpeg"
    )
    with open_slide(path) as slide:
        grid = tile_grid(slide, 40, 8, mpp=mpp)  # overlapping tiles, the last ones past the slide's edge
        tilewise = RegionReader(slide, grid, _colour_map, jpeg_scaling=False)
        plain = RegionReader(slide, grid, tilewise=False)
        assert tilewise.factor == factor
        with ThreadPoolExecutor(3) as pool:
            tiles = list(pool.map(tilewise.read_tile, grid.tiles))
        for tile, got in zip(grid.tiles, tiles, strict=False):
            region = resample(plain.read(tile), tile.extent, plain.downsample, tile.size)
            np.testing.assert_array_equal(got, _colour_map(region), err_msg=f"tile {tile.index}")
        assert tilewise.cached == 0
        if factor is not None:
            native = slide.native_tiles()
            assert native is not None
            columns, rows = native.tile_grid(grid.level)
            assert tilewise.decoded == columns * rows  # each stored tile decoded (and shrunk, mapped) once


@pytest.mark.parametrize(("mpp", "factor"), [(0.5, 2), (1.0, 4)])
def test_jpeg_tiles_shrunk_while_decoding_are_the_exact_tiles_within_decoder_noise(
    tmp_path: Path, shared_data: Path, mpp: float, factor: int
) -> None:
    he = np.asarray(Image.open(shared_data / "he" / "tiatoolbox-target.png").convert("RGB"))  # real H&E
    path = write_pyramid_tiff(tmp_path / "s.tiff", he[:706, :1002], mpp=0.25, tile=64, levels=1, compression="jpeg")
    with open_slide(path) as slide:
        grid = tile_grid(slide, 40, 8, mpp=mpp)
        scaled = RegionReader(slide, grid, _colour_map)  # the default
        exact = RegionReader(slide, grid, _colour_map, jpeg_scaling=False)
        assert scaled.factor == exact.factor == factor
        with ThreadPoolExecutor(3) as pool:
            tiles = list(pool.map(scaled.read_tile, grid.tiles))
        difference = np.stack(
            [np.abs(got.astype(np.int16) - exact.read_tile(tile)) for tile, got in zip(grid.tiles, tiles, strict=True)]
        )
        assert 0 < difference.mean() < 1.0 and np.percentile(difference, 99) <= 4
        native = slide.native_tiles()
        assert native is not None
        columns, rows = native.tile_grid(grid.level)
        assert scaled.decoded == columns * rows and scaled.cached == 0  # still each stored tile decoded once


class _CountingMap:
    """``_colour_map``, counting its calls and the stored tiles it was given."""

    def __init__(self) -> None:
        self.calls = 0
        self.tiles = 0

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.tiles += 1 if pixels.ndim == 3 else pixels.shape[0]
        return _colour_map(pixels)


def test_a_run_of_tiles_prefetched_maps_its_new_stored_tiles_in_one_call_with_the_same_bytes(tmp_path: Path) -> None:
    """A worker about to read neighbouring tiles decodes the stored tiles no one has claimed and maps them
    together (the memo table's fixed cost per call, paid once per run); what it reads is unchanged."""
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1002, 706, seed=5), mpp=0.25, tile=64, levels=1)
    with open_slide(path) as slide:
        grid = tile_grid(slide, 40, 8, mpp=0.5)  # shrink 2, overlapping, the last tiles past the edge
        counting = _CountingMap()
        reader = RegionReader(slide, grid, counting, jpeg_scaling=False)
        plain = RegionReader(slide, grid, _colour_map, jpeg_scaling=False)
        run = grid.tiles[:6]
        reader.prefetch(run)
        under = {key for tile in run for key in reader.keys(tile)}
        assert counting.calls == 1 and counting.tiles == len(under) == reader.decoded > 1
        reader.prefetch(run)  # nothing new to claim
        assert counting.calls == 1
        for tile in run:
            np.testing.assert_array_equal(reader.read_tile(tile), plain.read_tile(tile))
        assert counting.calls == 1  # the run's tiles found every stored tile they need mapped

        # workers prefetching their own runs and reading them: the same tiles, each stored tile decoded once
        reader = RegionReader(slide, grid, _colour_map, jpeg_scaling=False)
        runs = [grid.tiles[i : i + 4] for i in range(0, len(grid.tiles), 4)]

        def read_run(tiles: list[Tile]) -> list[np.ndarray]:
            reader.prefetch(tiles)
            return [reader.read_tile(tile) for tile in tiles]

        with ThreadPoolExecutor(3) as pool:
            got = [tile for run_tiles in pool.map(read_run, runs) for tile in run_tiles]
        for tile, pixels in zip(grid.tiles, got, strict=True):
            np.testing.assert_array_equal(pixels, plain.read_tile(tile), err_msg=f"tile {tile.index}")
        native = slide.native_tiles()
        assert native is not None
        columns, rows = native.tile_grid(grid.level)
        assert reader.decoded == columns * rows and reader.cached == 0


def test_a_stored_tile_that_cannot_be_read_in_a_prefetch_fails_its_readers_without_a_hang(tmp_path: Path) -> None:
    with open_slide(slide_with_a_broken_tile(tmp_path)) as slide:
        grid = tile_grid(slide, 128, 16)
        reader = RegionReader(slide, grid, _colour_map)
        with pytest.raises(SlideError, match="broken.tiff"):
            reader.prefetch(grid.tiles)  # the whole grid as one run: the broken tile is among them
        for tile in grid.tiles:  # claimed by that prefetch: each read re-raises its error, none waits forever
            with pytest.raises(SlideError, match="broken.tiff"):
                reader.read_tile(tile)

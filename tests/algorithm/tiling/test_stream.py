from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.tiling import read_tile, stream_batches, tile_grid
from tests.conftest import blob_image, write_pyramid_tiff


@pytest.fixture()
def slide(tmp_path: Path):
    with open_slide(write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 700), mpp=0.5)) as s:
        yield s


def test_batches_in_grid_order_with_transform(slide) -> None:
    grid = tile_grid(slide, 128, 16)
    batches = list(stream_batches(slide, grid, 5, transform=lambda px: 255 - px))
    tiles = [t for b in batches for t in b.tiles]
    assert tiles == list(grid.tiles)
    assert [len(b.tiles) for b in batches][:-1] == [5] * (len(batches) - 1)
    first = batches[0]
    np.testing.assert_array_equal(first.pixels[2], 255 - read_tile(slide, grid, grid.tiles[2]))


def test_producer_errors_reach_the_consumer(slide) -> None:
    grid = tile_grid(slide, 128, 16)

    def broken(px: np.ndarray) -> np.ndarray:
        raise SlideError("s.tiff: cannot decode")

    with pytest.raises(SlideError, match="cannot decode"):
        list(stream_batches(slide, grid, 4, transform=broken))


def test_closing_early_stops_the_reader(slide) -> None:
    grid = tile_grid(slide, 64, 0)
    stream = stream_batches(slide, grid, 2, prefetch=1)
    next(stream)
    stream.close()
    assert not any(t.name == "tile-reader" for t in threading.enumerate())

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.slide import open_slide
from algorithm.stain import get_normaliser
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tissue import tissue_mask
from tests.conftest import blob_image, write_pyramid_tiff


@pytest.fixture()
def slide_path(tmp_path: Path) -> Path:
    return write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 600, seed=1), mpp=0.5, tile=128)


def test_cpu_default_memoises_colours_and_maps_as_the_full_table_and_the_direct_map(slide_path: Path) -> None:
    spec = StainSpec.of(get_normaliser("macenko").fit(blob_image(300, 200, seed=4)))
    tiles = np.stack([blob_image(64, 64, seed=s) for s in (2, 3, 4)])
    with open_slide(slide_path) as slide:
        normaliser = slide_normaliser(spec, slide, tissue_mask(slide), level=0)
    assert normaliser is not None
    memo = normaliser(tiles)
    memo_table = normaliser.memo_table()
    assert not normaliser._luts  # no 2^24 build up front
    assert 0 < memo_table.filled <= len(np.unique(tiles.reshape(-1, 3), axis=0))
    assert np.array_equal(normaliser(tiles), memo)  # second time: all from the table
    direct = normaliser.fixed_map("cpu")(torch.from_numpy(tiles.reshape(-1, 3).copy())).numpy().reshape(tiles.shape)
    full = normaliser.lookup_table("cpu")(torch.from_numpy(tiles.reshape(-1, 3).copy())).numpy().reshape(tiles.shape)
    assert np.array_equal(memo, direct) and np.array_equal(memo, full)


def test_nothing_to_normalise_fits_nothing(slide_path: Path) -> None:
    spec = StainSpec.of(get_normaliser("macenko").fit(blob_image(300, 200, seed=4)))
    with open_slide(slide_path) as slide:
        assert slide_normaliser(spec, slide, tissue_mask(slide), level=0, pixels=0) is None

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithm.normalise import LUT_BREAK_EVEN_PIXELS, slide_normaliser
from algorithm.slide import open_slide
from algorithm.stain import get_normaliser
from algorithm.tissue import tissue_mask
from tests.conftest import blob_image, write_pyramid_tiff


@pytest.fixture()
def slide_path(tmp_path: Path) -> Path:
    return write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 600, seed=1), mpp=0.5, tile=128)


def test_few_pixels_skip_the_lookup_table_and_map_the_same(slide_path: Path) -> None:
    spec = get_normaliser("macenko").fit(blob_image(300, 200, seed=4)).params()
    tiles = blob_image(64, 64, seed=2)[None].repeat(3, axis=0)
    with open_slide(slide_path) as slide:
        mask = tissue_mask(slide)
        direct = slide_normaliser(spec, slide, mask, level=0, pixels=3 * 64 * 64)
        table = slide_normaliser(spec, slide, mask, level=0, pixels=LUT_BREAK_EVEN_PIXELS)
        unknown = slide_normaliser(spec, slide, mask, level=0)
    assert direct.__self__.use_lut is False
    assert table.__self__.use_lut is None and unknown.__self__.use_lut is None  # default: the table on a CPU
    assert np.array_equal(direct(tiles), table(tiles))
    assert table.__self__._luts and not direct.__self__._luts  # the table was built only where it pays


def test_nothing_to_normalise_fits_nothing(slide_path: Path) -> None:
    spec = get_normaliser("macenko").fit(blob_image(300, 200, seed=4)).params()
    with open_slide(slide_path) as slide:
        assert slide_normaliser(spec, slide, tissue_mask(slide), level=0, pixels=0) is None

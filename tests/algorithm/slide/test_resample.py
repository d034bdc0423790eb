"""Resampling a region to a tile: the numpy box filter must give Pillow's exact bytes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from algorithm.slide.resample import reduce_box, resample


def _pillow_box(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX, box=(0.0, 0.0, w, h)))


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("shape", [(512, 512), (64, 192), (256, 32)])
def test_reduce_box_is_pillows_box_filter_to_the_byte(k: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(k * 1000 + shape[1])
    h, w = shape
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    extremes = np.where(rng.random((h, w, 1)) < 0.5, 0, 255).astype(np.uint8).repeat(3, axis=2)
    odd_sums = (rng.integers(0, 128, (h, w, 3)) * 2 + 1).astype(np.uint8)  # every rounding tie
    for pixels in (noise, extremes, odd_sums):
        np.testing.assert_array_equal(reduce_box(pixels, k), _pillow_box(pixels, (w // k, h // k)))


def test_resample_takes_the_numpy_filter_only_for_whole_regions_shrunk_by_a_power_of_two() -> None:
    rng = np.random.default_rng(0)
    region = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    # whole region, factor 2: numpy; a box inside the region, factor 3, enlarging: Pillow
    np.testing.assert_array_equal(
        resample(region[:256, :256], (512, 512), 2.0, (128, 128)), _pillow_box(region[:256, :256], (128, 128))
    )
    expected = np.asarray(Image.fromarray(region).resize((100, 100), Image.Resampling.BOX, box=(0, 0, 299.5, 299.5)))
    np.testing.assert_array_equal(resample(region, (599, 599), 2.0, (100, 100)), expected)
    np.testing.assert_array_equal(resample(region[:99, :99], (297, 297), 1.0, (99, 99)), region[:99, :99])
    big = resample(region[:50, :50], (100, 100), 2.0, (100, 100))
    assert big.shape == (100, 100, 3)


def test_read_rect_reads_at_a_resolution(tmp_path) -> None:
    from algorithm.slide import open_slide
    from tests.conftest import blob_image, write_pyramid_tiff

    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400, seed=1), mpp=0.25, tile=64)
    with open_slide(path) as slide:
        assert slide.downsample_for(1.0) == 4.0 and slide.mpp_at(4.0) == 1.0
        assert slide.level_for(0.6) == 1 and slide.level_for(1.0) == 2 and slide.level_for(0.1) == 0
        # 1 um/px: level 2 read as it is; 0.75 um/px: level 1 (0.5 um/px) area-averaged
        np.testing.assert_array_equal(
            slide.read_rect((40, 80), (30, 20), 1.0), slide.read_region((40, 80), 2, (30, 20))
        )
        region = slide.read_region((40, 80), 1, (45, 30))
        np.testing.assert_array_equal(
            slide.read_rect((40, 80), (30, 20), 0.75), resample(region, (90, 60), 2.0, (30, 20))
        )

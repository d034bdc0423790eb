from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from tests.conftest import write_pyramid_tiff
from training.datasets.tumour import TumourSlide, read_tumour_folder
from training.segmenter.sampler import MaskPatch, MaskPatchSampler, augment


@pytest.fixture(scope="module")
def slides(synthetic_slide) -> list[TumourSlide]:
    return read_tumour_folder(synthetic_slide.files.slide.parent)


@pytest.fixture()
def sampler(slides: list[TumourSlide]):
    sampler = MaskPatchSampler(slides, tile_size=64, mpp=2.0, tumour_fraction=1.0)
    yield sampler
    sampler.close()


def test_synthetic_slide_is_a_tumour_slide(slides: list[TumourSlide]) -> None:
    (slide,) = slides
    assert slide.label == 1 and slide.domain == "B"
    assert slide.major_axis_um > 0


def test_patches_have_pixels_and_a_binary_target(sampler: MaskPatchSampler) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        patch = sampler.sample(rng)
        assert patch.pixels.shape == (64, 64, 3) and patch.pixels.dtype == np.uint8
        assert patch.target.shape == (64, 64) and patch.target.dtype == np.float32
        assert set(np.unique(patch.target)) <= {0.0, 1.0}
        assert patch.slide == 0


def test_tumour_patches_mostly_show_tumour(sampler: MaskPatchSampler, slides: list[TumourSlide]) -> None:
    rng = np.random.default_rng(1)
    targets = [sampler.sample(rng).target for _ in range(20)]
    assert np.mean([t.any() for t in targets]) >= 0.8
    # far more tumour than the slide has on average
    assert np.mean([t.mean() for t in targets]) > 2 * slides[0].mask.mean()


def test_same_seed_same_patch(sampler: MaskPatchSampler, slides: list[TumourSlide]) -> None:
    a = sampler.sample(np.random.default_rng(7))
    b = sampler.sample(np.random.default_rng(7))
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(a.target, b.target)
    fresh = MaskPatchSampler(slides, tile_size=64, mpp=2.0, tumour_fraction=1.0)
    c = fresh.sample(np.random.default_rng(7))
    fresh.close()
    np.testing.assert_array_equal(a.pixels, c.pixels)


def test_target_lies_under_the_tumour_pixels(tmp_path) -> None:
    """A slide whose tumour is drawn dark exactly where its mask says: pixels and target must agree."""
    image = np.full((600, 800, 3), (200, 120, 180), np.uint8)
    image[160:300, 200:520] = (90, 30, 110)
    write_pyramid_tiff(tmp_path / "s.tiff", image, mpp=0.5, tile=64, levels=2)
    mask = np.zeros((150, 200), np.uint8)  # downsample 4
    mask[40:75, 50:130] = 255
    Image.fromarray(mask).save(tmp_path / "s.tumour-mask.png")
    sampler = MaskPatchSampler(read_tumour_folder(tmp_path), tile_size=32, mpp=1.0, tumour_fraction=1.0)
    rng = np.random.default_rng(3)
    for _ in range(10):
        patch = sampler.sample(rng)
        dark = patch.pixels[..., 0] < 145
        assert patch.target.any() and (dark == (patch.target == 1)).mean() > 0.95
    sampler.close()


def test_no_slides_is_an_error() -> None:
    with pytest.raises(ConfigError):
        MaskPatchSampler([], tile_size=64, mpp=2.0)


def test_augment_moves_target_with_pixels() -> None:
    """An asymmetric mark in one corner: all eight symmetries show up, and pixels and target always agree."""
    pixels = np.zeros((16, 16, 3), np.uint8)
    target = np.zeros((16, 16), np.float32)
    pixels[0:2, 0:5] = 255
    target[0:2, 0:5] = 1.0
    patch = MaskPatch(pixels, target, 3)
    seen = set()
    for seed in range(64):
        out = augment(patch, np.random.default_rng(seed))
        assert out.slide == 3 and out.pixels.shape == (16, 16, 3) and out.target.shape == (16, 16)
        assert out.pixels.flags.c_contiguous and out.target.flags.c_contiguous
        np.testing.assert_array_equal(out.pixels[..., 0] == 255, out.target == 1.0)
        assert out.target.sum() == 10
        seen.add(out.target.tobytes())
    assert len(seen) == 8

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from tests.conftest import blob_image
from training.scanner_augment import ScannerAugment, chain, patch_scanner_augment


def _batch() -> np.ndarray:
    return np.stack([blob_image(96, 96, seed=s) for s in range(3)])


def test_nothing_changes_at_probability_zero() -> None:
    images = _batch()
    out = ScannerAugment(p=0.0)(images, np.random.default_rng(0))
    assert np.array_equal(out, images) and out is not images


def test_every_step_changes_the_images_and_keeps_their_shape() -> None:
    images = _batch()
    for augment in (
        ScannerAugment(p=1.0, jpeg=(100, 100), noise=(0.0, 0.0)),  # blur alone (JPEG 100 is near lossless)
        ScannerAugment(p=1.0, blur=(0.0, 0.0), noise=(0.0, 0.0), jpeg=(30, 30)),
        ScannerAugment(p=1.0, blur=(0.0, 0.0), jpeg=(100, 100), noise=(8.0, 8.0)),
    ):
        out = augment(images, np.random.default_rng(0))
        assert out.shape == images.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - images).mean() > 0.5


def test_blur_softens_edges() -> None:
    images = _batch()
    blurred = ScannerAugment(p=1.0, blur=(2.0, 2.0), jpeg=(100, 100), noise=(0.0, 0.0))(
        images, np.random.default_rng(0)
    )
    gradient = lambda x: np.abs(np.diff(x.astype(float), axis=2)).mean()  # noqa: E731
    assert gradient(blurred) < 0.7 * gradient(images)


def test_the_same_generator_gives_the_same_bytes() -> None:
    images = _batch()
    augment = ScannerAugment(p=0.5)
    assert np.array_equal(augment(images, np.random.default_rng(3)), augment(images, np.random.default_rng(3)))


@dataclass(frozen=True)
class _Patch:
    pixels: NDArray[np.uint8]
    boxes: np.ndarray


def test_a_patch_gets_new_pixels_and_keeps_its_boxes() -> None:
    patch = _Patch(blob_image(96, 96, seed=1), np.array([[10.0, 10.0, 30.0, 30.0]]))
    augment = patch_scanner_augment(1.0)
    assert augment is not None and patch_scanner_augment(0.0) is None
    out = augment(patch, np.random.default_rng(0))
    assert out.pixels.shape == patch.pixels.shape and not np.array_equal(out.pixels, patch.pixels)
    assert out.boxes is patch.boxes
    assert np.array_equal(out.pixels, augment(patch, np.random.default_rng(0)).pixels)


def test_a_probability_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="--scanner-augment: a probability in \\[0, 1\\], got 1.5"):
        patch_scanner_augment(1.5)


def test_chain_runs_the_steps_in_order_and_skips_nones() -> None:
    def add(k: int):  # noqa: ANN202
        return lambda patch, rng: _Patch(patch.pixels * 10 + k, patch.boxes)

    patch = _Patch(np.zeros((1, 1, 3), np.uint8), np.zeros((0, 4)))
    assert chain(None, None) is None
    both = chain(add(1), None, add(2))
    assert both is not None
    assert both(patch, np.random.default_rng(0)).pixels[0, 0, 0] == 12  # (0 * 10 + 1) * 10 + 2

from __future__ import annotations

import numpy as np

from tests.conftest import blob_image
from training.scanner_augment import ScannerAugment


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

"""The nuclei training loop's crops and its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithm.models import UNetConfig, load_nuclei_segmenter
from training.nuclei.data import NucleiImage
from training.nuclei.train import NucleiTrainOptions, sample_crop, train_nuclei


def _image(h: int, w: int, seed: int) -> NucleiImage:
    rng = np.random.default_rng(seed)
    target = (rng.random((h, w)) > 0.7).astype(np.float32)
    pixels = np.where(target[..., None] > 0, 60, 220).astype(np.uint8).repeat(3, axis=2)
    return NucleiImage(f"i{seed}", Path(f"i{seed}.tiff"), pixels, target, target > 0)


def test_crops_keep_pixels_and_target_together_and_pad_small_images() -> None:
    images = [_image(40, 50, 0), _image(100, 120, 1)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        patch = sample_crop(images, 64, rng)
        assert patch.pixels.shape == (64, 64, 3) and patch.target.shape == (64, 64)
        assert np.array_equal(patch.pixels[..., 0] < 128, patch.target > 0)


def test_training_is_deterministic_and_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    images = [_image(96, 96, 0), _image(96, 96, 1)]
    config = UNetConfig(widths=(4, 8), tile_size=64)
    options = NucleiTrainOptions(steps=3, batch_size=2, crop=32)
    train_nuclei(images, config, options, tmp_path / "a", None)
    train_nuclei(images, config, options, tmp_path / "b", None)
    a, b = load_nuclei_segmenter(tmp_path / "a" / "model.pt"), load_nuclei_segmenter(tmp_path / "b" / "model.pt")
    assert a[1] == config and a[2]["threshold"] == 0.5 and a[2]["stain"] is None
    for (name, x), (_, y) in zip(a[0].state_dict().items(), b[0].state_dict().items(), strict=True):
        assert np.array_equal(x.numpy(), y.numpy()), name

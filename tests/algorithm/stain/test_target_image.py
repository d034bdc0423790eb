"""algorithm/stain/target_image.py: a stain target read from a file, transparent pixels refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.stain.target_image import read_target_image
from tests.conftest import blob_image
from training.stain_target import fit_target


def test_an_opaque_image_is_its_rgb_pixels(tmp_path: Path) -> None:
    rgb = blob_image(80, 60, seed=2)
    Image.fromarray(rgb).save(tmp_path / "target.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(tmp_path / "opaque-rgba.png")
    for name in ("target.png", "opaque-rgba.png"):
        pixels = read_target_image(tmp_path / name)
        assert pixels.dtype == np.uint8 and pixels.flags.c_contiguous
        np.testing.assert_array_equal(pixels, rgb)


def test_transparent_pixels_and_unreadable_files_are_refused_by_every_reader(tmp_path: Path) -> None:
    rgba = np.dstack([blob_image(80, 60, seed=2), np.full((60, 80), 255, np.uint8)])
    rgba[:15, :, 3] = 0  # a cut-out's background
    Image.fromarray(rgba).save(tmp_path / "cut-out.png")
    (tmp_path / "notes.png").write_text("not an image")
    for name, message in (
        ("cut-out.png", "25% of its pixels are transparent; save the stain target without transparency"),
        ("notes.png", "cannot read the stain target image"),
    ):
        with pytest.raises(ConfigError, match=message):
            read_target_image(tmp_path / name)
        with pytest.raises(ConfigError, match=message):  # the training commands' --stain-target
            fit_target("macenko", tmp_path / name, tmp_path / "unused.tif", 0.5)

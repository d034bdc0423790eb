"""Pictures opened as slides: a lossless TIFF copy at the given resolution, made once per content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from numpy.typing import NDArray
from PIL import Image

from algorithm.errors import ConfigError
from training.datasets.pictures import as_tiff, open_image


def _picture(path: Path, seed: int = 0) -> NDArray[np.uint8]:
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_a_png_opens_with_its_pixels_and_the_given_resolution(tmp_path: Path) -> None:
    pixels = _picture(tmp_path / "field.png")
    with open_image(tmp_path / "field.png", 0.25, tmp_path / "work") as slide:
        assert slide.dimensions == (60, 40)
        assert slide.mpp == pytest.approx((0.25, 0.25))
        assert np.array_equal(slide.read_region((0, 0), 0, (60, 40)), pixels)  # lossless
        assert slide.path.parent == tmp_path / "work"


def test_the_copy_is_made_once_and_again_when_the_picture_changes(tmp_path: Path) -> None:
    _picture(tmp_path / "field.png", seed=1)
    first = as_tiff(tmp_path / "field.png", 0.5, tmp_path / "work")
    stamp = first.stat().st_mtime_ns
    assert as_tiff(tmp_path / "field.png", 0.5, tmp_path / "work") == first and first.stat().st_mtime_ns == stamp
    _picture(tmp_path / "field.png", seed=2)
    second = as_tiff(tmp_path / "field.png", 0.5, tmp_path / "work")
    assert second != first and second.exists()
    assert as_tiff(tmp_path / "field.png", 0.25, tmp_path / "work") not in (first, second)  # another resolution


def test_a_tiff_is_opened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), dtype=np.uint8))
    assert as_tiff(path, 0.25, tmp_path / "work") == path
    assert not (tmp_path / "work").exists()


def test_a_file_that_is_no_picture_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=r"broken\.png: cannot read the image"):
        as_tiff(path, 0.25, tmp_path / "work")


def test_a_long_picture_name_makes_a_copy_the_file_system_takes(tmp_path: Path) -> None:
    """The copy's name is the picture's, its digest and resolution: a 240-character name made it too long
    (after a whole training fold)."""
    long = tmp_path / f"{'L' * 240}.png"
    _picture(long)
    copy = as_tiff(long, 0.25, tmp_path / "work")
    assert copy.is_file() and len(copy.name) < 255

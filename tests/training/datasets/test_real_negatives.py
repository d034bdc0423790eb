"""Real images without labels as negative-only slides (training/datasets/real_negatives.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.real_negatives import REAL_DOMAIN, read_real_negatives, real_image_files


def test_folders_and_files_give_their_images(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("b.png", "a.jpg", "a.nuclei-mask.png"):
        Image.fromarray(blob_image(64, 48)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    extra = write_pyramid_tiff(tmp_path / "c.tiff", blob_image(64, 48), mpp=0.5)
    files = real_image_files([folder, extra, folder / "b.png"])
    assert [f.name for f in files] == ["a.jpg", "b.png", "c.tiff"]  # masks, other files and repeats left out


def test_png_is_read_as_a_tiff_at_the_given_resolution(tmp_path: Path) -> None:
    image = blob_image(300, 200)
    Image.fromarray(image).save(tmp_path / "he.png")
    (slide,) = read_real_negatives([tmp_path / "he.png"], 0.25, tmp_path / "work")
    assert (slide.file_name, slide.width, slide.height, slide.domain) == ("he.png", 300, 200, REAL_DOMAIN)
    assert slide.path is not None and slide.path.suffix == ".tiff" and slide.path.parent == tmp_path / "work"
    assert len(slide.points) == 0 and len(slide.confounders) == 0
    with open_slide(slide.path) as reader:
        assert reader.mpp == (0.25, 0.25)
        assert np.array_equal(reader.read_region((0, 0), 0, (300, 200)), image)


def test_bad_paths_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope: no such file or folder"):
        real_image_files([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: no images in the folder"):
        real_image_files([tmp_path / "empty"])
    no_mpp = write_pyramid_tiff(tmp_path / "x.tiff", blob_image(64, 48), mpp=None)
    with pytest.raises(ConfigError, match="x.tiff: the file records no resolution"):
        read_real_negatives([no_mpp], 0.25, tmp_path / "work")


def test_monuseg_images_open_at_40x(shared_data: Path, tmp_path: Path) -> None:
    images = shared_data / "nuclei" / "monuseg" / "images"
    slides = read_real_negatives([images], 0.25, tmp_path)
    assert len(slides) == 10
    assert all((s.width, s.height) == (1000, 1000) and s.domain == REAL_DOMAIN for s in slides)

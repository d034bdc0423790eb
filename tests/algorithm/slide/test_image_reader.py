from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.cli import main
from algorithm.console import run_main
from algorithm.errors import SlideError
from algorithm.slide import open_slide
from tests.conftest import blob_image


def test_a_real_jpeg_reads_as_pillow_decodes_it(shared_data: Path) -> None:
    path = sorted((shared_data / "nuclei" / "monuseg" / "images").glob("*.jpg"))[0]
    expected = np.asarray(Image.open(path).convert("RGB"))
    with open_slide(path, mpp=0.25) as slide:
        assert slide.backend == "pillow" and slide.level_count == 1
        assert slide.dimensions == (expected.shape[1], expected.shape[0])
        np.testing.assert_array_equal(slide.read_region((0, 0), 0, slide.dimensions), expected)
        past = slide.read_region((slide.dimensions[0] - 4, 0), 0, (8, 8))  # past the edge: glass
    assert (past[:, 4:] == 255).all() and np.array_equal(past[:, :4], expected[:8, -4:])


def test_transparent_pixels_are_glass(tmp_path: Path) -> None:
    rgba = np.zeros((6, 8, 4), np.uint8)  # transparent black
    rgba[:3] = (200, 40, 120, 255)  # opaque stain
    Image.fromarray(rgba).save(tmp_path / "crop.png")
    with open_slide(tmp_path / "crop.png", mpp=0.5) as slide:
        pixels = slide.read_region((0, 0), 0, (8, 6))
    assert (pixels[:3] == (200, 40, 120)).all() and (pixels[3:] == 255).all()


def test_resolution_from_a_microscopes_dpi_only(tmp_path: Path) -> None:
    pixels = blob_image(64, 48)
    Image.fromarray(pixels).save(tmp_path / "tagged.png", dpi=(101_600, 101_600))  # 0.25 um per pixel
    Image.fromarray(pixels).save(tmp_path / "screen.png", dpi=(72, 72))
    Image.fromarray(pixels).save(tmp_path / "bare.bmp")
    with open_slide(tmp_path / "tagged.png") as slide:
        assert slide.mpp == pytest.approx((0.25, 0.25))
    with open_slide(tmp_path / "screen.png") as slide, pytest.raises(SlideError, match=r"screen\.png.*not a micro"):
        _ = slide.mpp
    with open_slide(tmp_path / "bare.bmp") as slide, pytest.raises(SlideError, match=r"bare\.bmp.*--mpp"):
        _ = slide.mpp
    with open_slide(tmp_path / "screen.png", mpp=0.5) as slide:
        assert slide.mpp == (0.5, 0.5)


def test_a_broken_picture_is_one_clear_error(tmp_path: Path) -> None:
    Image.fromarray(blob_image(64, 48)).save(tmp_path / "whole.jpg", quality=90)
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:300])
    (tmp_path / "text.png").write_text("not a picture")
    for name in ("cut.jpg", "text.png"):
        with pytest.raises(SlideError, match=rf"{name}: not a readable picture") as info:
            open_slide(tmp_path / name)
        assert "\n" not in str(info.value)


def test_the_job_runs_on_a_picture_given_its_resolution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kit_logging: None
) -> None:
    Image.fromarray(blob_image(300, 240, seed=3)).save(tmp_path / "patch.png")
    out = tmp_path / "out"
    args = ["--input", str(tmp_path / "patch.png"), "--output", str(out), "--task", "nuclei", "--quiet"]
    assert run_main(main, args) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("patch.png: the file has no resolution information (microns per pixel); give it explicitly (--mpp)")
    )
    assert not out.exists()
    assert run_main(main, [*args, "--mpp", "0.25"]) == 0
    assert (out / "images" / "nuclei-segmentation" / "nuclei.mha").is_file()

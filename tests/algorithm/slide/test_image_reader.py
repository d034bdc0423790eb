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
        .endswith(
            "patch.png: the file has no resolution information (microns per pixel); "
            "give it explicitly (--mpp on the command line, open_slide(path, mpp=...) in Python)"
        )
    )
    assert not out.exists()
    assert run_main(main, [*args, "--mpp", "0.25"]) == 0
    assert (out / "images" / "nuclei-segmentation" / "nuclei.mha").is_file()


@pytest.mark.parametrize("dpi", [300, 600, 1200, 2400])
def test_print_and_export_dpi_are_not_a_resolution(tmp_path: Path, dpi: int, caplog: pytest.LogCaptureFixture) -> None:
    """300 dpi is 84.7 um per pixel: an export default, not a microscope's. It counts as no resolution, so a
    default resolution applies without a word (the file "does not say")."""
    path = tmp_path / f"export-{dpi}.jpg"
    Image.fromarray(blob_image(64, 48)).save(path, dpi=(dpi, dpi))
    with open_slide(path) as slide:
        assert not slide.has_mpp
        with pytest.raises(SlideError, match=rf"export-{dpi}\.jpg: its resolution tag says .* not a microscope's"):
            _ = slide.mpp
    with caplog.at_level("WARNING"), open_slide(path, default_mpp=0.25) as slide:
        assert slide.mpp == (0.25, 0.25)
    assert not caplog.records


def test_a_microscopes_dpi_up_to_ten_microns_is_kept(tmp_path: Path) -> None:
    pixels = blob_image(64, 48)
    Image.fromarray(pixels).save(tmp_path / "ten.png", dpi=(2540, 2540))  # 10 um per pixel: a 1x objective
    Image.fromarray(pixels).save(tmp_path / "micron.jpg", dpi=(25_400, 25_400))  # 1 um per pixel
    with open_slide(tmp_path / "ten.png", default_mpp=0.25) as slide:
        assert slide.mpp == pytest.approx((10.0, 10.0))
    with open_slide(tmp_path / "micron.jpg") as slide:
        assert slide.mpp == pytest.approx((1.0, 1.0))


def test_sixteen_bit_grey_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    """Pillow's own conversion of 16-bit grey to RGB clips it: the picture would be white."""
    grey = blob_image(80, 60)[..., 0]
    wide = grey.astype(np.uint16) * 256 + np.arange(60 * 80, dtype=np.uint16).reshape(60, 80) % 256  # + low byte
    Image.fromarray(wide).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    with open_slide(tmp_path / "grey16.png", mpp=0.5) as slide:
        pixels = slide.read_region((0, 0), 0, (80, 60))
    np.testing.assert_array_equal(pixels, np.repeat(grey[..., None], 3, axis=2))

"""How a QC picture lays a slide out: small slides enlarged, strips cut into rows, a scale bar, the resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.qc import QcInput, render_qc
from algorithm.qc.job_view import picture_thumbnail, resolution_text
from algorithm.qc.layers import ASSUMED, FILE, GIVEN
from algorithm.qc.layout import GAP, enlarged, enlargement, pieces, thumbnail_side, wrapped
from algorithm.qc.picture import label_font
from algorithm.qc.scale_bar import draw_scale_bar, length_text, round_length_um
from algorithm.slide import open_slide
from tests.conftest import write_pyramid_tiff

GLASS = 240


def test_small_thumbnails_are_enlarged_by_a_whole_factor() -> None:
    assert enlargement((16, 16), 1024) == 32  # a 16 x 16 slide: 512 x 512
    assert enlargement((40, 30), 1024) == 13  # 520 x 390
    assert enlargement((128, 128), 1024) == 4  # a MIDOG crop: 512 x 512
    assert enlargement((1024, 768), 1024) == 1 and enlargement((600, 600), 1024) == 1  # big enough as they are
    assert enlargement((1000, 100), 1000) == 1  # a strip already at its longest: not enlarged past it
    thumb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = enlarged(thumb, 4)
    assert big.shape == (8, 12, 3) and (big[4:8, 8:12] == thumb[1, 2]).all()  # each pixel a 4 x 4 square


def test_a_thin_strips_thumbnail_is_read_longer() -> None:
    assert thumbnail_side((2220, 2967), 1024) == 1024  # an ordinary slide: the picture's side
    assert thumbnail_side((8000, 250), 1024) == 4096  # a strip: its short side 128 px
    assert thumbnail_side((100_000, 250), 1024) == 8192  # but never longer than this


def test_a_strip_is_cut_into_framed_rows_or_columns() -> None:
    assert pieces((1024, 768)) == 1 and pieces((1024, 256)) == 1  # 4:1 is not a strip yet
    wide = Image.fromarray(np.full((128, 4096, 3), 200, np.uint8))
    layout = wrapped(wide)
    assert len(layout.panels) == 4 and layout.rows
    assert layout.image.size == (1024, 4 * 128 + 3 * GAP)
    assert layout.panels[1] == (0, 128 + GAP, 1024, 2 * 128 + GAP)
    assert layout.note() == "the strip is cut into 4 rows, read left to right then top to bottom"
    tall = wrapped(Image.fromarray(np.full((6000, 120, 3), 200, np.uint8)))
    assert not tall.rows and len(tall.panels) == 5 and tall.image.size == (5 * 120 + 4 * GAP, 1200)
    whole = wrapped(Image.fromarray(np.full((300, 400, 3), 200, np.uint8)))
    assert whole.panels == ((0, 0, 400, 300),) and whole.note() is None


def test_a_strips_picture_keeps_every_pixel_in_reading_order() -> None:
    strip = np.random.default_rng(0).integers(0, 255, (100, 1000, 3), dtype=np.uint8)
    qc = QcInput("strip", (1000, 100), strip)
    picture = np.asarray(render_qc(qc))
    length = 1000 // 3 + 1  # 3 rows of 334, 334 and 332
    for i in range(3):
        top = i * (100 + GAP)
        row = strip[:, i * length : (i + 1) * length]
        inside = picture[top + 1 : top + 99, 1 : row.shape[1] - 1]  # within each row's 1 px frame
        assert np.array_equal(inside, row[1:99, 1:-1])


def test_the_scale_bar_is_a_round_length_at_the_pictures_scale() -> None:
    assert round_length_um(5.0, 160) == 500  # 160 px at 5 um/px: 800 um -> 500 um
    assert round_length_um(1.0, 100) == 100  # exactly 100 um fits
    assert round_length_um(0.25, 30) == 5 and round_length_um(0.0625, 40) == 2
    assert length_text(2000) == "2 mm" and length_text(0.5) == "0.5 um" and length_text(50) == "50 um"
    image = Image.new("RGB", (400, 300), (GLASS,) * 3)
    um, px = draw_scale_bar(image, 5.0, (0, 0, 400, 300), label_font())
    assert (um, px) == (500, 100)
    black = np.all(np.asarray(image) == 0, axis=-1)
    runs = [int(row.sum()) for row in black if row.any()]
    assert max(runs) == 100  # the bar: 100 px of black
    assert black[:, :6].sum() == 0 and black[:250].sum() < black[250:].sum()  # in the bottom-left corner


def test_every_picture_with_a_resolution_has_a_scale_bar_that_says_when_it_is_assumed() -> None:
    thumb = np.full((300, 400, 3), GLASS, np.uint8)
    qc = QcInput("s", (4000, 3000), thumb, mpp=(0.5, 0.5))  # 5 um per picture pixel
    stated = np.asarray(render_qc(qc))[:300, :400]
    assumed = np.asarray(render_qc(QcInput("s", (4000, 3000), thumb, mpp=(0.5, 0.5), mpp_source=ASSUMED)))
    bar = np.all(stated == 0, axis=-1)
    assert max(int(row.sum()) for row in bar) == 100  # 500 um
    assert np.all(assumed[:300, :400] == 0, axis=-1).sum() > bar.sum()  # a longer label: "500 um (assumed)"
    bare = np.asarray(render_qc(QcInput("s", (4000, 3000), thumb)))[:300, :400]
    assert (bare == GLASS).all()  # no resolution, no bar
    assert resolution_text(qc) == "0.500 um/px"
    assert resolution_text(QcInput("s", (4000, 3000), thumb, mpp=(0.5, 0.5), mpp_source=ASSUMED)) == (
        "0.500 um/px (assumed: the file states no resolution; --mpp)"
    )
    assert "given" in resolution_text(QcInput("s", (4000, 3000), thumb, mpp=(0.5, 0.5), mpp_source=GIVEN))
    assert QcInput("s", (1, 1), thumb).mpp_source == FILE


def test_a_tiny_slides_thumbnail_is_enlarged_and_a_strips_read_long(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    tiny = write_pyramid_tiff(tmp_path / "tiny.tiff", image, mpp=0.25, tile=16, levels=1)
    with open_slide(tiny) as slide:
        thumb = picture_thumbnail(slide, 1024)
    assert thumb.shape == (390, 520, 3) and np.array_equal(thumb[::13, ::13], image)
    strip = np.random.default_rng(2).integers(0, 255, (64, 2048, 3), dtype=np.uint8)
    long = write_pyramid_tiff(tmp_path / "strip.tiff", strip, mpp=0.25, tile=64, levels=1)
    with open_slide(long) as slide:
        thumb = picture_thumbnail(slide, 512)  # a 512 side would give 512 x 16: read at 2048 x 64, then doubled
    assert thumb.shape == (128, 4096, 3)


@pytest.mark.parametrize(("mpp", "expected"), [(0.25, FILE), (None, ASSUMED)])
def test_the_resolutions_source_is_told(tmp_path: Path, mpp: float | None, expected: str) -> None:
    from algorithm.qc.job_view import mpp_source

    image = np.full((64, 64, 3), 200, np.uint8)
    path = write_pyramid_tiff(tmp_path / "s.tiff", image, mpp=mpp, tile=16, levels=1)
    with open_slide(path) as slide:  # as the QC picture opens it: no resolution given
        assert mpp_source(slide, (0.25, 0.25)) == expected
    if mpp is not None:
        with open_slide(path) as slide:
            assert mpp_source(slide, (0.5, 0.5)) == GIVEN  # the job was told another over the file's

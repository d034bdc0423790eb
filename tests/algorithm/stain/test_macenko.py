"""Macenko stain matrices against StainTools' on the real H&E images."""

from __future__ import annotations

import numpy as np
import pytest

from algorithm.stain.errors import StainFitError
from algorithm.stain.extractor import angle_between_deg
from algorithm.stain.macenko import MacenkoExtractor

staintools = pytest.importorskip("staintools")


def test_matrix_matches_staintools(he_images):
    worst = 0.0
    for img in he_images.values():
        before = img.copy()
        ours = MacenkoExtractor().get_stain_matrix(img)
        ref = staintools.MacenkoStainExtractor.get_stain_matrix(img.copy())
        angles = [angle_between_deg(ours[i], ref[i]) for i in range(2)]
        worst = max(worst, *angles)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0)
        assert ours[0, 0] > ours[1, 0]  # H (more red OD) first
        assert np.array_equal(img, before)
    # Only OpenCV's fixed-point L* (a few boundary pixels in the tissue mask) differs.
    assert worst < 0.5, worst


def test_pixels_and_image_give_the_same_matrix(source_img):
    ex = MacenkoExtractor()
    np.testing.assert_allclose(ex.get_stain_matrix(source_img), ex.get_stain_matrix(source_img.reshape(-1, 3)))


def test_too_little_tissue_says_how_much():
    img = np.full((64, 64, 3), 255, np.uint8)
    img[:10, :10] = (150, 80, 160)
    with pytest.raises(StainFitError, match=r"found 100 tissue pixels .* need at least 1000"):
        MacenkoExtractor().get_stain_matrix(img)


def test_single_colour_is_a_fit_error():
    img = np.full((64, 64, 3), (150, 80, 160), np.uint8)
    with pytest.raises(StainFitError, match="degrees apart|zero or not finite"):
        MacenkoExtractor().get_stain_matrix(img)

"""Haematoxylin per pixel: the least-squares concentration, the slide's fit and its fallback, the glass."""

from __future__ import annotations

import numpy as np
import pytest

from algorithm.patches import REFERENCE_STAIN_MATRIX, fit_stain_matrix, haematoxylin_concentration
from algorithm.patches.haematoxylin import glass_balanced, glass_of, haematoxylin_positive
from algorithm.stain import get_concentrations, rgb_to_od
from algorithm.stain.extractor import angle_between_deg
from tests.algorithm.patches.conftest import GLASS, composed_image
from tests.conftest import shrink

# A stain matrix 10 degrees or so from the reference: another lab's H&E.
OTHER = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])
OTHER = OTHER / np.linalg.norm(OTHER, axis=1, keepdims=True)


def _render(h: np.ndarray, e: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    od = h[..., None] * matrix[0] + e[..., None] * matrix[1]
    return np.clip(np.rint(255.0 * np.exp(-od)), 0, 255).astype(np.uint8)


def test_reference_matrix_is_unit_rows_haematoxylin_first() -> None:
    np.testing.assert_allclose(np.linalg.norm(REFERENCE_STAIN_MATRIX, axis=1), 1.0)
    assert REFERENCE_STAIN_MATRIX[0, 0] > REFERENCE_STAIN_MATRIX[1, 0]  # the kit's order: more red OD is H


def test_concentration_is_the_pinv_solvers() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)
    expected = get_concentrations(rgb_to_od(rgb.reshape(-1, 3)), OTHER, solver="pinv")[:, 0]
    np.testing.assert_allclose(haematoxylin_concentration(rgb, OTHER).ravel(), expected, atol=1e-5)


def test_haematoxylin_recovered_and_eosin_reads_none() -> None:
    h = np.array([[0.0, 0.3, 1.0, 0.0]])
    e = np.array([[0.0, 0.2, 0.1, 0.8]])
    found = haematoxylin_concentration(_render(h, e, OTHER), OTHER)
    np.testing.assert_allclose(found, h, atol=0.02)
    np.testing.assert_array_equal(haematoxylin_positive(_render(h, e, OTHER), OTHER, 0.1), h > 0.1)


def test_fit_finds_the_slides_stains() -> None:
    rng = np.random.default_rng(1)
    h = rng.choice([0.05, 1.0], size=(100, 100), p=[0.8, 0.2]) * rng.uniform(0.7, 1.3, (100, 100))
    e = rng.uniform(0.2, 0.6, (100, 100))
    matrix, fitted = fit_stain_matrix(_render(h, e, OTHER))
    assert fitted
    # Macenko's percentile directions lean into the mixed pixels by a few degrees
    assert angle_between_deg(matrix[0], OTHER[0]) < 8.0
    assert angle_between_deg(matrix[1], OTHER[1]) < 8.0
    assert angle_between_deg(matrix[0], OTHER[0]) < angle_between_deg(matrix[0], REFERENCE_STAIN_MATRIX[0])


@pytest.mark.parametrize("case", ["one colour", "too few pixels", "not haematoxylin"])
def test_fit_falls_back_to_the_reference(case: str) -> None:
    rng = np.random.default_rng(2)
    if case == "one colour":
        rgb = np.full((100, 100, 3), (200, 120, 170), np.uint8)
    elif case == "too few pixels":
        rgb = _render(rng.uniform(0, 1, (10, 10)), rng.uniform(0, 1, (10, 10)), OTHER)
    else:  # green ink and red: a fit far from any haematoxylin
        green = np.array([[0.9, 0.1, 0.42], [0.05, 0.9, 0.43]])
        green /= np.linalg.norm(green, axis=1, keepdims=True)
        rgb = _render(rng.uniform(0, 1, (100, 100)), rng.uniform(0, 1, (100, 100)), green)
    matrix, fitted = fit_stain_matrix(rgb)
    assert not fitted
    np.testing.assert_array_equal(matrix, REFERENCE_STAIN_MATRIX)


def test_glass_is_the_median_outside_the_tissue_and_balances_to_white() -> None:
    rgb = shrink(composed_image(), 8)  # the filters' 4 um/px view
    tissue = np.zeros(rgb.shape[:2], dtype=bool)
    tissue[:, rgb.shape[1] // 4 :] = True  # the composed slide's glass is its first quarter of columns
    glass = glass_of(rgb, tissue)
    np.testing.assert_allclose(glass, GLASS, atol=1.5)
    balanced = glass_balanced(rgb, glass)
    assert np.median(balanced[~tissue], axis=0).tolist() == [255, 255, 255]
    assert np.median(haematoxylin_concentration(balanced, REFERENCE_STAIN_MATRIX)[~tissue]) < 0.01
    # measured against pure white, the tinted glass alone would read as much haematoxylin as sparse stroma
    assert np.median(haematoxylin_concentration(rgb, REFERENCE_STAIN_MATRIX)[~tissue]) > 0.1


def test_glass_without_glass_in_view_is_the_brightest_pixels_or_white() -> None:
    rgb = np.full((20, 20, 3), (150, 90, 140), np.uint8)
    np.testing.assert_array_equal(glass_of(rgb, np.ones((20, 20), bool)), [255.0, 255.0, 255.0])

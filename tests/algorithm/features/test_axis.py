from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import ellipse

from algorithm.features.axis import MajorAxis, major_axis, rescaled


def _ellipse_mask(shape: tuple[int, int], centre: tuple[int, int], radii: tuple[int, int], degrees: float = 0.0):
    mask = np.zeros(shape, bool)
    rr, cc = ellipse(centre[0], centre[1], radii[0], radii[1], shape=shape, rotation=math.radians(degrees))
    mask[rr, cc] = True
    return mask


def test_axis_aligned_ellipse_length_and_endpoints() -> None:
    mask = _ellipse_mask((200, 300), (100, 150), (20, 60))
    axis = major_axis(mask)
    assert axis.length_px == pytest.approx(120, rel=0.02)
    # endpoints in pixel-centre coordinates: the ellipse's centre pixel (150, 100) has its centre at (150.5, 100.5)
    np.testing.assert_allclose(axis.endpoints.mean(axis=0), [150.5, 100.5], atol=1e-6)
    np.testing.assert_allclose(sorted(axis.endpoints[:, 0]), [150.5 - axis.length_px / 2, 150.5 + axis.length_px / 2])
    np.testing.assert_allclose(axis.endpoints[:, 1], [100.5, 100.5], atol=1e-6)


@pytest.mark.parametrize("degrees", [30.0, -50.0, 75.0])
def test_rotated_ellipse_endpoints_lie_along_its_long_side(degrees: float) -> None:
    mask = _ellipse_mask((240, 240), (120, 110), (15, 70), degrees)
    axis = major_axis(mask)
    assert axis.length_px == pytest.approx(140, rel=0.02)
    np.testing.assert_allclose(axis.endpoints.mean(axis=0), [110.5, 120.5], atol=1e-6)
    d = axis.endpoints[1] - axis.endpoints[0]
    assert np.linalg.norm(d) == pytest.approx(axis.length_px)
    # skimage.draw rotates counter-clockwise as seen on screen (rows grow downwards)
    expected = np.array([math.cos(math.radians(degrees)), -math.sin(math.radians(degrees))])
    assert abs(np.dot(d / np.linalg.norm(d), expected)) > 0.999


def test_largest_by_axis_or_by_area_picks_different_components() -> None:
    mask = np.zeros((200, 300), bool)
    mask[10:13, 20:280] = True  # long and thin: axis ~260, area 780
    mask |= _ellipse_mask((200, 300), (120, 150), (45, 45))  # round: axis ~90, area ~6400
    by_axis, by_area = major_axis(mask, largest="axis"), major_axis(mask, largest="area")
    assert by_axis.length_px == pytest.approx(4 * math.sqrt((260**2 - 1) / 12))
    assert by_axis.endpoints[:, 1] == pytest.approx([11.5, 11.5], abs=1e-6)  # rows 10..12
    assert by_area.length_px == pytest.approx(90, rel=0.03)
    np.testing.assert_allclose(by_area.endpoints.mean(axis=0), [150.5, 120.5], atol=1e-6)


def test_diagonal_neighbours_are_one_component() -> None:
    mask = np.eye(20, dtype=bool)  # 8-connected: one diagonal line
    axis = major_axis(mask)
    assert axis.length_px == pytest.approx(math.sqrt(2) * 4 * math.sqrt((20**2 - 1) / 12))


def test_empty_mask_has_no_axis() -> None:
    axis = major_axis(np.zeros((30, 40), bool))
    assert axis.length_px == 0.0
    assert axis.endpoints.shape == (2, 2)


def test_rescaled_keeps_the_midpoint_and_direction() -> None:
    axis = MajorAxis(10.0, np.array([[2.0, 3.0], [8.0, 11.0]]))
    longer = rescaled(axis, 25.0)
    assert longer.length_px == 25.0
    np.testing.assert_allclose(longer.endpoints.mean(axis=0), [5.0, 7.0])
    assert np.linalg.norm(longer.endpoints[1] - longer.endpoints[0]) == pytest.approx(25.0)
    np.testing.assert_allclose(longer.endpoints[1] - longer.endpoints[0], 2.5 * np.array([6.0, 8.0]))


def test_rescaling_no_axis_stays_no_axis() -> None:
    none = MajorAxis.none()
    assert rescaled(none, 50.0).length_px == 0.0

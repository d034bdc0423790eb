import numpy as np
import pytest

from algorithm.slide import units


def test_round_trip_and_scale() -> None:
    mpp = (0.25, 0.5)
    px = np.array([[4000.0, 2000.0], [0.0, 1.0]])
    mm = units.pixels_to_mm(px, mpp)
    np.testing.assert_allclose(mm, [[1.0, 1.0], [0.0, 0.0005]])
    np.testing.assert_allclose(units.mm_to_pixels(mm, mpp), px)


def test_lengths_and_areas() -> None:
    assert units.um_to_pixels(7.5, (0.25, 0.25)) == pytest.approx(30.0)
    assert units.pixels_to_um(30.0, (0.25, 0.25)) == pytest.approx(7.5)
    assert units.area_um2_to_pixels(1.0, (0.5, 0.25)) == pytest.approx(8.0)

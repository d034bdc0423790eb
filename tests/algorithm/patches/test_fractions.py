"""Shares of area per box from summed-area tables, exact to fractions of a pixel."""

from __future__ import annotations

import numpy as np

from algorithm.patches.fractions import box_areas, box_shares, box_sums, map_boxes, ratios, summed_area_table


def test_whole_pixel_boxes_sum_exactly() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((30, 40)) > 0.6
    table = summed_area_table(values)
    assert table.dtype == np.int32 and table[-1, -1] == values.sum()
    corners = np.array([[0, 0, 40, 30], [3, 5, 17, 22], [10, 10, 10, 20]], dtype=np.float64)
    expected = [values.sum(), values[5:22, 3:17].sum(), 0]
    np.testing.assert_allclose(box_sums(table, corners), expected)


def test_fractional_boxes_match_a_finer_map() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((12, 15))
    fine = np.repeat(np.repeat(values, 4, axis=0), 4, axis=1)  # each pixel as 4 x 4 quarter pixels
    corners = np.array([[0.25, 1.5, 7.75, 9.0], [2.5, 0.0, 15.0, 11.25]])
    got = box_shares(summed_area_table(values), corners)
    for (x0, y0, x1, y1), share in zip(corners * 4, got, strict=True):
        assert share == np.float64(share)
        np.testing.assert_allclose(share, fine[int(y0) : int(y1), int(x0) : int(x1)].mean(), rtol=1e-12)


def test_level0_boxes_map_onto_the_map_and_are_clipped_to_it() -> None:
    corners = map_boxes(np.array([[100.0, 50.0, 200.0, 200.0], [-40.0, 700.0, 100.0, 100.0]]), (8.0, 10.0), (72, 60))
    np.testing.assert_allclose(corners, [[12.5, 5.0, 37.5, 25.0], [0.0, 70.0, 7.5, 72.0]])
    np.testing.assert_allclose(box_areas(corners), [500.0, 15.0])


def test_empty_boxes_and_empty_denominators_give_zero() -> None:
    table = summed_area_table(np.ones((4, 4), dtype=bool))
    assert box_shares(table, np.array([[2.0, 2.0, 2.0, 3.0]]))[0] == 0.0
    np.testing.assert_array_equal(ratios(np.array([1.0, 0.0, 3.0]), np.array([2.0, 0.0, 2.0])), [0.5, 0.0, 1.0])

"""Heatmap probabilities on another grid of the slide: bilinear, pixel centres aligned, in strips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithm.segmentation.heatmap import Heatmap
from algorithm.segmentation.regrid import probability_on_grid, probability_strips, threshold_on_grid


def _heatmap(probability: np.ndarray, downsample: float) -> Heatmap:
    return Heatmap(probability.astype(np.float32), np.ones(probability.shape, bool), downsample, downsample * 0.25)


def test_it_is_torchs_bilinear_interpolation_without_corner_alignment() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((13, 17)).astype(np.float32)
    for source, target, shape in ((2.0, 1, (26, 34)), (1.0, 2, (7, 9)), (4.0, 1, (52, 68))):
        ours = probability_on_grid(_heatmap(p, source), target, shape)
        theirs = F.interpolate(
            torch.from_numpy(p)[None, None], scale_factor=source / target, mode="bilinear", align_corners=False
        )[0, 0].numpy()
        assert ours.shape == shape
        rows, columns = min(shape[0], theirs.shape[0]), min(shape[1], theirs.shape[1])  # torch rounds sizes down
        np.testing.assert_allclose(ours[:rows, :columns], theirs[:rows, :columns], atol=1e-6)


def test_pixel_centres_are_aligned_at_any_scale() -> None:
    """A heatmap holding each pixel's level-0 centre (x) is reproduced at the output's pixel centres, whatever
    the ratio of the grids (inside the outermost centres, where nothing is clamped)."""
    source = 1.979  # a slide at 0.2527 um/px read at 0.5 um/px
    centres = (np.arange(40) + 0.5) * source
    p = np.tile(centres / 100, (5, 1))
    out = probability_on_grid(_heatmap(p, source), 1, (9, 79))[0] * 100
    x = np.arange(79) + 0.5
    inside = (x >= centres[0]) & (x <= centres[-1])
    np.testing.assert_allclose(out[inside], x[inside], atol=1e-4)
    assert out[~inside & (x < 10)] == pytest.approx(centres[0], abs=1e-4)  # clamped to the first centre


def test_strips_give_the_whole_and_the_threshold_is_inclusive() -> None:
    rng = np.random.default_rng(1)
    heatmap = _heatmap(rng.random((30, 20)), 2.0)
    whole = probability_on_grid(heatmap, 1, (59, 40))
    strips = list(probability_strips(heatmap, 1, (59, 40), strip_rows=7))
    assert [r for r, _ in strips] == list(range(0, 59, 7))
    assert np.array_equal(np.concatenate([s for _, s in strips]), whole)
    mask = threshold_on_grid(heatmap, 1, (59, 40), 0.5, strip_rows=7)
    assert mask.dtype == np.uint8 and np.array_equal(mask, (whole >= 0.5).astype(np.uint8))
    assert threshold_on_grid(_heatmap(np.full((3, 3), 0.5), 1.0), 1, (3, 3), 0.5).all()

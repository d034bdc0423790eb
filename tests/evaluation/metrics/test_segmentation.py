"""IoU and Dice against plain numpy set arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.metrics import segmentation


def masks(seed: int, n: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = [(rng.uniform(size=(30, 40)) < 0.3, rng.uniform(size=(30, 40)) < 0.35) for _ in range(n)]
    out.append((np.zeros((5, 5), bool), np.zeros((5, 5), bool)))  # nothing to find, nothing found
    out.append((np.zeros((5, 5), bool), np.ones((5, 5), bool)))
    return out


def test_per_case_and_aggregates_equal_numpy():
    data = masks(0)
    counts = [segmentation.counts(t, p) for t, p in data]
    ious, dices = [], []
    for (t, p), c in zip(data, counts, strict=True):
        inter, union = np.logical_and(t, p).sum(), np.logical_or(t, p).sum()
        iou = inter / union if union else 1.0
        dice = 2 * inter / (t.sum() + p.sum()) if t.sum() + p.sum() else 1.0
        r = segmentation.case_result(c)
        assert r["iou"] == pytest.approx(iou, abs=1e-15) and r["dice"] == pytest.approx(dice, abs=1e-15)
        ious.append(iou)
        dices.append(dice)
    agg = segmentation.aggregate(counts)
    assert agg["mean_iou"] == pytest.approx(np.mean(ious)) and agg["mean_dice"] == pytest.approx(np.mean(dices))
    t_all = np.concatenate([t.ravel() for t, _ in data])
    p_all = np.concatenate([p.ravel() for _, p in data])
    assert agg["pooled_iou"] == pytest.approx(np.logical_and(t_all, p_all).sum() / np.logical_or(t_all, p_all).sum())
    assert agg["pooled_dice"] == pytest.approx(2 * np.logical_and(t_all, p_all).sum() / (t_all.sum() + p_all.sum()))


def test_shapes_must_match():
    with pytest.raises(ValueError):
        segmentation.counts(np.zeros((2, 2), bool), np.zeros((3, 2), bool))

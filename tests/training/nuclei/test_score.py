"""Pixel scores and nuclei counts of predicted masks."""

from __future__ import annotations

import numpy as np
import pytest

from training.nuclei.score import compare, pooled


def test_counts_iou_dice_and_instances() -> None:
    truth = np.zeros((10, 10), bool)
    truth[1:4, 1:4] = True  # 9 px, one nucleus
    truth[6:9, 6:9] = True  # 9 px, another
    predicted = np.zeros_like(truth)
    predicted[1:4, 1:5] = True  # 9 right, 3 extra; misses the second nucleus
    score = compare("a", predicted, truth)
    assert (score.tp, score.fp, score.fn) == (9, 3, 9)
    assert score.iou == pytest.approx(9 / 21)
    assert score.dice == pytest.approx(18 / 30)
    assert (score.instances, score.true_instances) == (1, 2)


def test_pooled_is_over_all_pixels_not_a_mean_of_images() -> None:
    small = np.zeros((4, 4), bool)
    small[0, 0] = True
    large_truth = np.ones((10, 10), bool)
    scores = [compare("small", np.zeros_like(small), small), compare("large", large_truth, large_truth)]
    total = pooled(scores)
    assert total.iou == pytest.approx(100 / 101)
    assert np.mean([s.iou for s in scores]) == pytest.approx(0.5)


def test_empty_masks_agree_and_shapes_must_match() -> None:
    empty = np.zeros((3, 3), bool)
    assert compare("e", empty, empty).iou == 1.0 and compare("e", empty, empty).dice == 1.0
    with pytest.raises(ValueError, match="shape"):
        compare("e", empty, np.zeros((3, 4), bool))

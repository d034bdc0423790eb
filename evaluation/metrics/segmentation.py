"""Segmentation: IoU (Jaccard) and Dice per case, averaged over cases and pooled.

Per case on the truth's pixel grid (the prediction resampled there, see
:mod:`evaluation.masks`): ``IoU = |A & B| / |A | B|``, ``Dice = 2 |A & B| / (|A| + |B|)``;
both are 1.0 when truth and prediction are empty (nothing to find, nothing
found). Aggregates: ``mean_iou``/``mean_dice`` average the cases (each case
weighs the same); ``pooled_iou``/``pooled_dice`` sum the pixel counts over all
cases first (large cases weigh more).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def counts(truth: np.ndarray, prediction: np.ndarray) -> dict[str, int]:
    """Pixel counts of truth, prediction and their intersection (boolean masks of one shape)."""
    if truth.shape != prediction.shape:
        raise ValueError(f"shapes differ: {truth.shape} vs {prediction.shape}")
    return {
        "truth_pixels": int(np.count_nonzero(truth)),
        "predicted_pixels": int(np.count_nonzero(prediction)),
        "intersection": int(np.count_nonzero(truth & prediction)),
    }


def scores(c: dict[str, int]) -> dict[str, float]:
    """IoU and Dice from pixel counts; both are 1 when truth and prediction are both empty (nothing to miss)."""
    a, b, i = c["truth_pixels"], c["predicted_pixels"], c["intersection"]
    union = a + b - i
    return {"iou": i / union if union else 1.0, "dice": 2 * i / (a + b) if a + b else 1.0}


def case_result(c: dict[str, int]) -> dict[str, Any]:
    """The case's entry in metrics.json: its scores and the pixel counts they came from."""
    return {**scores(c), **c}


def aggregate(per_case: list[dict[str, int]]) -> dict[str, Any]:
    """Mean IoU and Dice over cases (each case weighs the same) and pooled over all pixels (large masks weigh more)."""
    case_scores = [scores(c) for c in per_case]
    pooled = scores({k: sum(c[k] for c in per_case) for k in ("truth_pixels", "predicted_pixels", "intersection")})
    return {
        "mean_iou": float(np.mean([s["iou"] for s in case_scores])) if per_case else None,
        "mean_dice": float(np.mean([s["dice"] for s in case_scores])) if per_case else None,
        "pooled_iou": pooled["iou"],
        "pooled_dice": pooled["dice"],
        "n_cases": len(per_case),
    }

"""Major-axis length (HeLP): accuracy within a relative tolerance, and absolute error.

A case is correct when ``|predicted - truth| / truth <= tolerance`` (5 % by
default, inclusive; a 1e-12 slack absorbs floating-point rounding at exactly
the tolerance). Aggregates: ``accuracy`` (fraction correct),
``mean_absolute_error_mm`` and ``mean_relative_error``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluation.config import MajorAxisConfig

_SLACK = 1e-12


def case_result(predicted_mm: float, truth_mm: float, config: MajorAxisConfig) -> dict[str, Any]:
    """The case's entry in metrics.json: both lengths in millimetres, the errors, and whether within tolerance."""
    error = abs(predicted_mm - truth_mm)
    relative = error / truth_mm
    return {
        "predicted_mm": predicted_mm,
        "truth_mm": truth_mm,
        "absolute_error_mm": error,
        "relative_error": relative,
        "within_tolerance": bool(relative <= config.tolerance + _SLACK),
    }


def aggregate(predicted_mm: np.ndarray, truth_mm: np.ndarray, config: MajorAxisConfig) -> dict[str, Any]:
    """Accuracy (share of cases within tolerance) and mean errors over the tumour cases scored."""
    predicted = np.asarray(predicted_mm, dtype=np.float64)
    truth = np.asarray(truth_mm, dtype=np.float64)
    error = np.abs(predicted - truth)
    relative = error / truth
    n = len(truth)
    return {
        "accuracy": float(np.mean(relative <= config.tolerance + _SLACK)) if n else None,
        "mean_absolute_error_mm": float(np.mean(error)) if n else None,
        "mean_relative_error": float(np.mean(relative)) if n else None,
        "tolerance": config.tolerance,
        "n_cases": n,
    }

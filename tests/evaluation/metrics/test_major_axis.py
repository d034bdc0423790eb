"""Major-axis accuracy within a relative tolerance, and absolute error."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.config import MajorAxisConfig
from evaluation.metrics import major_axis


def test_tolerance_is_inclusive_and_relative_to_the_truth():
    config = MajorAxisConfig(tolerance=0.05)
    assert major_axis.case_result(10.5, 10.0, config)["within_tolerance"]
    assert major_axis.case_result(9.5, 10.0, config)["within_tolerance"]
    assert not major_axis.case_result(10.51, 10.0, config)["within_tolerance"]
    assert major_axis.case_result(10.5, 10.0, config)["relative_error"] == pytest.approx(0.05)


def test_aggregate_equals_numpy():
    rng = np.random.default_rng(0)
    truth = rng.uniform(2, 30, 50)
    pred = truth * (1 + rng.normal(0, 0.06, 50))
    agg = major_axis.aggregate(pred, truth, MajorAxisConfig())
    rel = np.abs(pred - truth) / truth
    assert agg["accuracy"] == pytest.approx(np.mean(rel <= 0.05))
    assert agg["mean_absolute_error_mm"] == pytest.approx(np.mean(np.abs(pred - truth)))
    assert agg["mean_relative_error"] == pytest.approx(rel.mean())
    assert agg["n_cases"] == 50

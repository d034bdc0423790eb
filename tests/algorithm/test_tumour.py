from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import ellipse
from sklearn.linear_model import LogisticRegression

from algorithm.classify import SlideModel, SlidePrediction
from algorithm.classify.estimators import FeatureValue
from algorithm.features import FeatureConfig, heatmap_features
from algorithm.segmentation import Heatmap, SlideHeatmap
from algorithm.tumour import TumourAssessment, axis_line

FEATURES = FeatureConfig(scales=(1, 4), thresholds=(0.5,))


def _slide_heatmap() -> SlideHeatmap:
    """A tumour ellipse 120 x 40 heatmap px, long axis along x, at 16 level-0 px (4 um) per pixel."""
    probability = np.zeros((100, 200), np.float32)
    rows, cols = ellipse(50, 100, 20, 60)
    probability[rows, cols] = 0.95
    heatmap = Heatmap(probability, np.ones_like(probability, bool), downsample=16.0, mpp=4.0)
    return SlideHeatmap(heatmap, tiles=4, tiles_total=4, seconds=0.0)


def _model(axis_feature: str) -> SlideModel:
    names = FEATURES.names()
    rng = np.random.default_rng(0)
    X = rng.random((12, len(names)))
    y = np.arange(12) % 2
    return SlideModel(
        LogisticRegression().fit(X, y), FeatureValue(names.index(axis_feature)).fit(X), FEATURES, names, axis_feature
    )


def test_line_is_the_measured_axis_at_the_predicted_length() -> None:
    found = _slide_heatmap()
    model = _model("s1_t0.5_major_axis_um")
    measured_um = heatmap_features(found.heatmap, FEATURES)["s1_t0.5_major_axis_um"]
    assert measured_um == pytest.approx(120 * 4.0, rel=0.02)
    prediction = SlidePrediction(0.9, True, major_axis_um=measured_um * 1.1)
    line = axis_line(model, found, prediction, mpp=(0.25, 0.25))
    length_um = float(np.hypot(*(line[1] - line[0]))) * 0.25
    assert length_um == pytest.approx(prediction.major_axis_um)
    assert line.mean(axis=0) == pytest.approx([100.5 * 16, 50.5 * 16], abs=16)  # the ellipse's centre
    assert abs(line[1, 1] - line[0, 1]) < 1e-6 * abs(line[1, 0] - line[0, 0]) + 1  # horizontal


def test_a_normal_call_draws_a_point() -> None:
    found = _slide_heatmap()
    line = axis_line(_model("s4_t0.5_major_axis_um"), found, SlidePrediction(0.1, False, 0.0), (0.25, 0.25))
    assert np.allclose(line[0], line[1])


def test_results_carry_every_slide_level_output() -> None:
    found = _slide_heatmap()
    prediction = SlidePrediction(0.9, True, 480.0)
    line = np.array([[1000.0, 800.0], [2920.0, 800.0]])
    results = TumourAssessment(found, prediction, line).results((0.25, 0.25))
    assert set(results) == {"tumour_heatmap", "tumour_probability", "tumour_major_axis_um", "tumour_major_axis_line"}
    assert results["tumour_major_axis_line"]["start"] == [0.25, 0.2, 0.0]
    assert results["tumour_major_axis_line"]["end"] == [0.73, 0.2, 0.0]
    assert results["tumour_heatmap"].startswith(b"ObjectType = Image")
    only_heatmap = TumourAssessment(found, None, np.zeros((2, 2))).results((0.25, 0.25))
    assert set(only_heatmap) == {"tumour_heatmap"}

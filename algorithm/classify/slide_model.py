"""Slide models: heatmap features -> tumour probability and tumour major axis.

A saved slide model is one joblib file holding the tumour classifier and the
major-axis regressor (scikit-learn pipelines), the names and configuration of
the features they were trained on, the axis measurement the regressor refines,
the decision threshold, the cross-validation report and the library versions.
Loading checks the versions (a pickle from another scikit-learn may predict
differently or not load) and that this kit still computes the same features.
Only load slide models you trust: joblib files are pickles.

scikit-learn and joblib are imported when a slide model is saved or loaded, not
with this module: a job without the tumour task does not pay for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from algorithm.classify.storage import check_feature_names, library_versions, load_payload, save_payload
from algorithm.errors import ConfigError
from algorithm.features import FeatureConfig

FORMAT = "kit.slide-model/1"
_KEYS = ("classifier", "axis_regressor", "features", "feature_names", "axis_feature", "threshold", "report", "versions")


@dataclass
class SlidePrediction:
    """One slide's call: tumour probability, whether it passes the threshold, and the predicted major axis."""

    tumour_probability: float
    is_tumour: bool
    major_axis_um: float  # 0 for a slide called normal


@dataclass
class SlideModel:
    """The tumour classifier and axis regressor with the features they were trained on, saved as one file."""

    classifier: Any  # a fitted scikit-learn pipeline with predict_proba
    axis_regressor: Any  # a fitted scikit-learn regressor of the major axis (um) on tumour slides
    features: FeatureConfig
    feature_names: list[str]
    axis_feature: str  # the measured axis the line is drawn along, e.g. "s4_t0.5_major_axis_um"
    threshold: float = 0.5
    report: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)

    def vector(self, features: dict[str, float]) -> NDArray[np.float64]:
        """The model's input row ``(1, n)`` from named features, in training's order; ConfigError if one is missing."""
        missing = [n for n in self.feature_names if n not in features]
        if missing:
            raise ConfigError(f"slide model needs features it was not given: {', '.join(missing[:3])}")
        return np.array([[features[n] for n in self.feature_names]], dtype=np.float64)

    def predict(self, features: dict[str, float]) -> SlidePrediction:
        """Classify the slide and, if tumour, predict its major axis (never negative)."""
        x = self.vector(features)
        probability = float(self.classifier.predict_proba(x)[0, 1])
        is_tumour = probability >= self.threshold
        axis = max(0.0, float(self.axis_regressor.predict(x)[0])) if is_tumour else 0.0
        return SlidePrediction(probability, is_tumour, axis)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as one compressed joblib file (whole or not at all), readable by :func:`load_slide_model`."""
        payload = {
            "format": FORMAT,
            "classifier": self.classifier,
            "axis_regressor": self.axis_regressor,
            "features": self.features.to_dict(),
            "feature_names": list(self.feature_names),
            "axis_feature": self.axis_feature,
            "threshold": self.threshold,
            "report": self.report,
            "versions": self.versions,
        }
        save_payload(path, payload)


def load_slide_model(path: str | os.PathLike[str]) -> SlideModel:
    """A saved slide model, checked: this kit's format, the same scikit-learn, the same features computed."""
    path = Path(path)
    payload = load_payload(path, FORMAT, _KEYS, "slide model", "python -m training classifier")
    features = FeatureConfig.from_dict(payload["features"], f"{path}: features")
    check_feature_names(path, features.names(), payload)
    return SlideModel(
        classifier=payload["classifier"],
        axis_regressor=payload["axis_regressor"],
        features=features,
        feature_names=payload["feature_names"],
        axis_feature=payload["axis_feature"],
        threshold=float(payload["threshold"]),
        report=payload["report"],
        versions=payload["versions"],
    )

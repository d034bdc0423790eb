"""Label models: a slide's patch probabilities -> the likelihood that the slide is positive, and its call.

The HER2 study's second level: an SVM over the vector of a slide's patch predictions
(here the ranked vector, quantiles and histogram of :mod:`algorithm.features.patch_features`),
chosen among the kit's candidates by cross-validation (``python -m training label-classifier``).
Saved as one joblib file with the feature names, the decision threshold, the
cross-validation report and the library versions, checked when loaded (see storage.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from algorithm.classify.storage import check_feature_names, library_versions, load_payload, save_payload
from algorithm.features import PatchFeatureConfig, patch_features

FORMAT = "kit.label-model/1"
_KEYS = ("classifier", "features", "feature_names", "threshold", "report", "versions")


@dataclass
class LabelPrediction:
    """One slide's call: the likelihood of the positive label and whether it passes the threshold."""

    likelihood: float
    positive: bool


@dataclass
class LabelModel:
    """A slide classifier over patch-probability features, saved as one file."""

    classifier: Any  # a fitted scikit-learn pipeline with predict_proba
    features: PatchFeatureConfig
    feature_names: list[str]
    threshold: float = 0.5
    report: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)

    def predict(self, probabilities: ArrayLike) -> LabelPrediction:
        """The call for one slide from its patch probabilities."""
        features = patch_features(probabilities, self.features)
        x = np.array([[features[n] for n in self.feature_names]], dtype=np.float64)
        likelihood = float(self.classifier.predict_proba(x)[0, 1])
        return LabelPrediction(likelihood, likelihood >= self.threshold)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as one compressed joblib file, readable by :func:`load_label_model`."""
        payload = {
            "format": FORMAT,
            "classifier": self.classifier,
            "features": self.features.to_dict(),
            "feature_names": list(self.feature_names),
            "threshold": self.threshold,
            "report": self.report,
            "versions": self.versions,
        }
        save_payload(path, payload)


def load_label_model(path: str | os.PathLike[str]) -> LabelModel:
    """A saved label model, checked: this kit's format, the same scikit-learn, the same features computed."""
    path = Path(path)
    payload = load_payload(path, FORMAT, _KEYS, "label model", "python -m training label-classifier")
    features = PatchFeatureConfig.from_dict(payload["features"], f"{path}: features")
    check_feature_names(path, features.names(), payload)
    return LabelModel(
        classifier=payload["classifier"],
        features=features,
        feature_names=payload["feature_names"],
        threshold=float(payload["threshold"]),
        report=payload["report"],
        versions=payload["versions"],
    )

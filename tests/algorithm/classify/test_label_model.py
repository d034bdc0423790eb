from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from algorithm.classify import LabelModel, load_label_model
from algorithm.errors import ConfigError
from algorithm.features import PatchFeatureConfig, patch_features

CONFIG = PatchFeatureConfig(ranks=4)


def _slide(rng: np.random.Generator, positive: bool) -> np.ndarray:
    """Patch probabilities: a positive slide has a share of confident patches, a negative one few."""
    n = int(rng.integers(10, 40))
    share = 0.5 if positive else 0.05
    return np.where(rng.random(n) < share, rng.uniform(0.7, 1.0, n), rng.uniform(0.0, 0.4, n))


@pytest.fixture(scope="module")
def model() -> LabelModel:
    rng = np.random.default_rng(0)
    slides = [_slide(rng, bool(i % 2)) for i in range(30)]
    X = np.array([list(patch_features(p, CONFIG).values()) for p in slides])
    y = np.array([i % 2 for i in range(30)])
    classifier = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    return LabelModel(classifier, CONFIG, CONFIG.names(), report={"note": "test"})


def test_calls_slides_from_their_patch_probabilities(model: LabelModel) -> None:
    rng = np.random.default_rng(1)
    positive = model.predict(_slide(rng, True))
    negative = model.predict(_slide(rng, False))
    assert positive.positive and positive.likelihood > 0.5
    assert not negative.positive and negative.likelihood < 0.5
    assert model.predict(np.zeros(0)).likelihood < 0.5  # no usable patches: nothing positive seen


def test_save_and_load_give_the_same_predictions(model: LabelModel, tmp_path: Path) -> None:
    path = tmp_path / "label_model.joblib"
    model.save(path)
    loaded = load_label_model(path)
    probabilities = np.linspace(0, 1, 17)
    assert loaded.predict(probabilities) == model.predict(probabilities)
    assert loaded.features == CONFIG
    assert loaded.report == {"note": "test"}


def test_files_that_are_not_label_models_are_refused(model: LabelModel, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="label model not found"):
        load_label_model(tmp_path / "missing.joblib")
    other = tmp_path / "other.joblib"
    joblib.dump({"format": "kit.slide-model/1"}, other)
    with pytest.raises(ConfigError, match="not a label model of this kit"):
        load_label_model(other)
    path = tmp_path / "m.joblib"
    model.save(path)
    payload = joblib.load(path)
    payload["versions"]["scikit-learn"] = "0.1"
    joblib.dump(payload, path)
    with pytest.raises(ConfigError, match="trained with scikit-learn 0.1.*python -m training label-classifier"):
        load_label_model(path)
    payload = joblib.load(path)
    payload["versions"]["scikit-learn"] = __import__("sklearn").__version__
    payload["feature_names"] = payload["feature_names"][:-1]
    joblib.dump(payload, path)
    with pytest.raises(ConfigError, match="features differ"):
        load_label_model(path)

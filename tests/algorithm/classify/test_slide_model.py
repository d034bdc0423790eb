from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from algorithm.classify import SlideModel, load_slide_model
from algorithm.classify.estimators import FeatureValue
from algorithm.errors import ConfigError
from algorithm.features import FeatureConfig
from tests.conftest import REPO
from tests.unprivileged import error_line_of, unreadable

NAMES = FeatureConfig().names()
AXIS = "s4_t0.5_major_axis_um"


@pytest.fixture(scope="module")
def table() -> tuple[np.ndarray, np.ndarray]:
    """20 slides, tumour ones far apart from normal ones on every feature."""
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 10)
    X = rng.normal(0.0, 1.0, (20, len(NAMES))) + 6.0 * y[:, None]
    X[:, NAMES.index(AXIS)] = np.where(y == 1, rng.uniform(500, 5000, 20), 0.0)
    return X, y


@pytest.fixture(scope="module")
def model(table: tuple[np.ndarray, np.ndarray]) -> SlideModel:
    X, y = table
    classifier = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    regressor = FeatureValue(NAMES.index(AXIS)).fit(X[y == 1])
    return SlideModel(classifier, regressor, FeatureConfig(), list(NAMES), AXIS, report={"note": "test"})


def _features(row: np.ndarray) -> dict[str, float]:
    return dict(zip(NAMES, row.tolist(), strict=True))


def _saved(model: SlideModel, path: Path) -> Path:
    model.save(path)
    return path


def test_scikit_learn_and_joblib_are_imported_only_when_a_slide_model_is_loaded(
    model: SlideModel, tmp_path: Path
) -> None:
    path = _saved(model, tmp_path / "m.joblib")
    code = (
        "import sys\nimport algorithm.classify\n"
        "assert not {'sklearn', 'joblib'} & set(sys.modules), 'imported with algorithm.classify'\n"
        f"algorithm.classify.load_slide_model({str(path)!r})\nassert {{'sklearn', 'joblib'}} <= set(sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_feature_value_predicts_its_column() -> None:
    X = np.arange(12, dtype=float).reshape(4, 3)
    regressor = FeatureValue(column=2).fit(X, np.zeros(4))
    assert regressor.n_features_in_ == 3
    np.testing.assert_array_equal(regressor.predict(X), [2.0, 5.0, 8.0, 11.0])
    assert clone(regressor).get_params() == {"column": 2}


def test_predictions_follow_probability_threshold_and_axis(model: SlideModel, table) -> None:
    X, y = table
    for row, label in zip(X, y, strict=True):
        p = model.predict(_features(row))
        assert 0.0 <= p.tumour_probability <= 1.0
        assert p.is_tumour == (p.tumour_probability >= model.threshold)
        assert p.is_tumour == bool(label)
        assert p.major_axis_um == (row[NAMES.index(AXIS)] if p.is_tumour else 0.0)


def test_threshold_decides_the_call(model: SlideModel, table) -> None:
    X, _ = table
    normal_row = _features(X[0])
    strict = SlideModel(
        model.classifier, model.axis_regressor, model.features, model.feature_names, AXIS, threshold=0.0
    )
    p = strict.predict(normal_row)
    assert p.is_tumour and p.major_axis_um == 0.0  # called tumour, its measured axis is 0
    never = SlideModel(
        model.classifier, model.axis_regressor, model.features, model.feature_names, AXIS, threshold=1.01
    )
    assert not any(never.predict(_features(row)).is_tumour for row in X)


def test_negative_regressed_axis_is_clipped(model: SlideModel, table) -> None:
    X, y = table
    row = X[y == 1][0].copy()
    row[NAMES.index(AXIS)] = -50.0
    assert model.predict(_features(row)).major_axis_um == 0.0


def test_missing_feature_is_a_config_error(model: SlideModel, table) -> None:
    features = _features(table[0][1])
    del features["s16_max"]
    with pytest.raises(ConfigError, match="s16_max"):
        model.predict(features)


def test_save_and_load_predict_the_same(model: SlideModel, table, tmp_path: Path) -> None:
    loaded = load_slide_model(_saved(model, tmp_path / "slide_model.joblib"))
    assert loaded.feature_names == NAMES and loaded.axis_feature == AXIS
    assert loaded.features == FeatureConfig() and loaded.threshold == 0.5 and loaded.report == {"note": "test"}
    assert loaded.versions["scikit-learn"] == sklearn.__version__
    for row in table[0]:
        assert loaded.predict(_features(row)) == model.predict(_features(row))
    assert not list(tmp_path.glob("*.part*"))


def _edit_payload(path: Path, edit) -> Path:
    payload = joblib.load(path)
    edit(payload)
    joblib.dump(payload, path)
    return path


def test_other_scikit_learn_version_is_refused(model: SlideModel, tmp_path: Path) -> None:
    path = _edit_payload(_saved(model, tmp_path / "m.joblib"), lambda p: p["versions"].update({"scikit-learn": "0.1"}))
    with pytest.raises(ConfigError, match=r"scikit-learn 0\.1") as error:
        load_slide_model(path)
    assert str(path) in str(error.value) and "scikit-learn==0.1" in str(error.value)


def test_other_feature_names_are_refused(model: SlideModel, tmp_path: Path) -> None:
    path = _edit_payload(_saved(model, tmp_path / "m.joblib"), lambda p: p["feature_names"].reverse())
    with pytest.raises(ConfigError, match="features differ"):
        load_slide_model(path)


def test_random_bytes_are_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "noise.joblib"
    path.write_bytes(np.random.default_rng(1).bytes(300))
    with pytest.raises(
        ConfigError, match=r"not a readable slide model \(damaged, or not written by joblib\.dump: "
    ) as error:
        load_slide_model(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    empty = tmp_path / "empty.joblib"
    empty.touch()
    with pytest.raises(ConfigError, match=r"empty\.joblib: not a readable slide model \(the file is empty\)$"):
        load_slide_model(empty)


def test_other_joblib_content_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "list.joblib"
    joblib.dump([1, 2, 3], path)
    with pytest.raises(ConfigError, match="not a slide model of this kit") as error:
        load_slide_model(path)
    assert str(path) in str(error.value)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="slide model not found"):
        load_slide_model(tmp_path / "nope.joblib")


def test_a_slide_model_it_may_not_read_is_named_as_such(tmp_path: Path) -> None:
    """Not "damaged, or not written by joblib.dump": the system refused, whatever the file holds."""
    path = tmp_path / "slide_model.joblib"
    shutil.copy(REPO / "models" / "slide_model.joblib", path)
    unreadable(path)
    line = error_line_of("from algorithm.classify import load_slide_model", f"load_slide_model({str(path)!r})")
    assert line == f"error: {path}: cannot be read: permission denied"

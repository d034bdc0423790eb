from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from algorithm.classify.estimators import FeatureValue
from algorithm.errors import ConfigError
from training.classifier.selection import (
    Selection,
    axis_within,
    classifier_candidates,
    f1_threshold,
    select_axis_regressor,
    select_classifier,
)

AXIS_NAMES = ["s4_t0.2_major_axis_um", "s4_t0.5_major_axis_um", "s4_max", "q0.5"]


def _separable(per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * per_class)
    X = rng.normal(0.0, 1.0, (2 * per_class, 3))
    X[:, 0] += 10.0 * y  # one feature separates the classes completely
    return X, y


@pytest.fixture(scope="module")
def chosen() -> Selection:
    X, y = _separable(6)
    return select_classifier(X, y, folds=2, seed=0)


def test_every_candidate_is_scored_and_one_chosen(chosen: Selection) -> None:
    candidates = chosen.report["candidates"]
    assert set(candidates) == set(classifier_candidates(0))
    assert all(0.0 <= c["auc_mean"] <= 1.0 and c["auc_std"] >= 0.0 for c in candidates.values())
    assert chosen.report["chosen"] == chosen.name and chosen.name in candidates
    assert chosen.report["folds"] == 2


def test_separable_data_give_a_perfect_choice(chosen: Selection) -> None:
    assert chosen.report["candidates"][chosen.name]["auc_mean"] == 1.0
    # ties go to the earlier candidate
    first_perfect = next(n for n, c in chosen.report["candidates"].items() if c["auc_mean"] == 1.0)
    assert chosen.name == first_perfect
    X, y = _separable(6, seed=1)
    assert roc_auc_score(y, chosen.model.predict_proba(X)[:, 1]) == 1.0  # fitted on all the data, ranks new slides


def test_same_seed_same_report(chosen: Selection) -> None:
    X, y = _separable(6)
    again = select_classifier(X, y, folds=2, seed=0)
    assert again.report == chosen.report and again.name == chosen.name


def test_folds_are_capped_by_the_smaller_class() -> None:
    y = np.array([0] * 8 + [1] * 4)
    X = np.random.default_rng(2).normal(0, 1, (12, 3))
    X[:, 0] += 10.0 * y
    assert select_classifier(X, y, folds=10, seed=0).report["folds"] == 4


@pytest.mark.parametrize("labels", [[0, 0, 0, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0]])
def test_too_few_slides_of_a_class(labels: list[int]) -> None:
    y = np.array(labels)
    with pytest.raises(ConfigError, match="at least 2 tumour and 2 normal"):
        select_classifier(np.zeros((len(y), 2)), y, folds=5, seed=0)


def test_two_slides_per_class_are_enough(caplog: pytest.LogCaptureFixture) -> None:
    """The SVM calibrates on an inner 3-fold split: with too few slides it is left out, not crashed, and says why."""
    X, y = _separable(2)
    selection = select_classifier(X, y, folds=5, seed=0)
    assert selection.report["folds"] == 2 and "svm" not in selection.report["candidates"]
    assert caplog.messages == [
        "svm left out: a cross-validation training fold holds 1 slides of the smaller class and the SVM's "
        "probability calibration needs 3 (it takes more slides of each class)"
    ]
    caplog.clear()
    select_classifier(X, y, folds=5, seed=0, only=["logistic_regression"])
    assert not caplog.messages  # not asked for: nothing to say
    X, y = _separable(6)
    assert "svm" in select_classifier(X, y, folds=3, seed=0).report["candidates"]
    assert not caplog.messages


def _axis_table(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8 tumour slides whose second axis feature is the truth, plus normal rows without an axis."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(300.0, 9000.0, 8)
    tumour = np.c_[truth * rng.uniform(1.2, 1.6, 8), truth, rng.normal(size=8), rng.normal(size=8)]
    normal = rng.normal(size=(3, 4)) * 1000
    return np.r_[tumour, normal], np.r_[truth, np.nan, 0.0, np.nan]


def test_exact_measured_axis_is_kept_as_it_is() -> None:
    X, axes = _axis_table()
    selection, feature = select_axis_regressor(X, axes, AXIS_NAMES, folds=3, seed=0)
    assert feature == "s4_t0.5_major_axis_um"
    assert selection.name == "measured" and selection.report["chosen"] == "measured"
    assert selection.report["measured_feature"] == feature
    assert selection.report["candidates"]["measured"]["within_5_percent"] == 1.0
    assert selection.report["candidates"]["measured"]["mean_relative_error"] == 0.0
    assert selection.report["slides"] == 8  # the NaN and 0 truths are left out
    assert isinstance(selection.model, FeatureValue) and selection.model.column == 1
    np.testing.assert_array_equal(selection.model.predict(X[:8]), axes[:8])


def test_axis_selection_is_deterministic() -> None:
    X, axes = _axis_table(3)
    a, _ = select_axis_regressor(X, axes, AXIS_NAMES, folds=2, seed=4)
    b, _ = select_axis_regressor(X, axes, AXIS_NAMES, folds=2, seed=4)
    assert a.report == b.report


def test_axis_needs_two_tumour_slides_and_an_axis_feature() -> None:
    X = np.ones((4, 4))
    with pytest.raises(ConfigError, match="at least 2 tumour slides"):
        select_axis_regressor(X, np.array([500.0, np.nan, 0.0, np.nan]), AXIS_NAMES, folds=3, seed=0)
    with pytest.raises(ConfigError):
        select_axis_regressor(X, np.array([500.0, 600.0, 700.0, 800.0]), ["a", "b", "c", "d"], folds=3, seed=0)


def test_axis_within_five_percent() -> None:
    truth = np.array([100.0, 100.0, 100.0, 200.0])
    assert axis_within(np.array([105.0, 94.0, 100.0, 189.0]), truth).tolist() == [True, False, True, False]


def test_cv_likelihoods_of_the_chosen_candidate_come_with_the_selection(chosen: Selection) -> None:
    X, y = _separable(6)
    assert chosen.cv_likelihood is not None and chosen.cv_likelihood.shape == y.shape
    assert roc_auc_score(y, chosen.cv_likelihood) == 1.0
    assert ((chosen.cv_likelihood >= 0) & (chosen.cv_likelihood <= 1)).all()


@pytest.mark.parametrize(
    "likelihood, labels, expected",
    [
        # separable, shifted low: the middle of the gap between the classes, not 0.5
        ([0.02, 0.05, 0.1, 0.19, 0.3, 0.45, 0.6], [0, 0, 0, 0, 1, 1, 1], 0.245),
        # one positive among the negatives: F1 is best with it missed
        ([0.1, 0.2, 0.25, 0.7, 0.8, 0.9], [0, 1, 0, 0, 1, 1], 0.75),
        # every slide alike: nothing to part, the usual 0.5
        ([0.4, 0.4, 0.4], [0, 1, 0], 0.5),
    ],
)
def test_f1_threshold_parts_the_classes_with_the_widest_margin(likelihood, labels, expected) -> None:
    assert f1_threshold(np.array(likelihood), np.array(labels)) == pytest.approx(expected)


def test_only_the_candidates_asked_for_are_considered() -> None:
    X, y = _separable(6)
    chosen = select_classifier(X, y, folds=2, seed=0, only=["svm", "logistic_regression"])
    assert set(chosen.report["candidates"]) == {"svm", "logistic_regression"}
    with pytest.raises(ConfigError, match="unknown classifier\\(s\\) xgboost; choose from logistic_regression"):
        select_classifier(X, y, folds=2, seed=0, only=["xgboost"])

"""Choosing the slide models by cross-validation.

Tumour classifier: scaling + logistic regression, SVM, random forest or
gradient boosting, whichever has the best mean AUC over stratified folds
(ties go to the earlier, simpler one). Major axis: on tumour slides, the
measured axis feature that is most often within 5 % of the truth, kept as it
is or linearly calibrated, against a ridge regression on every measured axis
(scales x thresholds) and tree regressors on all features; chosen by
out-of-fold accuracy within 5 % (HeLP's score), then by mean relative error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from algorithm.classify.estimators import FeatureValue
from algorithm.errors import ConfigError
from algorithm.features import parse_axis_feature

logger = logging.getLogger(__name__)

AXIS_TOLERANCE = 0.05
SVM_CALIBRATION_FOLDS = 3  # the SVM's probabilities are calibrated by an inner cross-validation


def classifier_candidates(seed: int, smallest_class: int = SVM_CALIBRATION_FOLDS) -> dict[str, Pipeline]:
    """The candidates; the SVM only when every class has ``SVM_CALIBRATION_FOLDS`` slides to calibrate on."""

    def scaled(model: Any) -> Pipeline:
        return Pipeline([("scale", StandardScaler()), ("model", model)])

    candidates = {"logistic_regression": scaled(LogisticRegression(C=1.0, max_iter=5000))}
    if smallest_class >= SVM_CALIBRATION_FOLDS:
        svm = SVC(kernel="rbf", C=1.0, random_state=seed)
        candidates["svm"] = scaled(CalibratedClassifierCV(svm, ensemble=False, cv=SVM_CALIBRATION_FOLDS))
    candidates["random_forest"] = scaled(RandomForestClassifier(n_estimators=300, random_state=seed))
    candidates["gradient_boosting"] = scaled(GradientBoostingClassifier(random_state=seed))
    return candidates


def axis_within(
    predicted: NDArray[np.float64], truth: NDArray[np.float64], tolerance: float = AXIS_TOLERANCE
) -> NDArray[np.bool_]:
    """Whether each predicted axis is within ``tolerance`` relative error: HeLP's criterion."""
    return np.abs(predicted - truth) <= tolerance * truth


def mean_relative_error(predicted: NDArray[np.float64], truth: NDArray[np.float64]) -> float:
    """The mean relative error: the tie-breaker between axis models of equal HeLP accuracy."""
    return float(np.mean(np.abs(predicted - truth) / truth))


@dataclass
class Selection:
    """The chosen candidate, refitted on all the slides, and the cross-validation report that chose it."""

    name: str
    model: Any  # fitted on all the data
    report: dict[str, Any]
    # the chosen candidate's cross-validated likelihoods, one per slide (each from a model that did not see it)
    cv_likelihood: NDArray[np.float64] | None = None


CANDIDATE_NAMES = ("logistic_regression", "svm", "random_forest", "gradient_boosting")


def select_classifier(
    X: NDArray,  # noqa: N803
    y: NDArray,
    folds: int,
    seed: int,
    only: Sequence[str] | None = None,
) -> Selection:
    """The classifier with the best mean AUC over stratified folds, refitted on all slides.

    At least two slides of each class are needed; the number of folds shrinks to what they allow. ``only``: the
    candidates to consider (names of :data:`CANDIDATE_NAMES`; default all).
    """
    unknown = sorted(set(only or ()) - set(CANDIDATE_NAMES))
    if unknown:
        raise ConfigError(f"unknown classifier(s) {', '.join(unknown)}; choose from {', '.join(CANDIDATE_NAMES)}")
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise ConfigError(
            f"the classifier needs at least 2 tumour and 2 normal slides; got {counts[1]} and {counts[0]}"
        )
    splitter = StratifiedKFold(n_splits=int(min(folds, counts.min())), shuffle=True, random_state=seed)
    smallest = int(counts.min() - -(-counts.min() // splitter.n_splits))  # per class in a training fold
    candidates = {k: v for k, v in classifier_candidates(seed, smallest).items() if not only or k in only}
    if smallest < SVM_CALIBRATION_FOLDS and (not only or "svm" in only):
        logger.warning(
            f"svm left out: a cross-validation training fold holds {smallest} slides of the smaller class and the "
            f"SVM's probability calibration needs {SVM_CALIBRATION_FOLDS} (it takes more slides of each class)"
        )
    if not candidates:
        raise ConfigError(f"none of the classifiers {', '.join(only or ())} can be fitted on {len(y)} slides")
    report: dict[str, Any] = {"folds": splitter.n_splits, "candidates": {}}
    best_name, best_auc, best_cv = "", -1.0, np.zeros(len(y))
    for name, candidate in candidates.items():
        aucs, cv = [], np.zeros(len(y))
        for train, test in splitter.split(X, y):
            fitted = clone(candidate).fit(X[train], y[train])
            cv[test] = fitted.predict_proba(X[test])[:, 1]
            aucs.append(roc_auc_score(y[test], cv[test]))
        report["candidates"][name] = {"auc_mean": float(np.mean(aucs)), "auc_std": float(np.std(aucs))}
        if np.mean(aucs) > best_auc + 1e-9:
            best_name, best_auc, best_cv = name, float(np.mean(aucs)), cv
    report["chosen"] = best_name
    return Selection(best_name, clone(candidates[best_name]).fit(X, y), report, best_cv)


def f1_threshold(likelihood: NDArray[np.float64], y: NDArray[np.int64]) -> float:
    """The decision threshold with the best F1 over ``likelihood`` (cross-validated, or of validation slides): of
    the thresholds that reach it, the one in the middle of the widest gap between two slides' likelihoods (the
    largest margin both ways).

    A model refitted on all slides is surer of them than of a new slide, and a slide model's likelihoods shift
    with the patch model under it: 0.5 is rarely where the classes part.
    """
    values = np.unique(np.asarray(likelihood, dtype=np.float64))
    if len(values) < 2:
        return 0.5
    best: tuple[float, float, float] = (-1.0, -1.0, 0.5)  # (F1, gap, threshold)
    for low, high in zip(values[:-1], values[1:], strict=True):
        t = float((low + high) / 2)
        called = likelihood >= t
        tp = int((called & (y == 1)).sum())
        f1 = 2 * tp / (called.sum() + (y == 1).sum()) if tp else 0.0
        best = max(best, (round(f1, 12), float(high - low), t))
    return best[2]


def _axis_candidates(column: int, axis_columns: list[int], seed: int) -> dict[str, Any]:
    pick = ColumnTransformer([("axis", "passthrough", [column])])
    all_axes = ColumnTransformer([("axes", "passthrough", axis_columns)])
    return {
        "measured": FeatureValue(column),
        "measured_linear": Pipeline([("pick", pick), ("model", LinearRegression())]),
        "all_axes_ridge": Pipeline(
            [("pick", all_axes), ("scale", StandardScaler()), ("model", RidgeCV(alphas=np.logspace(-2, 3, 11)))]
        ),
        "random_forest": RandomForestRegressor(n_estimators=300, random_state=seed),
        "gradient_boosting": GradientBoostingRegressor(random_state=seed),
    }


def select_axis_regressor(
    X: NDArray,
    axes: NDArray,
    names: list[str],
    folds: int,
    seed: int,  # noqa: N803 - scikit-learn's name
) -> tuple[Selection, str]:
    """Returns the selection and the name of the measured axis feature it draws along."""
    known = np.isfinite(axes) & (axes > 0)
    X, axes = X[known], axes[known]
    columns = [i for i, n in enumerate(names) if parse_axis_feature(n) is not None]
    if len(axes) < 2 or not columns:
        raise ConfigError(f"the axis model needs at least 2 tumour slides with a major axis; got {len(axes)}")
    hits = {i: float(axis_within(X[:, i], axes).mean()) for i in columns}
    errors = {i: mean_relative_error(X[:, i], axes) for i in columns}
    column = max(columns, key=lambda i: (hits[i], -errors[i]))
    splitter = KFold(n_splits=int(min(folds, len(axes))), shuffle=True, random_state=seed)
    report: dict[str, Any] = {
        "folds": splitter.n_splits,
        "slides": int(len(axes)),
        "measured_feature": names[column],
        "candidates": {},
    }
    best_name, best_key = "", (-1.0, 0.0)
    candidates = _axis_candidates(column, columns, seed)
    for name, candidate in candidates.items():
        predicted = cross_val_predict(candidate, X, axes, cv=splitter)
        within = float(axis_within(predicted, axes).mean())
        error = mean_relative_error(predicted, axes)
        report["candidates"][name] = {"within_5_percent": within, "mean_relative_error": error}
        if (within, -error) > best_key:
            best_name, best_key = name, (within, -error)
    report["chosen"] = best_name
    model = clone(candidates[best_name]).fit(X, axes)
    return Selection(best_name, model, report), names[column]

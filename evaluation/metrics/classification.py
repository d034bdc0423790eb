"""Slide classification: ROC AUC, F1 and balanced accuracy, with bootstrap confidence intervals.

The prediction of a case is a likelihood in [0, 1]; the truth a label 0/1.
AUC is threshold-free (scikit-learn's ``roc_auc_score``); F1, balanced accuracy,
sensitivity, specificity and accuracy call a case positive when
``likelihood >= threshold``, or, with the config's ``label_socket`` (the HER2
task's ``slide-label``), when the algorithm's own call for the case is true:
then the likelihood serves AUC only, and the two may disagree.

Confidence intervals: percentile bootstrap over cases. The resamples are
``numpy.random.default_rng(seed).integers(0, n, size=(samples, n))`` (so a
given seed reproduces them anywhere); each metric is computed on each
resample and the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2``
quantiles (numpy's default, linear). Resamples holding one class only cannot
have an AUC and are left out of its interval (``valid_samples`` says how
many were used); F1 and balanced accuracy follow scikit-learn on such
resamples (F1 0 without positives; balanced accuracy over the classes present).
The ROC curve the plots draw is :func:`roc_points` (AUC is the area under it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from evaluation.config import ClassificationConfig


def _auc_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """AUC of each row (Mann-Whitney U with average ranks for ties); NaN where a class is absent."""
    ranks = rankdata(p, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    u = (ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _threshold_rows(y: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """F1, balanced accuracy, sensitivity, specificity, accuracy of each row (scikit-learn's conventions)."""
    y = y.astype(bool)
    tp = (y & predicted).sum(axis=1).astype(float)
    fp = (~y & predicted).sum(axis=1).astype(float)
    fn = (y & ~predicted).sum(axis=1).astype(float)
    tn = (~y & ~predicted).sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        sens = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        spec = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
    balanced = np.nanmean(np.stack([sens, spec]), axis=0)
    return {
        "f1_score": f1,
        "balanced_accuracy": balanced,
        "sensitivity": sens,
        "specificity": spec,
        "accuracy": (tp + tn) / y.shape[1],
    }


def _interval(values: np.ndarray, level: float) -> tuple[list[float] | None, int]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, 0
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)], int(values.size)


def _value(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def roc_points(labels: np.ndarray, likelihoods: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """False and true positive rates at every distinct likelihood (scikit-learn's ``roc_curve``, all points kept).

    The area under them (trapezoids) is ``roc_auc_score``'s AUC; None where AUC is (one class only).
    """
    y = np.asarray(labels, dtype=np.int64)
    if not 0 < y.sum() < len(y):
        return None
    fpr, tpr, _ = roc_curve(y, np.asarray(likelihoods, dtype=np.float64), drop_intermediate=False)
    return np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)


def _calls(
    likelihoods: np.ndarray, predicted: np.ndarray | None, config: ClassificationConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Each case's call (the label socket's, else ``likelihood >= threshold``) and how it was made, for the output."""
    if (predicted is None) != (config.label_socket is None):
        raise ValueError("predicted labels are given exactly when the config has a label_socket")
    if predicted is None:
        return likelihoods >= config.threshold, {"threshold": config.threshold}
    calls = np.asarray(predicted, dtype=bool)
    if calls.shape != likelihoods.shape:
        raise ValueError(f"{calls.shape[0]} predicted labels for {likelihoods.shape[0]} likelihoods")
    return calls, {"threshold": None, "label_socket": config.label_socket}


def aggregate(
    labels: np.ndarray, likelihoods: np.ndarray, config: ClassificationConfig, predicted: np.ndarray | None = None
) -> dict[str, Any]:
    """Scores over all cases plus bootstrap intervals for AUC, F1 and balanced accuracy.

    ``predicted``: the algorithm's calls (bool per case, from ``config.label_socket``), given exactly when the
    config has a label socket; the thresholded metrics are then computed from them, and ``threshold`` is null.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(likelihoods, dtype=np.float64)
    calls, how = _calls(p, predicted, config)
    n = len(y)
    both = 0 < y.sum() < n
    point = _threshold_rows(y[None, :], calls[None, :])
    out: dict[str, Any] = {
        "auc": float(roc_auc_score(y, p)) if both else None,
        **{k: _value(v[0]) for k, v in point.items()},
        **how,
        "n_cases": n,
        "n_positive": int(y.sum()),
    }
    if config.bootstrap_samples and n:
        idx = np.random.default_rng(config.seed).integers(0, n, size=(config.bootstrap_samples, n))
        yb, pb = y[idx], p[idx]
        rows = _threshold_rows(yb, calls[idx])
        auc_ci, auc_valid = _interval(_auc_rows(yb, pb), config.confidence_level)
        out["auc_ci"] = auc_ci
        out["f1_score_ci"] = _interval(rows["f1_score"], config.confidence_level)[0]
        out["balanced_accuracy_ci"] = _interval(rows["balanced_accuracy"], config.confidence_level)[0]
        out["bootstrap"] = {
            "samples": config.bootstrap_samples,
            "valid_samples_auc": auc_valid,
            "seed": config.seed,
            "confidence_level": config.confidence_level,
            "method": "percentile",
        }
    return out


def case_result(
    label: int, likelihood: float, config: ClassificationConfig, predicted: bool | None = None
) -> dict[str, Any]:
    """The case's entry in metrics.json: its label, the likelihood and the predicted label.

    The predicted label is the algorithm's call (``predicted``, from the label socket) when the config has a
    ``label_socket``, else the label the likelihood implies at the threshold.
    """
    if (predicted is None) != (config.label_socket is None):
        raise ValueError("a predicted label is given exactly when the config has a label_socket")
    call = likelihood >= config.threshold if predicted is None else predicted
    return {"label": int(label), "likelihood": likelihood, "predicted_label": int(call)}

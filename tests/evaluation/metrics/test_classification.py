"""Classification metrics against scikit-learn, including every bootstrap resample."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from evaluation.config import ClassificationConfig
from evaluation.metrics import classification


def data(n: int = 40, seed: int = 0, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    return y, (np.round(p, 1) if ties else p)


@pytest.mark.parametrize("ties", [False, True])
def test_point_estimates_equal_sklearn(ties):
    y, p = data(ties=ties)
    config = ClassificationConfig(threshold=0.5, bootstrap_samples=0)
    out = classification.aggregate(y, p, config)
    pred = (p >= 0.5).astype(int)
    assert out["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-15)
    assert out["f1_score"] == pytest.approx(f1_score(y, pred), abs=1e-15)
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-15)
    assert out["sensitivity"] == pytest.approx(((pred == 1) & (y == 1)).sum() / (y == 1).sum())
    assert out["specificity"] == pytest.approx(((pred == 0) & (y == 0)).sum() / (y == 0).sum())
    assert out["accuracy"] == pytest.approx((pred == y).mean())
    assert "auc_ci" not in out


@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn on single-class resamples
@pytest.mark.parametrize("n,ties", [(12, True), (30, False)])
def test_bootstrap_intervals_equal_a_loop_over_sklearn(n, ties):
    y, p = data(n=n, seed=4, ties=ties)
    config = ClassificationConfig(threshold=0.5, bootstrap_samples=150, seed=11, confidence_level=0.9)
    out = classification.aggregate(y, p, config)
    idx = np.random.default_rng(11).integers(0, n, size=(150, n))
    aucs, f1s, bas = [], [], []
    for row in idx:
        yb, pb = y[row], p[row]
        predb = (pb >= 0.5).astype(int)
        if 0 < yb.sum() < n:
            aucs.append(roc_auc_score(yb, pb))
        f1s.append(f1_score(yb, predb, zero_division=0.0))
        bas.append(balanced_accuracy_score(yb, predb))
    q = [0.05, 0.95]
    assert out["auc_ci"] == pytest.approx(np.quantile(aucs, q).tolist(), abs=1e-12)
    assert out["f1_score_ci"] == pytest.approx(np.quantile(f1s, q).tolist(), abs=1e-12)
    assert out["balanced_accuracy_ci"] == pytest.approx(np.quantile(bas, q).tolist(), abs=1e-12)
    assert out["bootstrap"]["valid_samples_auc"] == len(aucs)


def test_deterministic_for_a_seed_and_different_for_another():
    y, p = data()
    a = classification.aggregate(y, p, ClassificationConfig(seed=1))
    b = classification.aggregate(y, p, ClassificationConfig(seed=1))
    c = classification.aggregate(y, p, ClassificationConfig(seed=2))
    assert a == b
    assert a["auc_ci"] != c["auc_ci"]


def test_single_class_has_no_auc():
    out = classification.aggregate(
        np.ones(5, int), np.linspace(0.1, 0.9, 5), ClassificationConfig(bootstrap_samples=50)
    )
    assert out["auc"] is None and out["auc_ci"] is None
    assert out["bootstrap"]["valid_samples_auc"] == 0
    assert out["sensitivity"] == pytest.approx(0.6) and out["specificity"] is None
    assert out["balanced_accuracy"] == pytest.approx(0.6)


def test_case_result():
    assert classification.case_result(1, 0.5, ClassificationConfig(threshold=0.5)) == {
        "label": 1,
        "likelihood": 0.5,
        "predicted_label": 1,
    }

"""Detection metrics against independent references: grand_challenge_metrics' scorer, scikit-learn, brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grand_challenge_metrics.scorers import score_detection
from sklearn.metrics import average_precision_score

from evaluation.config import DetectionConfig
from evaluation.metrics import detection
from evaluation.validation import Candidates

RADIUS = 0.0075


def make_case(
    rng: np.random.Generator, n_truth: int, n_near: int, n_far: int, ties: bool = False
) -> tuple[np.ndarray, Candidates]:
    """Truth points in a 0.3 mm field, candidates clustered near them (ambiguous matches) and far away."""
    truth = rng.uniform(0, 0.3, (n_truth, 2))
    near = truth[rng.integers(0, n_truth, n_near)] + rng.normal(0, 0.005, (n_near, 2)) if n_truth else np.zeros((0, 2))
    xy = np.concatenate([near, rng.uniform(0, 0.3, (n_far, 2))])
    prob = rng.uniform(0, 1, len(xy))
    if ties:
        prob = np.round(prob, 1)
    positive = rng.uniform(0, 1, len(xy)) < 0.7
    return truth, Candidates(xy_mm=xy, probability=prob, positive=positive)


def cases(seed: int = 0, n: int = 40, ties: bool = False) -> list[tuple[np.ndarray, Candidates]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        n_truth = 0 if i % 10 == 0 else int(rng.integers(1, 12))
        n_near = 0 if i % 10 == 1 else int(rng.integers(0, 15))
        out.append(make_case(rng, n_truth, n_near if n_truth else 0, int(rng.integers(0, 6)), ties))
    return out


def naive_hits(truth: np.ndarray, cand: Candidates, keep: np.ndarray | None = None) -> np.ndarray:
    """Pure-Python greedy matching in descending probability (stable), nearest free truth within the radius."""
    hits = np.zeros(len(cand.probability), dtype=bool)
    taken = [False] * len(truth)
    order = sorted(range(len(cand.probability)), key=lambda i: -cand.probability[i])
    for i in order:
        if keep is not None and not keep[i]:
            continue
        best, best_d = None, math.inf
        for j, (tx, ty) in enumerate(truth):
            d = math.sqrt((cand.xy_mm[i, 0] - tx) ** 2 + (cand.xy_mm[i, 1] - ty) ** 2)
            if not taken[j] and d <= RADIUS and d < best_d:
                best, best_d = j, d
        if best is not None:
            taken[best] = True
            hits[i] = True
    return hits


def score_all(data, config: DetectionConfig, domains=None) -> list[detection.DetectionCase]:
    return [
        detection.score_case(f"c{i}", None if domains is None else domains[i], t, c, config)
        for i, (t, c) in enumerate(data)
    ]


@pytest.mark.parametrize("threshold", [None, 0.5])
def test_f1_equals_summed_score_detection_as_midog_calls_it(threshold):
    config = DetectionConfig(threshold=threshold)
    data = cases()
    results = score_all(data, config)
    tp = fp = fn = 0
    for (truth, cand), result in zip(data, results, strict=True):
        # MIDOG: [x, y, 0] lists of the points named "mitotic figure" (and above the threshold if any).
        preds = [
            [x, y, 0]
            for (x, y), p, pos in zip(cand.xy_mm.tolist(), cand.probability, cand.positive, strict=True)
            if pos and (threshold is None or p >= threshold)
        ]
        ref = score_detection(ground_truth=[[x, y, 0] for x, y in truth.tolist()], predictions=preds, radius=7.5e-3)
        assert (result.true_positives, result.false_positives, result.false_negatives) == tuple(
            ref._asdict()[k] for k in ("true_positives", "false_positives", "false_negatives")
        )
        tp, fp, fn = tp + ref.true_positives, fp + ref.false_positives, fn + ref.false_negatives
    agg = detection.aggregate(results, config)
    assert (agg["true_positives"], agg["false_positives"], agg["false_negatives"]) == (tp, fp, fn)
    assert agg["precision"] == pytest.approx(tp / (tp + fp), abs=1e-15)
    assert agg["recall"] == pytest.approx(tp / (tp + fn), abs=1e-15)
    assert agg["f1_score"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-15)
    # MIDOG's eps-smoothed formula differs only at the 1e-8 level.
    assert agg["f1_score"] == pytest.approx((2 * tp + 1e-6) / (2 * tp + fp + fn + 1e-6), abs=1e-7)


def test_per_domain_sums_only_that_domain():
    config = DetectionConfig()
    data = cases(seed=3, n=30)
    domains = ["a" if i % 3 else "b" for i in range(len(data))]
    agg = detection.aggregate(score_all(data, config, domains), config)
    for d in ("a", "b"):
        tp = fp = fn = 0
        for (truth, cand), dom in zip(data, domains, strict=True):
            if dom == d:
                r = score_detection(ground_truth=truth, predictions=cand.xy_mm[cand.positive], radius=RADIUS)
                tp, fp, fn = tp + r.true_positives, fp + r.false_positives, fn + r.false_negatives
        assert agg["per_domain"][d]["f1_score"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert agg["per_domain"][d]["n_cases"] == domains.count(d)


@pytest.mark.parametrize("ties", [False, True])
def test_matching_and_average_precision_equal_naive_matching_and_sklearn(ties):
    config = DetectionConfig()
    data = cases(seed=1, ties=ties)
    results = score_all(data, config)
    all_hits, all_probs, n_truth = [], [], 0
    for (truth, cand), result in zip(data, results, strict=True):
        ref_hits = naive_hits(truth, cand)
        np.testing.assert_array_equal(result.candidate_hit, ref_hits)
        all_hits.append(ref_hits)
        all_probs.append(cand.probability)
        n_truth += len(truth)
    hits, probs = np.concatenate(all_hits), np.concatenate(all_probs)
    # scikit-learn's AP over the candidates, scaled for the truth points no candidate reached.
    expected = average_precision_score(hits, probs) * hits.sum() / n_truth
    assert detection.aggregate(results, config)["average_precision"] == pytest.approx(expected, abs=1e-12)


def test_froc_equals_brute_force_over_thresholds():
    config = DetectionConfig(froc_fp_rates=(0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0))
    data = cases(seed=2, ties=True)
    agg = detection.aggregate(score_all(data, config), config)
    n_truth = sum(len(t) for t, _ in data)
    points = []
    for t in sorted({p for _, c in data for p in c.probability}, reverse=True):
        tp = fp = 0
        for truth, cand in data:
            keep = cand.probability >= t
            h = naive_hits(truth, cand, keep)
            tp += int(h.sum())
            fp += int((keep & ~h).sum())
        points.append((tp / n_truth, fp / len(data)))
    expected = [max([s for s, f in points if f <= rate], default=0.0) for rate in config.froc_fp_rates]
    assert agg["froc"]["sensitivity"] == pytest.approx(expected, abs=1e-12)
    assert agg["froc"]["score"] == pytest.approx(np.mean(expected), abs=1e-12)


def test_froc_points_equal_score_detection_when_matches_are_unambiguous():
    """Well-separated truth: thresholding then score_detection (MIDOG's FROC) gives the same curve."""
    rng = np.random.default_rng(5)
    config = DetectionConfig(froc_fp_rates=(0.5, 1.0, 2.0))
    data = []
    for _ in range(10):
        grid = np.stack(np.meshgrid(np.arange(5), np.arange(4)), -1).reshape(-1, 2) * 0.05 + 0.02
        truth = grid[rng.permutation(len(grid))[: rng.integers(2, 10)]]
        near = truth[: len(truth) // 2 + 1] + rng.uniform(-0.004, 0.004, (len(truth) // 2 + 1, 2))
        far = grid[-3:] + 0.025
        xy = np.concatenate([near, far])
        data.append((truth, Candidates(xy, rng.uniform(0, 1, len(xy)), np.ones(len(xy), bool))))
    agg = detection.aggregate(score_all(data, config), config)
    n_truth = sum(len(t) for t, _ in data)
    points = []
    for t in sorted({p for _, c in data for p in c.probability}):
        scores = [
            score_detection(ground_truth=tr, predictions=c.xy_mm[c.probability >= t], radius=RADIUS) for tr, c in data
        ]
        points.append(
            (sum(s.true_positives for s in scores) / n_truth, sum(s.false_positives for s in scores) / len(data))
        )
    expected = [max([s for s, f in points if f <= r], default=0.0) for r in config.froc_fp_rates]
    assert agg["froc"]["sensitivity"] == pytest.approx(expected)


def test_case_result_conventions_for_empty_cases():
    assert detection.precision_recall_f1(0, 0, 0) == {"precision": None, "recall": None, "f1_score": 1.0}
    assert detection.precision_recall_f1(0, 3, 0) == {"precision": 0.0, "recall": None, "f1_score": 0.0}
    assert detection.precision_recall_f1(0, 0, 2) == {"precision": None, "recall": 0.0, "f1_score": 0.0}


def test_names_decide_f1_but_every_candidate_counts_for_ap():
    truth = np.array([[0.1, 0.1], [0.2, 0.2]])
    cand = Candidates(np.array([[0.101, 0.1], [0.2, 0.201]]), np.array([0.9, 0.4]), np.array([True, False]))
    config = DetectionConfig()
    result = detection.score_case("c", None, truth, cand, config)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 0, 1)
    agg = detection.aggregate([result], config)
    assert agg["average_precision"] == pytest.approx(1.0)
    assert agg["froc"]["sensitivity"][0] == 1.0
    # With a threshold above the positive point's probability, nothing counts for F1.
    strict = detection.score_case("c", None, truth, cand, DetectionConfig(threshold=0.95))
    assert (strict.true_positives, strict.false_negatives) == (0, 2)


def test_no_candidates_and_no_truth():
    config = DetectionConfig()
    empty = Candidates(np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool))
    r1 = detection.score_case("a", None, np.array([[0.1, 0.1]]), empty, config)
    agg = detection.aggregate([r1], config)
    assert agg["average_precision"] == 0.0 and agg["froc"]["score"] == 0.0 and agg["recall"] == 0.0
    r2 = detection.score_case("b", None, np.zeros((0, 2)), empty, config)
    agg2 = detection.aggregate([r2], config)
    assert agg2["average_precision"] is None and agg2["froc"]["score"] is None and agg2["f1_score"] == 1.0

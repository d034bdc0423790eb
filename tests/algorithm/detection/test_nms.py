import numpy as np

from algorithm.detection.nms import classwise_distance_nms, distance_nms


def test_keeps_best_within_radius_and_far_points() -> None:
    points = np.array([[0, 0], [3, 0], [10, 0], [10, 4.9], [30, 30]], float)
    scores = np.array([0.5, 0.9, 0.7, 0.8, 0.1])
    keep = distance_nms(points, scores, radius=5.0)
    assert keep.tolist() == [1, 3, 4]


def test_ties_are_deterministic_and_empty_is_fine() -> None:
    points = np.array([[0, 0], [1, 0]], float)
    assert distance_nms(points, np.array([0.5, 0.5]), 2.0).tolist() == [0]
    assert distance_nms(np.zeros((0, 2)), np.zeros(0), 2.0).tolist() == []


def test_classes_do_not_suppress_each_other() -> None:
    points = np.array([[0, 0], [1, 0], [1, 1]], float)
    keep = classwise_distance_nms(points, np.array([0.9, 0.8, 0.7]), np.array([1, 2, 1]), radius=3.0)
    assert keep.tolist() == [0, 1]


def test_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 100, (300, 2))
    scores = rng.uniform(0, 1, 300)
    keep = distance_nms(points, scores, 6.0)
    kept = points[keep]
    gaps = np.linalg.norm(kept[:, None] - kept[None], axis=-1) + np.eye(len(kept)) * 1e9
    assert gaps.min() > 6.0
    for i in set(range(300)) - set(keep.tolist()):  # every dropped point has a better kept neighbour
        near = np.linalg.norm(kept - points[i], axis=1) <= 6.0
        assert (scores[keep][near] >= scores[i]).any()

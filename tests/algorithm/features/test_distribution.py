from __future__ import annotations

import numpy as np
import pytest

from algorithm.features.distribution import histogram_features, quantile_features, ranked_features


def test_ranked_vector_runs_from_highest_to_lowest_at_evenly_spaced_ranks() -> None:
    ranked = ranked_features([0.2, 0.9, 0.5, 0.1, 0.7], 3)
    assert list(ranked) == ["rank_0_of_3", "rank_1_of_3", "rank_2_of_3"]
    assert list(ranked.values()) == pytest.approx([0.9, 0.5, 0.1])


def test_ranked_vector_interpolates_between_ranks_and_has_a_fixed_length() -> None:
    assert list(ranked_features([1.0, 0.0], 5).values()) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    many = ranked_features(np.linspace(0, 1, 1001), 4)
    assert list(many.values()) == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


@pytest.mark.parametrize(
    ("values", "length", "expected"), [([], 3, [0, 0, 0]), ([0.4], 3, [0.4] * 3), ([0.3, 0.8], 1, [0.8])]
)
def test_ranked_vector_of_few_values(values: list[float], length: int, expected: list[float]) -> None:
    assert list(ranked_features(values, length).values()) == pytest.approx(expected)


def test_quantiles_and_histogram() -> None:
    values = np.array([0.05, 0.15, 0.15, 0.95])
    assert quantile_features(values, (0.0, 1.0)) == {"q0": 0.05, "q1": 0.95}
    hist = histogram_features(values, 2)
    assert hist == {"hist_0_of_2": 0.75, "hist_1_of_2": 0.25}
    assert quantile_features([], (0.5,)) == {"q0.5": 0.0}
    assert histogram_features([], 2) == {"hist_0_of_2": 0.0, "hist_1_of_2": 0.0}

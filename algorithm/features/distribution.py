"""What a slide model sees of a set of probabilities: quantiles, a histogram and a fixed-length ranked vector.

A heatmap's tissue pixels and a slide's patch predictions are both a bag of
probabilities of varying size; these summaries give every slide the same
number of features.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def quantile_features(values: ArrayLike, quantiles: tuple[float, ...]) -> dict[str, float]:
    """``q<q>``: the values' quantiles (0 for no values)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    found = np.quantile(v, quantiles) if v.size else np.zeros(len(quantiles))
    return {f"q{q:g}": float(x) for q, x in zip(quantiles, found, strict=True)}


def histogram_features(values: ArrayLike, bins: int) -> dict[str, float]:
    """``hist_<i>_of_<bins>``: the share of the values in each of ``bins`` equal bins of [0, 1]."""
    v = np.asarray(values, dtype=np.float64).ravel()
    counts, _ = np.histogram(v, bins=bins, range=(0.0, 1.0))
    return {f"hist_{i}_of_{bins}": float(c) / max(v.size, 1) for i, c in enumerate(counts)}


def ranked_features(values: ArrayLike, length: int) -> dict[str, float]:
    """``rank_<i>_of_<length>``: the values sorted from highest to lowest, resampled to ``length`` entries.

    The HER2 study's slide vector was the vector of its patch predictions; slides have
    different numbers of patches, so the sorted vector is read at ``length`` evenly spaced
    ranks (linear interpolation; the first entry is the highest value, the last the lowest).
    """
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    if v.size == 0:
        ranked = np.zeros(length)
    elif v.size == 1 or length == 1:
        ranked = np.full(length, v[0])  # one value everywhere, or the highest alone
    else:
        ranked = np.interp(np.linspace(0, v.size - 1, length), np.arange(v.size), v)
    return {f"rank_{i}_of_{length}": float(x) for i, x in enumerate(ranked)}

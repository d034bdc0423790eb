"""Slide features from a tumour heatmap: HeLP 2019's set and patch-probability aggregates.

HeLP's winner summarised each heatmap at several scales and thresholds. At each
scale (the heatmap block-averaged to ``1/k`` of its pixels, so each side
shrinks by ``sqrt(k)``) and threshold: the largest tumour major axis over
connected components (micrometres) and the tumour ratio (tumour pixels over
tissue pixels); at each scale the max, mean and std of the probabilities over
tissue. The HER2 study's slide vector adds quantiles and a histogram of the
tissue's probabilities. Feature names are stable strings: slide models are
saved with them and refuse features computed differently.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from algorithm.configs import config_values
from algorithm.errors import ConfigError
from algorithm.features.axis import MajorAxis, major_axis
from algorithm.features.distribution import histogram_features, quantile_features
from algorithm.segmentation.heatmap import Heatmap

_AXIS_FEATURE = re.compile(r"^s(\d+)_t([0-9.eE+-]+)_major_axis_um$")


def axis_feature_name(scale: int, threshold: float) -> str:
    """The stable name of the major-axis feature at ``scale`` and ``threshold`` (``parse_axis_feature`` reads it)."""
    return f"s{scale}_t{threshold:g}_major_axis_um"


def parse_axis_feature(name: str) -> tuple[int, float] | None:
    """(scale, threshold) of a major-axis feature's name, or None for other features."""
    match = _AXIS_FEATURE.match(name)
    return (int(match.group(1)), float(match.group(2))) if match else None


@dataclass(frozen=True)
class FeatureConfig:
    """Which scales, thresholds, quantiles and histogram bins the feature vector has; checked when built."""

    scales: tuple[int, ...] = (4, 16, 64, 256)  # 1/k of the heatmap's pixels (k a power of 4)
    thresholds: tuple[float, ...] = (0.2, 0.5, 0.9)
    quantiles: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95, 0.99)
    histogram_bins: int = 10

    def __post_init__(self) -> None:
        for k in self.scales:
            side = math.isqrt(k)
            if k < 1 or side * side != k:
                raise ConfigError(f"feature scale {k} must be a square (1, 4, 16, 64, 256, ...)")
        if any(not 0 < t < 1 for t in self.thresholds):
            raise ConfigError(f"feature thresholds must lie in (0, 1), got {self.thresholds}")
        if any(not 0 <= q <= 1 for q in self.quantiles) or self.histogram_bins < 1:
            raise ConfigError("feature quantiles must lie in [0, 1] and the histogram needs at least one bin")
        names = self.names()
        if len(set(names)) != len(names):
            raise ConfigError(
                f"feature configuration gives repeated feature names (scales {self.scales}, "
                f"thresholds {self.thresholds}, quantiles {self.quantiles})"
            )

    def names(self) -> list[str]:
        """The feature names in vector order: what a slide model is trained on and checked against."""
        names = []
        for k in self.scales:
            for t in self.thresholds:
                names += [axis_feature_name(k, t), f"s{k}_t{t:g}_tumour_ratio"]
            names += [f"s{k}_max", f"s{k}_mean", f"s{k}_std"]
        names += [f"q{q:g}" for q in self.quantiles]
        names += [f"hist_{i}_of_{self.histogram_bins}" for i in range(self.histogram_bins)]
        names += ["tissue_mm2"]
        return names

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (tuples as lists), as slide models save it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "features") -> FeatureConfig:
        """The configuration :meth:`to_dict` wrote (lists back to tuples); unknown keys are errors naming ``source``."""
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in config_values(cls, data, source).items()
        }
        return cls(**values)


def block_mean(image: NDArray[np.floating[Any] | np.bool_], factor: int) -> NDArray[np.float32]:
    """Average ``factor`` x ``factor`` blocks (edges padded with zeros)."""
    if factor == 1:
        return image.astype(np.float32)
    h, w = image.shape
    ph, pw = -h % factor, -w % factor
    padded = np.pad(image.astype(np.float32), ((0, ph), (0, pw)))
    return padded.reshape((h + ph) // factor, factor, (w + pw) // factor, factor).mean(axis=(1, 3))


def heatmap_features(heatmap: Heatmap, config: FeatureConfig = FeatureConfig()) -> dict[str, float]:
    """The feature vector of one heatmap, in ``config.names()`` order."""
    features: dict[str, float] = {}
    for k in config.scales:
        side = math.isqrt(k)
        probability = block_mean(heatmap.probability, side)
        tissue = block_mean(heatmap.tissue, side) >= 0.5
        tissue_pixels = max(int(tissue.sum()), 1)
        um_per_pixel = heatmap.mpp * side
        for t in config.thresholds:
            tumour = probability >= t
            features[axis_feature_name(k, t)] = major_axis(tumour).length_px * um_per_pixel
            features[f"s{k}_t{t:g}_tumour_ratio"] = float((tumour & tissue).sum()) / tissue_pixels
        values = probability[tissue]
        features[f"s{k}_max"] = float(values.max()) if values.size else 0.0
        features[f"s{k}_mean"] = float(values.mean()) if values.size else 0.0
        features[f"s{k}_std"] = float(values.std()) if values.size else 0.0
    values = heatmap.probability[heatmap.tissue].astype(np.float64)
    features.update(quantile_features(values, config.quantiles))
    features.update(histogram_features(values, config.histogram_bins))
    features["tissue_mm2"] = float(heatmap.tissue.sum()) * (heatmap.mpp / 1000.0) ** 2
    return {name: features[name] for name in config.names()}


def heatmap_axis(heatmap: Heatmap, threshold: float = 0.5, scale: int = 1) -> MajorAxis:
    """The longest tumour major axis at one scale and threshold, endpoints in level-0 pixels."""
    side = math.isqrt(scale)
    axis = major_axis(block_mean(heatmap.probability, side) >= threshold)
    factor = heatmap.downsample * side
    return MajorAxis(axis.length_px * factor, axis.endpoints * factor)

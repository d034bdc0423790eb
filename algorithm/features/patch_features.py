"""Slide features from patch probabilities: the HER2 study's slide vector.

The study's slide-level SVM read the vector of its patch predictions. A slide has
as many patches as it has usable tissue, so the vector is made fixed-length: the
probabilities ranked from highest to lowest and read at evenly spaced ranks,
beside the quantiles and histogram the heatmap features use and the patch count.
Feature names are stable strings: label models are saved with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from algorithm.configs import config_values
from algorithm.errors import ConfigError
from algorithm.features.distribution import histogram_features, quantile_features, ranked_features


@dataclass(frozen=True)
class PatchFeatureConfig:
    """The ranked vector's length, the quantiles and the histogram's bins; checked when built."""

    ranks: int = 16
    quantiles: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
    histogram_bins: int = 10

    def __post_init__(self) -> None:
        if self.ranks < 1 or self.histogram_bins < 1:
            raise ConfigError("patch features need at least one rank and one histogram bin")
        if any(not 0 <= q <= 1 for q in self.quantiles) or len(set(self.quantiles)) != len(self.quantiles):
            raise ConfigError(f"patch feature quantiles must be distinct and lie in [0, 1], got {self.quantiles}")

    def names(self) -> list[str]:
        """The feature names in vector order: what a label model is trained on and checked against."""
        return [
            *(f"rank_{i}_of_{self.ranks}" for i in range(self.ranks)),
            *(f"q{q:g}" for q in self.quantiles),
            *(f"hist_{i}_of_{self.histogram_bins}" for i in range(self.histogram_bins)),
            "mean",
            "patches",
        ]

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "patch features") -> PatchFeatureConfig:
        """The configuration :meth:`to_dict` wrote; unknown keys are errors naming ``source``."""
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in config_values(cls, data, source).items()
        }
        return cls(**values)


def patch_features(probabilities: ArrayLike, config: PatchFeatureConfig = PatchFeatureConfig()) -> dict[str, float]:
    """The feature vector of one slide's patch probabilities, in ``config.names()`` order."""
    values = np.asarray(probabilities, dtype=np.float64).ravel()
    features = {
        **ranked_features(values, config.ranks),
        **quantile_features(values, config.quantiles),
        **histogram_features(values, config.histogram_bins),
        "mean": float(values.mean()) if values.size else 0.0,
        "patches": float(values.size),
    }
    return {name: features[name] for name in config.names()}

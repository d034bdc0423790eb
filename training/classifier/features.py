"""The feature table of a folder of heatmaps, with labels from a CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from algorithm.features import FeatureConfig, heatmap_features
from algorithm.segmentation.files import read_heatmap_tiff
from training.datasets.tumour import read_labels_csv

HEATMAP_SUFFIX = ".heatmap.tiff"


@dataclass
class FeatureTable:
    """One row of features per slide, with the truths the slide models are fitted to."""

    slides: list[str]
    names: list[str]
    X: NDArray[np.float64]  # noqa: N815 - (slides, features)
    labels: NDArray[np.int64]  # 1 tumour, 0 normal
    axes_um: NDArray[np.float64]  # truth major axis; NaN where unknown


def feature_table(heatmaps: Path, labels_csv: Path, config: FeatureConfig) -> FeatureTable:
    """Features of ``<slide>.heatmap.tiff`` in ``heatmaps`` for every slide named in ``labels_csv``."""
    labels = read_labels_csv(labels_csv)
    if not heatmaps.is_dir():
        raise ConfigError(f"{heatmaps}: heatmap folder not found")
    missing = [name for name in labels if not (heatmaps / f"{name}{HEATMAP_SUFFIX}").is_file()]
    if missing:
        raise ConfigError(
            f"{heatmaps}: no heatmap for {len(missing)} slides of {labels_csv} "
            f"(e.g. {missing[0]}{HEATMAP_SUFFIX}); make them with python -m training heatmaps"
        )
    names = config.names()
    rows, y, axes = [], [], []
    for slide, (label, axis) in labels.items():
        features = heatmap_features(read_heatmap_tiff(heatmaps / f"{slide}{HEATMAP_SUFFIX}"), config)
        rows.append([features[n] for n in names])
        y.append(label)
        axes.append(np.nan if axis is None else axis)
    return FeatureTable(list(labels), names, np.array(rows), np.array(y, dtype=np.int64), np.array(axes))

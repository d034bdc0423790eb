"""Slide features: what the slide models see of a heatmap."""

from algorithm.features.axis import MajorAxis, major_axis
from algorithm.features.heatmap_features import (
    FeatureConfig,
    axis_feature_name,
    heatmap_axis,
    heatmap_features,
    parse_axis_feature,
)

__all__ = [
    "FeatureConfig",
    "MajorAxis",
    "axis_feature_name",
    "heatmap_axis",
    "heatmap_features",
    "major_axis",
    "parse_axis_feature",
]

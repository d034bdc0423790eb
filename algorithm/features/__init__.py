"""Slide features: what the slide models see of a heatmap or of a slide's patch probabilities."""

from algorithm.features.axis import MajorAxis, major_axis
from algorithm.features.heatmap_features import (
    FeatureConfig,
    axis_feature_name,
    heatmap_axis,
    heatmap_features,
    parse_axis_feature,
)
from algorithm.features.patch_features import PatchFeatureConfig, patch_features

__all__ = [
    "FeatureConfig",
    "MajorAxis",
    "PatchFeatureConfig",
    "axis_feature_name",
    "heatmap_axis",
    "heatmap_features",
    "major_axis",
    "parse_axis_feature",
    "patch_features",
]

"""Tumour segmentation: tile-wise probabilities stitched into a whole-slide heatmap."""

from algorithm.segmentation.heatmap import Heatmap, HeatmapStitcher
from algorithm.segmentation.slide import SegmentationOptions, SlideHeatmap, segment_slide, segmentation_grid

__all__ = ["Heatmap", "HeatmapStitcher", "SegmentationOptions", "SlideHeatmap", "segment_slide", "segmentation_grid"]

"""Slide-level tumour assessment: heatmap -> features -> slide models -> major axis line.

The heatmap comes from the segmenter over tissue tiles (the same tile stream
as detection). HeLP's features summarise it; the slide model turns them into
a tumour probability and a major-axis length. The line drawn for the axis is
the measured one (the feature the axis model was built on), rescaled about its
midpoint to the predicted length, so the line and the number agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.classify import SlideModel, SlidePrediction
from algorithm.features import heatmap_axis, heatmap_features, parse_axis_feature
from algorithm.features.axis import rescaled
from algorithm.interface.annotations import distance_measurement
from algorithm.models.segmenter import SegmenterConfig
from algorithm.segmentation import SegmentationOptions, SlideHeatmap, segment_slide, segmentation_grid
from algorithm.segmentation.files import heatmap_mha_bytes
from algorithm.slide import units
from algorithm.slide.base import SlideReader
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tissue import TissueMask


@dataclass
class TumourAssessment:
    """A slide's tumour results: the heatmap and, with a slide model, the call and the major axis line."""

    heatmap: SlideHeatmap
    prediction: SlidePrediction | None  # None without a slide model (heatmap only)
    axis_line_px: NDArray[np.float64]  # (2, 2) level-0 endpoints of the drawn major axis

    def results(self, mpp: tuple[float, float]) -> dict[str, Any]:
        """The task results this assessment provides (see ``interface.tasks.RESULTS``)."""
        results: dict[str, Any] = {"tumour_heatmap": heatmap_mha_bytes(self.heatmap.heatmap, mpp)}
        if self.prediction is not None:
            start, end = units.pixels_to_mm(self.axis_line_px, mpp)
            results.update(
                {
                    "tumour_probability": self.prediction.tumour_probability,
                    "tumour_major_axis_um": self.prediction.major_axis_um,
                    "tumour_major_axis_line": distance_measurement(start, end),
                }
            )
        return results

    def summary(self) -> str:
        """One log line: the heatmap's summary and, with a slide model, the call."""
        if self.prediction is None:
            return self.heatmap.summary()
        p = self.prediction
        call = f"tumour (major axis {p.major_axis_um:.0f} um)" if p.is_tumour else "normal"
        return f"{self.heatmap.summary()}; tumour probability {p.tumour_probability:.3f}: {call}"


def axis_line(
    model: SlideModel, slide_heatmap: SlideHeatmap, prediction: SlidePrediction, mpp: tuple[float, float]
) -> NDArray[np.float64]:
    """The major axis line to draw: the measured axis the model refines, rescaled to the predicted length."""
    scale, threshold = parse_axis_feature(model.axis_feature) or (1, 0.5)
    measured = heatmap_axis(slide_heatmap.heatmap, threshold, scale)
    length_px = units.um_to_pixels(prediction.major_axis_um, mpp)
    return rescaled(measured, length_px).endpoints


def tumour_heatmap(
    slide: SlideReader,
    mask: TissueMask,
    segmenter: torch.nn.Module,
    config: SegmenterConfig,
    stain: StainSpec | None,
    device: torch.device,
    options: SegmentationOptions = SegmentationOptions(),
) -> SlideHeatmap:
    """The slide's heatmap as the container makes it: tissue grid, stain normalisation fitted to this
    slide (spec ``stain`` from the segmenter's checkpoint), segmenter, stitching."""
    grid = segmentation_grid(slide, config, options, mask)
    transform = slide_normaliser(stain, slide, mask, grid.level, pixels=grid.pixels)
    return segment_slide(slide, segmenter, config, options, device, transform, mask, grid)


def assess_tumour(
    slide: SlideReader,
    mask: TissueMask,
    segmenter: torch.nn.Module,
    config: SegmenterConfig,
    stain: StainSpec | None,
    slide_model: SlideModel | None,
    device: torch.device,
    options: SegmentationOptions = SegmentationOptions(),
) -> TumourAssessment:
    """The tumour task on one slide: heatmap, then (with a slide model) features, call and major axis line."""
    found = tumour_heatmap(slide, mask, segmenter, config, stain, device, options)
    if slide_model is None:
        return TumourAssessment(found, None, np.zeros((2, 2)))
    prediction = slide_model.predict(heatmap_features(found.heatmap, slide_model.features))
    return TumourAssessment(found, prediction, axis_line(slide_model, found, prediction, slide.mpp))

"""Heatmap IoU against truth masks, on whole slides run as the container runs them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from algorithm.engine.models import set_training
from algorithm.models.segmenter import SegmenterConfig
from algorithm.segmentation import Heatmap, SegmentationOptions
from algorithm.segmentation.heatmap import mask_on_grid
from algorithm.slide import open_slide
from algorithm.stain.spec import StainSpec
from algorithm.tissue import tissue_mask
from algorithm.tumour import tumour_heatmap
from training.datasets.tumour import TumourSlide


@dataclass
class IoUScore:
    """Tumour IoU pooled over slides, with each slide's own intersection and union."""

    intersection: int = 0
    union: int = 0
    per_slide: list[dict] = field(default_factory=list)

    @property
    def iou(self) -> float:
        """Pooled over slides (normal slides add their false positives to the union)."""
        return self.intersection / self.union if self.union else 1.0

    @property
    def mean_tumour_iou(self) -> float | None:
        """Mean over tumour slides of each slide's IoU (None without tumour slides)."""
        values = [s["iou"] for s in self.per_slide if s["label"] == 1]
        return float(np.mean(values)) if values else None

    def as_dict(self) -> dict:
        """The scores and per-slide figures as plain JSON types, for checkpoints and reports."""
        return {"iou": self.iou, "mean_tumour_iou": self.mean_tumour_iou, "slides": self.per_slide}


def truth_on_heatmap(slide: TumourSlide, heatmap: Heatmap) -> np.ndarray:
    """The slide's tumour mask resampled onto the heatmap's grid, to compare pixel for pixel."""
    return mask_on_grid(slide.mask, slide.mask_downsample, heatmap.shape, heatmap.downsample)


def score_heatmap(score: IoUScore, slide: TumourSlide, heatmap: Heatmap, threshold: float = 0.5) -> None:
    """Add one slide's heatmap, thresholded at ``threshold``, to ``score``."""
    predicted = heatmap.probability >= threshold
    truth = truth_on_heatmap(slide, heatmap)
    intersection, union = int((predicted & truth).sum()), int((predicted | truth).sum())
    score.intersection += intersection
    score.union += union
    score.per_slide.append(
        {
            "slide": slide.name,
            "domain": slide.domain,
            "label": slide.label,
            "iou": intersection / union if union else 1.0,
        }
    )


def heatmaps_of(
    slides: list[TumourSlide],
    model: torch.nn.Module,
    config: SegmenterConfig,
    device: torch.device,
    stain: StainSpec | None = None,
    options: SegmentationOptions = SegmentationOptions(),
) -> Iterator[tuple[TumourSlide, Heatmap]]:
    """Yield ``(slide, heatmap)`` for each slide, made by the container's own code
    (``algorithm.tumour.tumour_heatmap``) with the stain spec ``stain``."""
    was_training = model.training
    set_training(model, False)  # a participant's exported network keeps its own mode
    try:
        for item in slides:
            with open_slide(item.path) as reader:
                yield item, tumour_heatmap(reader, tissue_mask(reader), model, config, stain, device, options).heatmap
    finally:
        set_training(model, was_training)


def validate(
    slides: list[TumourSlide],
    model: torch.nn.Module,
    config: SegmenterConfig,
    device: torch.device,
    stain: StainSpec | None = None,
) -> IoUScore:
    """The pooled tumour IoU of the model's heatmaps, made by the container's own code, on these slides."""
    score = IoUScore()
    for item, heatmap in heatmaps_of(slides, model, config, device, stain):
        score_heatmap(score, item, heatmap)
    return score

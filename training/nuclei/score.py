"""Scoring a nuclei model on held-out images through the container's own inference.

Each image's mask is predicted exactly as ``python -m algorithm --task nuclei``
predicts it (the same reader, tiles, normalisation, blending and threshold,
the mask on the image's grid) and compared with the truth pixel by pixel:
IoU and Dice per image and pooled over all images' pixels (the thesis's
figures), and nuclei counted as connected components on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from training.datasets.pictures import open_image
from training.nuclei.data import NucleiPair, read_mask


@dataclass(frozen=True)
class NucleiScore:
    """Pixel counts of one image (or pooled), and the nuclei counted on each side."""

    name: str
    tp: int
    fp: int
    fn: int
    instances: int  # connected components in the prediction
    true_instances: int  # ... and in the truth

    @property
    def iou(self) -> float:
        """Intersection over union of the foreground (1.0 when both are empty)."""
        union = self.tp + self.fp + self.fn
        return self.tp / union if union else 1.0

    @property
    def dice(self) -> float:
        """Dice (F1) of the foreground (1.0 when both are empty)."""
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else 1.0

    def as_dict(self) -> dict[str, Any]:
        """JSON values: the counts, IoU and Dice."""
        return {
            "image": self.name,
            "iou": round(self.iou, 4),
            "dice": round(self.dice, 4),
            "instances": self.instances,
            "true_instances": self.true_instances,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }

    def line(self) -> str:
        """One line for the console."""
        return (
            f"{self.name}: IoU {self.iou:.3f}, Dice {self.dice:.3f}, "
            f"{self.instances} nuclei found, {self.true_instances} in the truth"
        )


def compare(name: str, predicted: NDArray[np.bool_], truth: NDArray[np.bool_]) -> NucleiScore:
    """The score of one predicted mask against its truth (same grid)."""
    if predicted.shape != truth.shape:
        raise ValueError(f"{name}: prediction {predicted.shape} and truth {truth.shape} differ in shape")
    return NucleiScore(
        name,
        tp=int(np.count_nonzero(predicted & truth)),
        fp=int(np.count_nonzero(predicted & ~truth)),
        fn=int(np.count_nonzero(~predicted & truth)),
        instances=int(ndimage.label(predicted)[1]),
        true_instances=int(ndimage.label(truth)[1]),
    )


def pooled(scores: list[NucleiScore]) -> NucleiScore:
    """All images' pixels together (and their nuclei counts summed)."""
    return NucleiScore(
        "pooled",
        tp=sum(s.tp for s in scores),
        fp=sum(s.fp for s in scores),
        fn=sum(s.fn for s in scores),
        instances=sum(s.instances for s in scores),
        true_instances=sum(s.true_instances for s in scores),
    )


def score_model(model: Path, pairs: list[NucleiPair], image_mpp: float, work: Path, device: str) -> list[NucleiScore]:
    """Each pair's score for the checkpoint ``model``, predicted as the container predicts (its defaults)."""
    import torch

    from algorithm.models import load_nuclei_segmenter
    from algorithm.nuclei import DEFAULT_THRESHOLD, segment_nuclei
    from algorithm.tissue import tissue_mask

    net, config, checkpoint = load_nuclei_segmenter(model, device)
    threshold = float(checkpoint.get("threshold", DEFAULT_THRESHOLD))
    scores = []
    for pair in pairs:
        with open_image(pair.image, image_mpp, work) as slide:
            found = segment_nuclei(
                slide, tissue_mask(slide), net, config, checkpoint.get("stain"), torch.device(device), threshold
            )
        if found.downsample != 1:
            raise ValueError(f"{pair.image}: too large to score on its own grid")
        scores.append(compare(pair.name, found.mask.astype(bool), read_mask(pair.mask)))
    return scores

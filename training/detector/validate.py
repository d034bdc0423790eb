"""Validation F1 at MIDOG's radius, scored exactly as MIDOG's evaluation does.

Each slide is run through the same whole-slide detection as the container; the
matching is grand-challenge-metrics' ``score_detection`` (evalutils' scorer),
counts summed over slides before F1 (micro-average).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from grand_challenge_metrics.scorers import score_detection

from algorithm.detection.slide import DetectionOptions, SlideDetections, slide_detections
from algorithm.models.detector import DetectorConfig
from algorithm.slide import open_slide
from algorithm.stain.spec import StainSpec
from algorithm.tissue import tissue_mask
from training.datasets.annotations import MITOSIS, SlideAnnotations

MIDOG_RADIUS_UM = 7.5


@dataclass
class DetectionScore:
    """Detection counts summed over slides (MIDOG's way: F1 of the sums), with each slide's own."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_slide: list[dict] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 0 when nothing was detected."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); 1 when there was nothing to find and nothing was found."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 1.0

    def as_dict(self) -> dict:
        """The summed counts and scores as plain JSON types, for checkpoints and reports."""
        return {
            "f1": self.f1,
            "precision": self.precision,
            "recall": self.recall,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def score_points(
    truth_um: np.ndarray, predicted_um: np.ndarray, radius_um: float = MIDOG_RADIUS_UM
) -> tuple[int, int, int]:
    """TP, FP, FN of one slide's points, matched as MIDOG's evaluation matches them (evalutils' scorer)."""
    result = score_detection(
        ground_truth=[tuple(p) for p in truth_um], predictions=[tuple(p) for p in predicted_um], radius=radius_um
    )
    return result.true_positives, result.false_positives, result.false_negatives


def score_slides(
    detections: list[SlideDetections],
    truths: list[SlideAnnotations],
    threshold: float,
    radius_um: float = MIDOG_RADIUS_UM,
) -> DetectionScore:
    """The summed counts of every slide's detections at or above ``threshold`` against its truth."""
    total = DetectionScore()
    for found, truth in zip(detections, truths, strict=True):
        c = found.candidates
        chosen = c.points[(c.labels == MITOSIS) & (c.scores >= threshold)]
        tp, fp, fn = score_points(truth.mitoses * found.mpp, chosen * found.mpp, radius_um)
        total.tp, total.fp, total.fn = total.tp + tp, total.fp + fp, total.fn + fn
        total.per_slide.append({"slide": truth.file_name, "domain": truth.domain, "tp": tp, "fp": fp, "fn": fn})
    return total


def detect_validation_slides(
    model: torch.nn.Module,
    config: DetectorConfig,
    slides: list[SlideAnnotations],
    device: torch.device | str = "cpu",
    stain: StainSpec | None = None,
    options: DetectionOptions = DetectionOptions(),
) -> list[SlideDetections]:
    """Each slide detected by the container's own code (``slide_detections``) with the stain spec ``stain``."""
    was_training = model.training
    model.eval()
    results = []
    try:
        for ann in slides:
            with open_slide(ann.slide_path) as slide:
                results.append(slide_detections(slide, tissue_mask(slide), model, config, stain, device, options))
    finally:
        model.train(was_training)
    return results


def best_threshold(detections: list[SlideDetections], truths: list[SlideAnnotations]) -> tuple[float, DetectionScore]:
    """The decision threshold with the highest F1 on these slides (0.05 steps)."""
    best = (0.5, score_slides(detections, truths, 0.5))
    for threshold in np.arange(0.1, 0.951, 0.05):
        score = score_slides(detections, truths, float(threshold))
        if score.f1 > best[1].f1:
            best = (round(float(threshold), 2), score)
    return best

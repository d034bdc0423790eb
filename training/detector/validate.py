"""Validation F1 at MIDOG's radius, scored exactly as MIDOG's evaluation does.

Each slide is run through the same whole-slide detection as the container; the
matching is grand-challenge-metrics' ``score_detection`` (evalutils' scorer),
counts summed over slides before F1 (micro-average).

Synthetic slides are dense (the recipe's hold about 80 figures per mm^2 of
tissue; real tumours 3-5), and precision at the density a slide happens to
have says little about precision in a real one: false positives scale with
tissue area, true ones with the density. Given a density, each true figure
(hit or missed) is weighted by ``density / the slides' own density``, so
precision and F1 are those the same detector would have at that density, and
the threshold is chosen there. Per-scanner scores are weighted by each
scanner's own density.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from grand_challenge_metrics.scorers import score_detection

from algorithm.detection.slide import DetectionOptions, SlideDetections, slide_detections
from algorithm.engine.models import set_training
from algorithm.models.detector import DetectorConfig
from algorithm.slide import open_slide, units
from algorithm.slide.base import SlideReader
from algorithm.stain.spec import StainSpec
from algorithm.tissue import TissueMask, tissue_mask
from training.datasets.annotations import MITOSIS, SlideAnnotations

MIDOG_RADIUS_UM = 7.5


@dataclass
class DetectionScore:
    """Detection counts summed over slides (MIDOG's way: F1 of the sums), with each slide's own."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_slide: list[dict] = field(default_factory=list)
    weight: float = 1.0  # what each true figure (TP, FN) counts for: the scores at another mitotic density

    @property
    def precision(self) -> float:
        """TP / (TP + FP), true figures weighted; 0 when nothing was detected."""
        tp = self.weight * self.tp
        return tp / (tp + self.fp) if tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN), true figures weighted; 1 when there was nothing to find and nothing was found."""
        tp, fn = self.weight * self.tp, self.weight * self.fn
        return 2 * tp / (2 * tp + self.fp + fn) if tp + self.fp + fn else 1.0

    def as_dict(self) -> dict:
        """The summed counts and scores as plain JSON types, for checkpoints and reports (the weight when not 1)."""
        out = {
            "f1": self.f1,
            "precision": self.precision,
            "recall": self.recall,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }
        if self.weight != 1.0:
            out["weight"] = self.weight
        return out


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
    weight: float = 1.0,
) -> DetectionScore:
    """The summed counts of every slide's detections at or above ``threshold`` against its truth; ``weight``:
    what each true figure counts for in the scores (see :func:`density_weight`)."""
    total = DetectionScore(weight=weight)
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
    set_training(model, False)  # a participant's exported network keeps its own mode
    results = []
    try:
        for ann in slides:
            with open_slide(ann.slide_path) as slide:
                results.append(slide_detections(slide, tissue_mask(slide), model, config, stain, device, options))
    finally:
        set_training(model, was_training)
    return results


def best_threshold(
    detections: list[SlideDetections], truths: list[SlideAnnotations], weight: float = 1.0
) -> tuple[float, DetectionScore]:
    """The decision threshold with the highest F1 on these slides (0.05 steps), true figures weighted by
    ``weight`` (the F1 at another density: :func:`density_weight`)."""
    best = (0.5, score_slides(detections, truths, 0.5, weight=weight))
    for threshold in np.arange(0.1, 0.951, 0.05):
        score = score_slides(detections, truths, float(threshold), weight=weight)
        if score.f1 > best[1].f1:
            best = (round(float(threshold), 2), score)
    return best


def validate_detector(
    model: torch.nn.Module,
    config: DetectorConfig,
    slides: list[SlideAnnotations],
    areas_mm2: list[float],
    density: float | None,
    device: torch.device | str = "cpu",
    stain: StainSpec | None = None,
) -> dict[str, Any]:
    """A detector's validation as a checkpoint records it: the threshold with the best F1 at ``density``
    (None: the slides' own), the scores there, and per domain."""
    found = detect_validation_slides(model, config, slides, device, stain)
    threshold, score = best_threshold(found, slides, density_weight(slides, areas_mm2, density))
    domains = domain_scores(found, slides, areas_mm2, threshold, density)
    return {"threshold": threshold, **score.as_dict(), "domains": domains}


def tissue_mm2(slide: SlideReader, mask: TissueMask) -> float:
    """The tissue area of ``mask`` (the kit's tissue mask of ``slide``) in square millimetres."""
    pixel_mm = units.pixels_to_mm((1.0, 1.0), slide.mpp)
    return mask.area_px() * float(pixel_mm[0] * pixel_mm[1])


def slides_tissue_mm2(slides: list[SlideAnnotations]) -> list[float]:
    """Each slide's tissue area in square millimetres, by the kit's own tissue mask (what the jobs analyse)."""
    areas = []
    for ann in slides:
        with open_slide(ann.slide_path) as slide:
            areas.append(tissue_mm2(slide, tissue_mask(slide)))
    return areas


def mitotic_density(truths: list[SlideAnnotations], areas_mm2: list[float]) -> float:
    """Mitotic figures per square millimetre of tissue over these slides (0 without tissue)."""
    area = sum(areas_mm2)
    return sum(len(t.mitoses) for t in truths) / area if area > 0 else 0.0


def validation_record(slides: list[SlideAnnotations], areas_mm2: list[float], density: float | None) -> dict:
    """What a checkpoint records of the slides its threshold was chosen on, and the density it was chosen at
    (``density``; None: the slides' own)."""
    own = mitotic_density(slides, areas_mm2)
    return {
        "slides": len(slides),
        "mitoses": sum(len(s.mitoses) for s in slides),
        "tissue_mm2": sum(areas_mm2),
        "annotated_density_per_mm2": own,
        "density_per_mm2": density or own,
    }


def density_weight(truths: list[SlideAnnotations], areas_mm2: list[float], density: float | None) -> float:
    """What each true figure of these slides counts for so their scores are those at ``density`` figures
    per mm^2 of tissue; 1 for None, or when the slides have no figures or no tissue."""
    own = mitotic_density(truths, areas_mm2)
    return density / own if density and own > 0 else 1.0


def domain_scores(
    detections: list[SlideDetections],
    truths: list[SlideAnnotations],
    areas_mm2: list[float],
    threshold: float,
    density: float | None = None,
    radius_um: float = MIDOG_RADIUS_UM,
    summary: Callable[[DetectionScore], dict[str, Any]] = DetectionScore.as_dict,
) -> dict[str, dict]:
    """Per domain (scanner): slides, own density, and the scores at ``threshold`` (at ``density`` if given),
    as ``summary`` puts them."""
    out: dict[str, dict] = {}
    for domain in sorted({str(t.domain) for t in truths}):
        keep = [k for k, t in enumerate(truths) if str(t.domain) == domain]
        found, truth, areas = [detections[k] for k in keep], [truths[k] for k in keep], [areas_mm2[k] for k in keep]
        score = score_slides(found, truth, threshold, radius_um, density_weight(truth, areas, density))
        out[domain] = {"slides": len(keep), "density_per_mm2": mitotic_density(truth, areas), **summary(score)}
    return out

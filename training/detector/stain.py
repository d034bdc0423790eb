"""Stain handling for the detector: per-slide normalisation and stain augmentation
(``training.stain``) wired to the detector's patches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.stain.spec import StainSpec
from training.detector.sampler import Patch
from training.stain import fit_target, target_augmentor


@dataclass
class StainSetup:
    """The stain target a detector is trained to (saved in its checkpoint) and the augmentation in its stains."""

    spec: StainSpec | None  # saved in the checkpoint as "stain"
    augment: Any  # PatchAugment | None


def stain_setup(
    method: str, target: Path | None, first_slide: Path, mpp: float, augment_sigma: float = 0.2
) -> StainSetup:
    """Fit the stain target (from ``target``, else the first training slide) and the matching augmentation.

    ``method`` "none" gives neither: the detector then sees the slides' own colours, as the job will.
    """
    if method == "none":
        return StainSetup(None, None)
    spec = fit_target(method, target, first_slide, mpp)
    augmentor = target_augmentor(method, spec, augment_sigma)
    if augmentor is None:
        return StainSetup(spec, None)

    def augment(patch: Patch, rng: np.random.Generator) -> Patch:
        # an array in, an array out: asarray only tells the type checker
        pixels = np.asarray(augmentor.augment(patch.pixels, rng))
        return Patch(pixels, patch.boxes, patch.labels, patch.slide, patch.domain)

    return StainSetup(spec, augment)

"""Stain handling while training the detector, matched to what the container does.

The target is fitted once (from an image, or from the first training slide's
tissue) and saved in the checkpoint; each training slide is normalised to it
with its own per-slide fit, exactly as ``python -m algorithm`` will normalise
a new slide. Stain augmentation then perturbs the normalised patches'
concentrations, so the model also tolerates what normalisation leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.normalise import slide_normaliser
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.stain import StainAugmentor, get_normaliser, sample_slide_pixels
from algorithm.tiling.stream import BatchTransform
from algorithm.tissue import tissue_mask
from training.detector.sampler import Patch, TransformFactory


@dataclass
class StainSetup:
    spec: dict[str, Any] | None  # saved in the checkpoint as "stain"
    transform_factory: TransformFactory | None
    augment: Any  # PatchAugment | None


def analysis_level(slide: SlideReader, mpp: float) -> int:
    return slide.best_level_for_downsample(mpp / float(np.mean(slide.mpp)))


def fit_target(method: str, target: Path | None, first_slide: Path, mpp: float) -> dict[str, Any]:
    normaliser = get_normaliser(method)
    if target is not None:
        try:
            pixels = np.asarray(Image.open(target).convert("RGB"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{target}: cannot read the stain target image ({exc})") from exc
    else:
        with open_slide(first_slide) as slide:
            pixels = sample_slide_pixels(slide, tissue_mask(slide), level=analysis_level(slide, mpp))
    normaliser.fit(pixels)
    spec = normaliser.params()
    spec.pop("source", None)
    return spec


def transform_factory(spec: dict[str, Any] | None, mpp: float) -> TransformFactory:
    """Each slide's normalisation to ``spec``, fitted at the level the model reads (identity if none)."""

    def factory(slide: SlideReader) -> BatchTransform:
        transform = slide_normaliser(spec, slide, tissue_mask(slide), analysis_level(slide, mpp))
        return transform if transform is not None else (lambda pixels: pixels)

    return factory


def stain_setup(method: str, target: Path | None, first_slide: Path, mpp: float,
                augment_sigma: float = 0.2) -> StainSetup:
    if method == "none":
        return StainSetup(None, None, None)
    spec = fit_target(method, target, first_slide, mpp)
    factory = transform_factory(spec, mpp)
    augment = None
    if augment_sigma > 0 and method in ("macenko", "vahadane"):
        augmentor = StainAugmentor(method, sigma1=augment_sigma, sigma2=augment_sigma, augment_background=False)
        augmentor.set_stain_matrix(np.asarray(spec["target"][0]))  # normalised patches are in the target's stains

        def augment(patch: Patch, rng: np.random.Generator) -> Patch:
            return Patch(augmentor.augment(patch.pixels, rng), patch.boxes, patch.labels, patch.slide, patch.domain)

    return StainSetup(spec, factory, augment)

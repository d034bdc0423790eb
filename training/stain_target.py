"""Stain normalisation while training, matched to what the container does.

The target is fitted once (from an image, or from the first training slide's
tissue) and saved in the checkpoint; each training slide is normalised to it
with its own per-slide fit, exactly as ``python -m algorithm`` will normalise
a new slide. Stain augmentation then perturbs the normalised patches'
concentrations, so models also tolerate what normalisation leaves. The
detector and the segmenter both use this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from algorithm.engine.run import TileTransform as BatchTransform
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.stain import StainAugmentor, get_normaliser, sample_slide_pixels
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.stain.target_image import read_target_image
from algorithm.tissue import TissueMask, tissue_mask

TransformFactory = Callable[[SlideReader], BatchTransform]


def fit_target(method: str, target: Path | None, first_slide: Path, mpp: float) -> StainSpec | None:
    """The stain target spec for ``method``: fitted to the target image, else to the first training slide;
    None for "none" (the model then sees the slides' own colours, as the job will).

    Saved in the checkpoint, so the job normalises every slide to the colours the model was trained on.
    """
    if method == "none":
        return None
    normaliser = get_normaliser(method)
    if target is not None:
        pixels = read_target_image(target)
    else:
        with open_slide(first_slide) as slide:
            pixels = sample_slide_pixels(slide, tissue_mask(slide), level=slide.level_for(mpp))
    return StainSpec.of(normaliser.fit(pixels))


def transform_factory(spec: StainSpec | None, mpp: float) -> TransformFactory:
    """Each slide's normalisation to ``spec``, fitted at the level the model reads (identity if none); on its
    tissue as a job's is (a crop of a few dozen microns included), on all of it where no tissue is found."""

    def factory(slide: SlideReader) -> BatchTransform:
        mask = tissue_mask(slide)
        if mask.is_empty:
            mask = TissueMask.whole(*slide.dimensions)
        normaliser = slide_normaliser(spec, slide, mask, slide.level_for(mpp))
        if normaliser is None:
            return lambda pixels: pixels

        def transform(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
            return normaliser(pixels)

        return transform

    return factory


def target_augmentor(method: str, spec: StainSpec | None, sigma: float) -> StainAugmentor | None:
    """Stain augmentation in the target's stains (what normalised patches are in); None if not applicable."""
    if spec is None or sigma <= 0 or method not in ("macenko", "vahadane"):
        return None
    augmentor = StainAugmentor(method, sigma1=sigma, sigma2=sigma, augment_background=False)
    augmentor.set_stain_matrix(spec.target[0])
    return augmentor


class _HasPixels(Protocol):
    pixels: NDArray[np.uint8]


P = TypeVar("P", bound=_HasPixels)


def stain_augment(method: str, spec: StainSpec | None, sigma: float) -> Callable[[P, np.random.Generator], P] | None:
    """Stain augmentation of a training patch (a dataclass with ``pixels``: the detector's or the
    segmenter's), in the target's stains; None when there is none to do."""
    augmentor = target_augmentor(method, spec, sigma)
    if augmentor is None:
        return None

    def augment(patch: P, rng: np.random.Generator) -> P:
        pixels = np.asarray(augmentor.augment(patch.pixels, rng))  # an array in, an array out
        return dataclasses.replace(patch, pixels=pixels)  # type: ignore[type-var]  # P is a dataclass

    return augment

"""Luminosity standardisation (StainTools' LuminosityStandardizer).

Scales the 8-bit L* channel so that its ``percentile`` (95) becomes white,
leaving a* and b* alone: slides scanned darker or brighter get a common
background level before stain normalisation. StainTools computes the
percentile per image; ``fit_source(pixels)`` fixes it once per slide instead,
so every tile of a slide gets the same scaling (and the fast table path). The
percentile is meant to land on glass: give ``fit_source`` all the pixels of a
slide view (a thumbnail, or whole tiles), not tissue-only samples.
"""

from __future__ import annotations

import numpy as np
import torch

from algorithm.stain.base import Normaliser, Params
from algorithm.stain.errors import StainFitError
from algorithm.stain.images import ImageLike, as_image_batch
from algorithm.stain.lab import lab8_to_rgb, rgb_to_lab8
from algorithm.stain.pixel_map import PixelMap


class LuminosityMap(PixelMap):
    """``L8 -> clip(255 * L8 / p, 0, 255)`` truncated, as StainTools does."""

    def __init__(self, p: float):
        self.gain = 255.0 / float(p)

    def apply(self, px: torch.Tensor) -> torch.Tensor:
        """L* scaled so that the percentile becomes white; a and b kept."""
        lab = rgb_to_lab8(px)
        lab[:, 0] = (lab[:, 0] * self.gain).clamp_(0.0, 255.0).floor_()
        return lab8_to_rgb(lab)


class LuminosityStandardiser(Normaliser):
    """``transform`` / ``standardise`` per image, or with ``fit_source`` per slide. No target needed."""

    method = "luminosity"

    def __init__(self, percentile: float = 95.0, use_lut: bool | None = None):
        super().__init__(use_lut, statistics="all")
        self.percentile = float(percentile)
        self._set_target(())  # nothing to learn from a target: the standard is "percentile -> white"

    def estimate(self, rgb: ImageLike, tissue_only: bool = False) -> Params:
        """The ``percentile`` of the 8-bit L* channel; StainFitError when it is 0 (black).

        Always over all the pixels: the percentile is meant to land on glass.
        """
        lab = rgb_to_lab8(as_image_batch(rgb).pixels)
        p = float(np.percentile(lab[:, 0].numpy(), self.percentile))
        if p < 1.0:
            raise StainFitError(f"luminosity standardiser: the {self.percentile:g}th-percentile L* is {p} (black)")
        return (np.array([p]),)

    def fit(self, target: ImageLike) -> LuminosityStandardiser:
        """Same as :meth:`fit_source` (the standard has no target)."""
        self.fit_source(target)
        return self

    def standardise(self, images: ImageLike) -> ImageLike:
        """Alias of :meth:`transform` with StainTools' verb."""
        return self.transform(images)

    def _make_map(self, source: Params, target: Params, device: torch.device) -> LuminosityMap:
        return LuminosityMap(float(source[0][0]))


def standardise_luminosity(images: ImageLike, percentile: float = 95.0) -> ImageLike:
    """StainTools' ``LuminosityStandardizer.standardize`` for each image (a new array)."""
    return LuminosityStandardiser(percentile).transform(images)

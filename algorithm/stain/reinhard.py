"""Reinhard colour transfer (Reinhard et al. 2001), StainTools' ReinhardColorNormalizer maths.

Each L*a*b* channel (OpenCV's 8-bit encoding, see :mod:`algorithm.stain.lab`)
is shifted and scaled so its mean and standard deviation become the target's.
Parameters are ``(means (3,), stds (3,))`` in StainTools' units (L in
[0, 100], a and b centred on 0), over all the pixels given (StainTools) or
the tissue pixels only (see ``statistics`` in :mod:`algorithm.stain.base`:
Reinhard's statistics depend strongly on how much glass is measured).
"""

from __future__ import annotations

import numpy as np
import torch

from algorithm.stain.base import Normaliser, Params
from algorithm.stain.errors import StainFitError
from algorithm.stain.extractor import DEFAULT_MIN_TISSUE_PIXELS
from algorithm.stain.images import ImageLike, as_image_batch
from algorithm.stain.lab import lab8_to_rgb, rgb_to_lab8
from algorithm.stain.optical_density import luminosity_tissue_mask
from algorithm.stain.pixel_map import PixelMap

# 8-bit Lab value = _SCALE * StainTools unit + _OFFSET
_SCALE = np.array([2.55, 1.0, 1.0])
_OFFSET = np.array([0.0, 128.0, 128.0])
MIN_STD = 1e-3  # a channel flatter than this cannot be rescaled


class ReinhardMap(PixelMap):
    """8-bit Lab affine per channel, then StainTools' clip-and-truncate and back to RGB."""

    def __init__(self, source: Params, target: Params, device: torch.device | str = "cpu"):
        (ms, ss), (mt, st) = source, target
        gain = np.asarray(st) / np.asarray(ss)
        # lab8' = (lab8 - 8bit(ms)) * gain + 8bit(mt)  ==  lab8 * gain + bias
        bias = _SCALE * np.asarray(mt) + _OFFSET - (_SCALE * np.asarray(ms) + _OFFSET) * gain
        self.gain = torch.as_tensor(gain, dtype=torch.float32, device=device)
        self.bias = torch.as_tensor(bias, dtype=torch.float32, device=device)

    def apply(self, px: torch.Tensor) -> torch.Tensor:
        """Each Lab channel scaled and shifted to the target statistics (8-bit Lab, as StainTools)."""
        lab = rgb_to_lab8(px).mul_(self.gain).add_(self.bias)
        return lab8_to_rgb(lab.clamp_(0.0, 255.0).floor_())


class ReinhardNormaliser(Normaliser):
    """Reinhard normaliser with the same fit / fit_source / transform API as the stain normalisers."""

    method = "reinhard"

    def __init__(
        self,
        luminosity_threshold: float = 0.8,
        min_tissue_pixels: int = DEFAULT_MIN_TISSUE_PIXELS,
        use_lut: bool | None = None,
        statistics: str = "auto",
    ):
        super().__init__(use_lut, statistics)
        self.luminosity_threshold = float(luminosity_threshold)
        self.min_tissue_pixels = int(min_tissue_pixels)

    def estimate(self, rgb: ImageLike, tissue_only: bool = False) -> Params:
        """L*a*b* means and (population) standard deviations; StainFitError if too little tissue."""
        px = as_image_batch(rgb).pixels
        tissue = luminosity_tissue_mask(px, self.luminosity_threshold)
        n_tissue = int(tissue.sum())
        if n_tissue < self.min_tissue_pixels:
            raise StainFitError(
                f"reinhard fit: found {n_tissue} tissue pixels (luminosity < {self.luminosity_threshold}), "
                f"need at least {self.min_tissue_pixels}"
            )
        if tissue_only:
            px = px[tissue]
        lab = rgb_to_lab8(px).double()
        values = (lab - torch.as_tensor(_OFFSET)) / torch.as_tensor(_SCALE)
        means = values.mean(0).numpy()
        stds = values.std(0, correction=0).numpy()
        if not np.all(stds > MIN_STD):
            raise StainFitError(f"reinhard fit: a L*a*b* channel is flat (stds {np.round(stds, 5).tolist()})")
        return means, stds

    def set_target(self, means: np.ndarray, stds: np.ndarray) -> None:
        """Set the target statistics directly (StainTools units), for both modes."""
        self._set_target((np.asarray(means, np.float64).reshape(3), np.asarray(stds, np.float64).reshape(3)))

    def _make_map(self, source: Params, target: Params, device: torch.device) -> ReinhardMap:
        return ReinhardMap(source, target, device)

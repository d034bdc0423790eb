"""What every stain-matrix extractor shares: tissue selection, H/E order, checks.

An extractor turns uint8 RGB (an image ``(H, W, 3)`` or sampled pixels
``(N, 3)``) into a ``(2, 3)`` float64 stain matrix: haematoxylin's unit OD
vector in row 0, eosin's in row 1 (the row with the larger red OD is H, as in
StainTools). Too little tissue, or colours that do not span two stains, raise
:class:`~algorithm.stain.errors.StainFitError` rather than returning NaN.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from algorithm.stain.errors import StainFitError
from algorithm.stain.optical_density import as_pixels, rgb_to_od, tissue_pixels

DEFAULT_MIN_TISSUE_PIXELS = 1000
# Two stain vectors closer than this are one colour: no H/E separation possible.
MIN_STAIN_ANGLE_DEG = 1.0


def angle_between_deg(u: np.ndarray, v: np.ndarray) -> float:
    """Angle in degrees between two vectors (0 for parallel)."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        return 0.0
    c = float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))
    return math.degrees(math.acos(c))


def order_and_normalise(matrix: np.ndarray) -> np.ndarray:
    """H first (larger red OD), rows scaled to unit length, validated."""
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    if m[0, 0] < m[1, 0]:
        m = m[[1, 0]]
    norms = np.linalg.norm(m, axis=1)
    if not np.all(np.isfinite(m)) or np.any(norms <= 1e-12):
        raise StainFitError("stain fit failed: a stain vector is zero or not finite (colours too uniform)")
    m = m / norms[:, None]
    angle = angle_between_deg(m[0], m[1])
    if angle < MIN_STAIN_ANGLE_DEG:
        raise StainFitError(
            f"stain fit failed: the two stain vectors are {angle:.2f} degrees apart "
            f"(need >= {MIN_STAIN_ANGLE_DEG}); the tissue shows a single colour"
        )
    return m


class StainExtractor(ABC):
    """Base class: selects tissue pixels, then :meth:`_fit_od` finds the matrix."""

    name = "base"

    def __init__(self, luminosity_threshold: float = 0.8, min_tissue_pixels: int = DEFAULT_MIN_TISSUE_PIXELS):
        self.luminosity_threshold = float(luminosity_threshold)
        self.min_tissue_pixels = int(min_tissue_pixels)

    def tissue_od(self, rgb: np.ndarray) -> np.ndarray:
        """OD ``(N, 3)`` float64 of the tissue pixels, or StainFitError when too few."""
        px = tissue_pixels(as_pixels(rgb), self.luminosity_threshold)
        if len(px) < self.min_tissue_pixels:
            raise StainFitError(
                f"{self.name} stain fit: found {len(px)} tissue pixels (luminosity < "
                f"{self.luminosity_threshold}), need at least {self.min_tissue_pixels}"
            )
        return rgb_to_od(px)

    def get_stain_matrix(self, rgb: np.ndarray) -> np.ndarray:
        """The ``(2, 3)`` stain matrix (H row, E row) of uint8 RGB pixels or an image."""
        od = self.tissue_od(rgb)
        return order_and_normalise(self._fit_od(od))

    @abstractmethod
    def _fit_od(self, od: np.ndarray) -> np.ndarray:
        """A 2 x 3 matrix (any order and scale) from tissue OD ``(N, 3)``."""

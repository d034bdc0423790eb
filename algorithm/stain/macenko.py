"""Macenko stain-matrix extraction (Macenko et al., ISBI 2009), StainTools' maths.

The tissue ODs are projected on the plane of their two principal eigenvectors;
the stain vectors are the directions at the 1st and 99th percentiles of the
angle in that plane.
"""

from __future__ import annotations

import numpy as np

from algorithm.stain.extractor import DEFAULT_MIN_TISSUE_PIXELS, StainExtractor


class MacenkoExtractor(StainExtractor):
    """Macenko's method; ``angular_percentile`` as in StainTools (99)."""

    name = "macenko"

    def __init__(
        self,
        luminosity_threshold: float = 0.8,
        angular_percentile: float = 99.0,
        min_tissue_pixels: int = DEFAULT_MIN_TISSUE_PIXELS,
    ):
        super().__init__(luminosity_threshold, min_tissue_pixels)
        self.angular_percentile = float(angular_percentile)

    def _fit_od(self, od: np.ndarray) -> np.ndarray:
        return macenko_matrix(od, self.angular_percentile)


def macenko_matrix(od: np.ndarray, angular_percentile: float = 99.0) -> np.ndarray:
    """Unordered, unnormalised Macenko stain vectors (2 x 3) of tissue OD ``(N, 3)``."""
    # Principal plane of the OD cloud (eigh sorts eigenvalues ascending).
    _, v = np.linalg.eigh(np.cov(od, rowvar=False))
    v = v[:, [2, 1]]
    v[:, v[0] < 0] *= -1  # point both into positive red OD
    proj = od @ v
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo = np.percentile(phi, 100 - angular_percentile)
    hi = np.percentile(phi, angular_percentile)
    v1 = v @ np.array([np.cos(lo), np.sin(lo)])
    v2 = v @ np.array([np.cos(hi), np.sin(hi)])
    return np.stack([v1, v2])

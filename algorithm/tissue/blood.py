"""Blood (red cells, haemorrhage): saturated red that Otsu would call tissue.

The HER2 study dropped red, blood-filled patches before classification; H&E
blood is eosin-dense and red-dominant, while stained tissue is pink to purple
(blue close to or above green).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from algorithm.stain.images import check_rgb


def blood_mask(rgb: NDArray[np.uint8], min_red_excess: float = 60.0) -> NDArray[np.bool_]:
    """Pixels where red exceeds both green and blue by ``min_red_excess`` and blue is low.

    Eosinophilic stroma is pink (red high, blue nearly as high); blood is red with
    a blue channel close to green. ``rgb``: numpy uint8 RGB, channels last (an image, a batch or
    pixels); anything else raises a ConfigError (see :func:`~algorithm.stain.images.check_rgb`).
    """
    check_rgb(rgb, numpy_only=True)
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    red_excess = r - np.maximum(g, b)
    return (red_excess > min_red_excess) & (b < 0.75 * r) & (np.abs(b - g) < 0.35 * r)


def blood_fraction(rgb: NDArray[np.uint8]) -> float:
    """Share of non-glass pixels that are blood: the HER2 study's patch filter (``rgb`` as :func:`blood_mask`)."""
    check_rgb(rgb, numpy_only=True)
    stained = rgb.min(axis=-1) < 220
    if not stained.any():
        return 0.0
    return float((blood_mask(rgb) & stained).sum() / stained.sum())

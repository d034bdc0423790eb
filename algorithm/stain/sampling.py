"""Sampling tissue pixels for a per-slide fit, and fitting a normaliser from them."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from algorithm.stain.base import Normaliser
from algorithm.stain.errors import InputShapeError
from algorithm.stain.images import ImageLike, to_numpy_pixels
from algorithm.stain.optical_density import luminosity_tissue_mask

DEFAULT_N_PIXELS = 200_000


class HasMask(Protocol):
    """Anything with a boolean ``mask`` (a TissueMask), so sampling needs no import of the tissue package."""

    mask: np.ndarray


def _mask_array(tissue_mask: np.ndarray | HasMask | None) -> np.ndarray | None:
    if tissue_mask is None:
        return None
    m = getattr(tissue_mask, "mask", tissue_mask)  # algorithm.tissue.TissueMask or a bool array
    return np.asarray(m, dtype=bool)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D bool mask covering the same area to ``shape`` (rows, cols)."""
    h, w = mask.shape
    rows = np.minimum((np.arange(shape[0]) * h) // max(shape[0], 1), h - 1)
    cols = np.minimum((np.arange(shape[1]) * w) // max(shape[1], 1), w - 1)
    return mask[np.ix_(rows, cols)]


def sample_tissue_pixels(
    image_or_pixels: ImageLike,
    tissue_mask: np.ndarray | HasMask | None = None,
    n: int = DEFAULT_N_PIXELS,
    seed: int | np.random.Generator = 0,
    luminosity_threshold: float = 0.8,
) -> np.ndarray:
    """Up to ``n`` tissue pixels, ``(k, 3)`` uint8, drawn uniformly without replacement.

    ``image_or_pixels``: an image ``(H, W, 3)``, a batch ``(N, H, W, 3)`` or
    pixels ``(P, 3)`` (numpy or torch, uint8).

    ``tissue_mask`` says which pixels are tissue:

    - for an image, a 2-D bool array (or an ``algorithm.tissue.TissueMask``)
      covering the same area at any resolution: it is resized to the image by
      nearest neighbour (a mask of the whole slide goes with a whole-slide view;
      cut the mask to the region otherwise);
    - for a batch, a bool array of shape ``(N, H, W)``; for pixels, ``(P,)``;
    - None: StainTools' luminosity test (L* below ``luminosity_threshold``).

    Fewer than ``n`` tissue pixels gives all of them (possibly none): the fit
    decides whether that is enough and says so. Deterministic for a given seed.
    """
    px = to_numpy_pixels(image_or_pixels)
    shape = tuple(image_or_pixels.shape)
    mask = _mask_array(tissue_mask)
    if mask is None:
        keep = luminosity_tissue_mask(px, luminosity_threshold)
    elif len(shape) == 3 and mask.ndim == 2:
        keep = resize_mask(mask, shape[:2]).reshape(-1)
    elif mask.size == px.shape[0]:
        keep = mask.reshape(-1)
    else:
        raise InputShapeError(f"tissue mask of shape {mask.shape} does not fit pixels of shape {shape}")
    idx = np.flatnonzero(keep)
    rng = np.random.default_rng(seed)
    if len(idx) > n:
        idx = np.sort(rng.choice(idx, size=n, replace=False))
    return px[idx].copy()


def fit_normaliser_to_slide_pixels(
    normaliser: Normaliser | Any,
    image_or_pixels: ImageLike,
    tissue_mask: np.ndarray | HasMask | None = None,
    n: int = DEFAULT_N_PIXELS,
    seed: int | np.random.Generator = 0,
) -> Normaliser:
    """``normaliser.fit_source`` on ``sample_tissue_pixels(...)``; returns the normaliser.

    Raises :class:`~algorithm.stain.errors.StainFitError` (with the pixel
    counts found and needed) when the slide has too little tissue.
    """
    pixels = sample_tissue_pixels(image_or_pixels, tissue_mask, n, seed)
    return normaliser.fit_source(pixels)

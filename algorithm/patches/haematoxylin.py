"""Haematoxylin per pixel: the slide's own stain matrix (Macenko), or a reference H&E matrix if it cannot be fitted.

The HER2 study's tissue filter counts haematoxylin (blue: nuclei) in each patch. Stains differ
between labs and scanners, so the haematoxylin vector is fitted to the slide's tissue (Macenko on
the same low-resolution view the other filters use; blood left out, it is not H&E). A slide whose
tissue is too scarce or too uniform to fit, or whose fit comes out far from any haematoxylin (pen
ink, a single dominant colour), falls back to :data:`REFERENCE_STAIN_MATRIX`.

Optical density is taken relative to the slide's glass, not to pure white: scanners tint the glass
(236, 238, 246 is common), and measured against 255 that tint alone reads as about 0.17 of
haematoxylin on bare glass, as much as sparse stroma holds at 4 um/px. The view is white-balanced
to its glass (:func:`glass_balanced`) before the fit and the concentrations; the glass is the median
colour outside the tissue mask (the brightest pixels, which the tissue mask uses, are brighter than
most of the glass by noise and compression).

Concentrations are least squares on the two stains (``ConcentrationSolver(matrix, "pinv")``'s
haematoxylin), computed with one table per RGB channel: three look-ups and two additions per pixel.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from algorithm.stain.errors import StainFitError
from algorithm.stain.extractor import angle_between_deg
from algorithm.stain.macenko import MacenkoExtractor
from algorithm.stain.optical_density import rgb_to_od
from algorithm.stain.sampling import sample_tissue_pixels
from algorithm.tissue.mask import glass_colour

logger = logging.getLogger(__name__)

# Macenko et al.'s reference H&E stain vectors (the ``HERef`` of their implementation, as torchstain
# and StainTools-style normalisers use it), rows H and E, scaled to unit length.
_REFERENCE = np.array([[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]], dtype=np.float64)
REFERENCE_STAIN_MATRIX: NDArray[np.float64] = _REFERENCE / np.linalg.norm(_REFERENCE, axis=1, keepdims=True)
REFERENCE_STAIN_MATRIX.setflags(write=False)

# A fitted haematoxylin vector further than this from the reference is not haematoxylin (real H&E
# scanners and labs differ by up to about 15 degrees; the kit's synthetic scanners by up to 12).
MAX_HAEMATOXYLIN_ANGLE_DEG = 30.0
# The share of the view outside the tissue mask needed to take the glass colour from it.
MIN_GLASS_SHARE = 0.01
# Pixels the fit samples from the view's tissue (seeded: the same slide gives the same matrix).
FIT_PIXELS = 200_000


def glass_of(rgb: NDArray[np.uint8], tissue: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """The glass colour: the median outside ``tissue`` (a mask of ``rgb``'s shape) when that is bright and
    at least :data:`MIN_GLASS_SHARE` of the view; else :func:`~algorithm.tissue.mask.glass_colour`."""
    if tissue is not None:
        outside = ~np.asarray(tissue, dtype=bool)
        if outside.sum() >= max(1, MIN_GLASS_SHARE * outside.size):
            glass = np.median(rgb[outside], axis=0).astype(np.float64)
            if glass.min() >= 200:
                return glass
    return glass_colour(rgb)


def glass_balanced(rgb: NDArray[np.uint8], glass: NDArray[np.float64] | None = None) -> NDArray[np.uint8]:
    """``rgb`` scaled per channel so that ``glass`` (default: :func:`glass_of` ``rgb``) is white."""
    glass = glass_of(rgb) if glass is None else np.asarray(glass, dtype=np.float64)
    values = np.arange(256, dtype=np.float64)[None, :] * (255.0 / np.maximum(glass[:, None], 1.0))
    tables = np.clip(np.rint(values), 0, 255).astype(np.uint8)  # (3, 256): one table per channel
    out = np.empty_like(rgb)
    for c in range(3):
        out[..., c] = tables[c][rgb[..., c]]
    return out


def fit_stain_matrix(
    rgb: NDArray[np.uint8], tissue: NDArray[np.bool_] | None = None, seed: int = 0
) -> tuple[NDArray[np.float64], bool]:
    """The ``(2, 3)`` stain matrix (rows H, E) of ``rgb``'s ``tissue`` pixels, and whether it was fitted.

    ``tissue`` is a boolean mask of ``rgb``'s shape (None: Macenko's luminosity test alone). Returns
    :data:`REFERENCE_STAIN_MATRIX` and False when the fit fails or is implausible.
    """
    pixels = sample_tissue_pixels(rgb, tissue, n=FIT_PIXELS, seed=seed)
    try:
        matrix = MacenkoExtractor().get_stain_matrix(pixels)
    except StainFitError as exc:
        logger.info("patch filters use the reference H&E matrix: %s", exc)
        return REFERENCE_STAIN_MATRIX.copy(), False
    angle = angle_between_deg(matrix[0], REFERENCE_STAIN_MATRIX[0])
    if angle > MAX_HAEMATOXYLIN_ANGLE_DEG:
        logger.info(
            "patch filters use the reference H&E matrix: the fitted haematoxylin is %.0f degrees from it (max %.0f)",
            angle,
            MAX_HAEMATOXYLIN_ANGLE_DEG,
        )
        return REFERENCE_STAIN_MATRIX.copy(), False
    return matrix, True


def haematoxylin_weights(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 3 weights that give a pixel's haematoxylin concentration from its optical density (least squares)."""
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    gram = m @ m.T
    if abs(float(np.linalg.det(gram))) <= 1e-6 * float(gram[0, 0] * gram[1, 1]):
        return m[0] / max(float(gram[0, 0]), 1e-12)  # collinear stains: all of it is the first (as the solver)
    return np.asarray((np.linalg.inv(gram) @ m)[0], dtype=np.float64)


def haematoxylin_concentration(rgb: NDArray[np.uint8], matrix: NDArray[np.float64]) -> NDArray[np.float32]:
    """Haematoxylin concentration ``(H, W)`` float32 of uint8 RGB ``(H, W, 3)``: >= 0, 0 on glass.

    Equal to ``ConcentrationSolver(matrix, "pinv")``'s first column, from one table per channel.
    """
    weights = haematoxylin_weights(matrix)
    od = rgb_to_od(np.arange(256, dtype=np.uint8))  # the optical density of each 8-bit value
    tables = [(w * od).astype(np.float32) for w in weights]
    h = tables[0][rgb[..., 0]]
    h += tables[1][rgb[..., 1]]
    h += tables[2][rgb[..., 2]]
    return np.maximum(h, np.float32(0.0), out=h)


def haematoxylin_positive(rgb: NDArray[np.uint8], matrix: NDArray[np.float64], threshold: float) -> NDArray[np.bool_]:
    """Pixels whose haematoxylin concentration exceeds ``threshold`` (nuclei, at the view's resolution)."""
    return haematoxylin_concentration(rgb, matrix) > np.float32(threshold)

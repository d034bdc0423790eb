"""Tissue detection on a low-resolution view of the slide.

Default: optical density relative to the slide's own glass (the colour of its
brightest pixels; scanners tint glass), thresholded by Otsu's method clipped to
a fixed band. The clip matters both ways: Otsu always splits, even pure glass
(so a floor keeps an empty slide empty), and on tissue rich in nuclei it
splits nuclei from pale stroma instead of tissue from glass (so a cap keeps the
stroma). ``saturation`` (HSV) is the classic alternative. Marker pen (green
and blue ink, :mod:`algorithm.tissue.pen`) is taken out by default, blood on
request. Then morphology in physical units: specks smaller than
``min_object_um2`` are dropped and enclosed holes smaller than ``max_hole_um2``
filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage import color, filters, morphology

from algorithm.errors import ConfigError
from algorithm.slide.base import SlideReader
from algorithm.stain.images import check_rgb
from algorithm.tissue.blood import blood_mask
from algorithm.tissue.pen import pen_mask

Method = Literal["saturation", "optical-density"]

MIN_SIDE = 16  # the low-resolution view's longer side, at the least (a small image's tissue is not 2 px)
# Otsu's threshold is clipped to these bands (signal units)
SATURATION_BAND = (0.07, 0.12)  # HSV saturation, 0..1: tinted glass ~0.04, pale stroma from ~0.07
OPTICAL_DENSITY_BAND = (0.08, 0.25)  # summed RGB OD above glass: glass noise < 0.05, pale stroma > 0.15


@dataclass(frozen=True)
class TissueMask:
    """A boolean tissue mask and how it maps onto level-0 pixels."""

    mask: NDArray[np.bool_]
    downsample: tuple[float, float]  # level-0 pixels per mask pixel, (x, y)

    @classmethod
    def whole(cls, width: int, height: int) -> TissueMask:
        """A mask calling all of a ``width`` x ``height`` (level-0 pixels) image tissue: one mask pixel."""
        return cls(np.ones((1, 1), bool), (float(width), float(height)))

    @property
    def fraction(self) -> float:
        """The share of the mask's pixels that are tissue (0 for an empty mask)."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    @property
    def is_empty(self) -> bool:
        """Whether no pixel is tissue: nothing to tile or analyse."""
        return not bool(self.mask.any())

    def area_px(self) -> float:
        """Tissue area in level-0 pixels."""
        return float(self.mask.sum()) * self.downsample[0] * self.downsample[1]

    def box_fractions(self, boxes: NDArray[np.float64]) -> NDArray[np.float64]:
        """Tissue fraction inside each level-0 box ``(x, y, w, h)`` (rows of ``boxes``).

        Uses a summed-area table, so thousands of tiles cost one pass over the mask.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        table = np.zeros((self.mask.shape[0] + 1, self.mask.shape[1] + 1), dtype=np.int64)
        table[1:, 1:] = self.mask.cumsum(0).cumsum(1)
        sx, sy = self.downsample
        h, w = self.mask.shape
        ux0, uy0 = np.floor(boxes[:, 0] / sx), np.floor(boxes[:, 1] / sy)
        ux1 = np.ceil((boxes[:, 0] + boxes[:, 2]) / sx)
        uy1 = np.ceil((boxes[:, 1] + boxes[:, 3]) / sy)
        x0, x1 = (np.clip(v, 0, w).astype(int) for v in (ux0, ux1))
        y0, y1 = (np.clip(v, 0, h).astype(int) for v in (uy0, uy1))
        inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
        # mask cells the box covers past the slide's edge count as glass
        cells = np.maximum((ux1 - ux0) * (uy1 - uy0), 1)
        return np.clip(inside / cells, 0.0, 1.0)


def tissue_mask_from_rgb(
    rgb: NDArray[np.uint8],
    downsample: tuple[float, float],
    mpp: tuple[float, float] | None = None,
    method: Method = "optical-density",
    min_object_um2: float = 5_000.0,
    max_hole_um2: float = 5_000.0,
    remove_blood: bool = False,
    remove_pen: bool = True,
) -> TissueMask:
    """Tissue mask of a low-resolution RGB view whose pixels are ``downsample`` level-0 pixels.

    ``rgb`` is a numpy uint8 RGB image ``(H, W, 3)`` of at least one pixel. Anything else raises a
    ConfigError: :class:`~algorithm.stain.errors.InputTypeError` (also a TypeError) for another
    type or dtype, :class:`~algorithm.stain.errors.InputShapeError` (also a ValueError) for another
    shape. Nothing is converted, as no conversion is safe to guess: a float image may hold 0-1 or
    0-255, an alpha channel may be meant to be dropped or composited on white (the slide readers
    composite on white), and a grey image has lost the colours the pen and blood filters need.
    """
    check_rgb(rgb, ndims=(3,), forms="(H, W, 3)", allow_empty=False, numpy_only=True)
    glass = glass_colour(rgb)
    if method == "saturation":
        signal = color.rgb2hsv(rgb)[..., 1]
        band = SATURATION_BAND
    elif method == "optical-density":
        signal = optical_density_above_glass(rgb, glass)
        band = OPTICAL_DENSITY_BAND
    else:
        raise ConfigError(f"unknown tissue method {method!r}; use 'saturation' or 'optical-density'")
    mask = signal > _threshold(signal, band)
    if remove_blood:
        mask &= ~blood_mask(rgb)
    pixel_um2 = _pixel_area_um2(downsample, mpp)
    if remove_pen:
        mask &= ~pen_mask(rgb, pixel_um2**0.5, glass)
    # A patch or crop (under four specks' area, e.g. a 32 um crop round one cell) would be one speck itself
    # and the job would analyse nothing: there a speck is at most a quarter of the image.
    min_object_um2 = min(min_object_um2, mask.size * pixel_um2 / 4)
    min_object = max(1, int(round(min_object_um2 / pixel_um2)))
    max_hole = max(1, int(round(max_hole_um2 / pixel_um2)))
    mask = morphology.remove_small_objects(mask, max_size=min_object - 1)
    mask = _fill_small_holes(mask, max_hole)
    return TissueMask(mask=mask, downsample=downsample)


class MaskOptions(TypedDict, total=False):
    """The options of :func:`tissue_mask_from_rgb` that :func:`tissue_mask` passes on."""

    method: Method
    min_object_um2: float
    max_hole_um2: float
    remove_blood: bool
    remove_pen: bool


def tissue_mask(
    slide: SlideReader,
    target_mpp: float = 8.0,
    max_size: int = 4096,
    **kwargs: Unpack[MaskOptions],
) -> TissueMask:
    """Tissue mask of a slide at about ``target_mpp`` microns per pixel (at most ``max_size`` px)."""
    w0, h0 = slide.dimensions
    if slide.has_mpp:
        longest = max(w0, h0)
        scale = max(1.0, slide.downsample_for(target_mpp))
        # at least MIN_SIDE px (or the image's own size) for a small image: a 32 um crop is 4 px at 8 um/px
        side = min(max_size, max(int(round(longest / scale)), min(MIN_SIDE, longest)))
    else:
        side = min(max_size, 2048)
    rgb = slide.get_thumbnail(max(1, side))
    downsample = (w0 / rgb.shape[1], h0 / rgb.shape[0])
    mpp = slide.mpp if slide.has_mpp else None
    return tissue_mask_from_rgb(rgb, downsample, mpp, **kwargs)


def glass_colour(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """The slide's glass: the mean colour of its brightest 1 % (white if that is not bright)."""
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    brightness = pixels.sum(axis=1)
    bright = pixels[brightness >= np.percentile(brightness, 99)]
    glass = bright.mean(axis=0)
    return glass if glass.min() >= 200 else np.full(3, 255.0)  # no glass in view: assume white


def optical_density_above_glass(
    rgb: NDArray[np.uint8], glass: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Summed RGB optical density relative to the glass (0 on glass, positive on stain); ``glass``: the
    view's :func:`glass_colour`, found here when not given."""
    if glass is None:
        glass = glass_colour(rgb)
    od = np.log(glass / np.maximum(rgb.astype(np.float64), 1.0))
    return np.clip(od, 0.0, None).sum(axis=-1)


def _threshold(signal: NDArray[np.float64], band: tuple[float, float]) -> float:
    if signal.max() - signal.min() < 1e-6:
        return max(float(signal.max()), band[0])
    return float(np.clip(filters.threshold_otsu(signal), *band))


def _fill_small_holes(mask: NDArray[np.bool_], max_hole: int) -> NDArray[np.bool_]:
    """Fill enclosed holes up to ``max_hole`` pixels; glass reaching the border is never a hole."""
    holes = ndimage.binary_fill_holes(mask) & ~mask
    large = morphology.remove_small_objects(holes, max_size=max_hole)
    return mask | (holes & ~large)


def _pixel_area_um2(downsample: tuple[float, float], mpp: tuple[float, float] | None) -> float:
    if mpp is None:  # no physical size known: assume a 20x scan (0.5 um/px)
        mpp = (0.5, 0.5)
    return downsample[0] * mpp[0] * downsample[1] * mpp[1]

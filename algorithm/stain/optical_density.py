"""RGB <-> optical density (Beer-Lambert) and tissue-pixel selection by luminosity.

Conventions are StainTools' so fitted matrices and concentrations agree with it:
``OD = max(-log(I / 255), 1e-6)`` with ``I = 0`` read as 1 (``I0 = 255``), and
tissue is every pixel whose CIE L* (8-bit, as OpenCV computes it) is below
``luminosity_threshold * 255``. Unlike StainTools, nothing here writes into the
caller's array.

The functions take numpy arrays or torch tensors of shape ``(..., 3)`` (uint8
RGB, channels last) and return the same kind.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TypeVar

import numpy as np
import torch

from algorithm.stain.images import check_rgb

I0 = 255.0
OD_FLOOR = 1e-6

# sRGB (D65) -> Y weights and the L* breakpoint, as OpenCV's RGB2Lab uses them.
_Y_WEIGHTS = (0.212671, 0.715160, 0.072169)
_LAB_EPS = 0.008856
_LAB_KAPPA = 903.3

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@cache
def _od_table() -> np.ndarray:
    """OD of each 8-bit intensity (float64, 256 entries)."""
    v = np.arange(256, dtype=np.float64)
    v[0] = 1.0
    return np.maximum(-np.log(v / I0), OD_FLOOR)


def od_table(dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """OD of each 8-bit intensity as a torch table (a gather replaces ``log`` per pixel)."""
    return torch.as_tensor(_od_table(), dtype=dtype, device=device)


def rgb_to_od(rgb: ArrayT) -> ArrayT:
    """Optical density of uint8 RGB; float64 for numpy, float32 for torch (unless float given)."""
    if isinstance(rgb, torch.Tensor):
        if rgb.dtype == torch.uint8:
            return od_table(torch.float32, rgb.device)[rgb.long()]
        x = rgb.clamp(min=1.0)
        return (-torch.log(x / I0)).clamp(min=OD_FLOOR)
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return _od_table()[rgb]
    x = np.maximum(rgb.astype(np.float64), 1.0)
    return np.maximum(-np.log(x / I0), OD_FLOOR)


def od_to_rgb(od: ArrayT) -> ArrayT:
    """uint8 RGB from optical density: ``255 * exp(-OD)`` truncated, as StainTools does.

    Negative OD (possible after augmentation) is clamped to 0 instead of
    StainTools' assertion, so the result never wraps around.
    """
    if isinstance(od, torch.Tensor):
        return (I0 * torch.exp(-od.clamp(min=0.0))).clamp(0.0, I0).to(torch.uint8)
    od = np.asarray(od, dtype=np.float64)
    return np.clip(I0 * np.exp(-np.maximum(od, 0.0)), 0.0, I0).astype(np.uint8)


@cache
def _luminance_tables() -> np.ndarray:
    """(3, 256) table: each channel's contribution to linear luminance Y."""
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return np.stack([w * lin for w in _Y_WEIGHTS])


def _luminance_threshold(luminosity_threshold: float) -> float:
    """The linear-Y bound equivalent to StainTools' ``L_8bit / 255 < threshold``.

    OpenCV stores L* as ``round(L* * 255 / 100)``; StainTools keeps pixels with
    that integer ``k`` satisfying ``k / 255 < threshold``. L* is monotone in Y,
    so the test becomes one comparison on Y (three table look-ups per pixel).
    """
    if luminosity_threshold <= 0:
        return -1.0
    if luminosity_threshold > 1:
        return math.inf
    k_max = math.ceil(luminosity_threshold * 255.0) - 1  # largest k with k/255 < t
    while (k_max + 1) / 255.0 < luminosity_threshold:
        k_max += 1
    while k_max >= 0 and not k_max / 255.0 < luminosity_threshold:
        k_max -= 1
    if k_max < 0:
        return -1.0
    l_star = (k_max + 0.5) * 100.0 / 255.0  # rounds to k_max or below
    if l_star <= _LAB_KAPPA * _LAB_EPS:
        return l_star / _LAB_KAPPA
    return ((l_star + 16.0) / 116.0) ** 3


def luminance(rgb: ArrayT) -> ArrayT:
    """Linear (sRGB, D65) luminance Y in [0, 1] of uint8 RGB ``(..., 3)``."""
    if isinstance(rgb, torch.Tensor):
        t = torch.as_tensor(_luminance_tables(), dtype=torch.float32, device=rgb.device)
        idx = rgb.long()
        return t[0][idx[..., 0]] + t[1][idx[..., 1]] + t[2][idx[..., 2]]
    t = _luminance_tables()
    rgb = np.asarray(rgb)
    return t[0][rgb[..., 0]] + t[1][rgb[..., 1]] + t[2][rgb[..., 2]]


def luminosity_tissue_mask(rgb: ArrayT, luminosity_threshold: float = 0.8) -> ArrayT:
    """True where a pixel is darker than the threshold (StainTools' LuminosityThresholdTissueLocator).

    Unlike StainTools it returns an all-False mask instead of raising when no
    pixel qualifies; callers decide what too little tissue means.
    """
    return luminance(rgb) < _luminance_threshold(luminosity_threshold)


def as_pixels(rgb: np.ndarray) -> np.ndarray:
    """View uint8 RGB ``(H, W, 3)``, ``(N, H, W, 3)`` or ``(P, 3)`` as ``(P, 3)``, validating it
    (:func:`~algorithm.stain.images.check_rgb`)."""
    check_rgb(rgb)
    return np.asarray(rgb).reshape(-1, 3)


def tissue_pixels(rgb: np.ndarray, luminosity_threshold: float = 0.8) -> np.ndarray:
    """The ``(N, 3)`` uint8 pixels of ``rgb`` that the luminosity test calls tissue (a copy)."""
    px = as_pixels(rgb)
    return px[luminosity_tissue_mask(px, luminosity_threshold)]

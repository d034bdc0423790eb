"""Resampling a region read at a pyramid level to the pixels wanted: area-averaging down, bilinear up.

The one place pixels change resolution on the host (the tile engine's device
path mirrors it on the GPU): :meth:`SlideReader.read_rect` and the tile engine
both come here, so a tile looks the same whichever way it was read.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image


def region_size(extent: tuple[int, int], downsample: float) -> tuple[int, int]:
    """Pixels of a level with ``downsample`` that cover ``extent`` level-0 pixels."""
    return max(1, math.ceil(extent[0] / downsample)), max(1, math.ceil(extent[1] / downsample))


def resample(
    pixels: NDArray[np.uint8], extent: tuple[int, int], downsample: float, size: tuple[int, int]
) -> NDArray[np.uint8]:
    """A region read at a level (``downsample``) delivered as ``size`` pixels covering exactly ``extent``.

    Area-averages when shrinking (Pillow's box filter), interpolates when enlarging (Pillow's
    bilinear); both release the GIL. Shrinking a whole region by 2, 4, 8 ... takes
    :func:`reduce_box`, Pillow's exact result twice as fast. (Pillow's ``reduce`` would be faster
    still but rounds once instead of once per pass: one level off on a third of the pixels, enough
    to move candidates near the threshold.)
    """
    if pixels.shape[1::-1] == tuple(size):
        return pixels
    w, h = extent[0] / downsample, extent[1] / downsample
    if (w, h) == pixels.shape[1::-1] and pixels.ndim == 3:
        k = pixels.shape[1] // size[0]
        if k & (k - 1) == 0 and pixels.shape[1] == k * size[0] and pixels.shape[0] == k * size[1]:
            return reduce_box(pixels, k)
    method = Image.Resampling.BOX if pixels.shape[1] > size[0] else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(pixels).resize((size[0], size[1]), method, box=(0.0, 0.0, w, h)))


def reduce_box(pixels: NDArray[np.uint8], k: int) -> NDArray[np.uint8]:
    """``(h, w, c)`` uint8 shrunk by ``k`` (a power of two dividing both sides), exactly as Pillow's box filter.

    Pillow resamples in two passes, each rounding to uint8 in 22-bit fixed point;
    with weights 1/k (exact in binary) each pass is ``(sum + k/2) >> log2(k)``
    (:func:`reduce_box_tensor`). The order of the passes changes the rounding:
    Pillow 13 does rows first, except for images over twice as tall as wide,
    which are left to it.
    """
    h, w, _ = pixels.shape
    if k == 1:
        return pixels
    if h > w:  # Pillow may take the columns first here: its own bytes, from itself
        return np.asarray(Image.fromarray(pixels).resize((w // k, h // k), Image.Resampling.BOX))
    return reduce_box_tensor(torch.from_numpy(np.ascontiguousarray(pixels)), k).numpy()


def reduce_box_tensor(x: torch.Tensor, k: int) -> torch.Tensor:
    """uint8 ``(..., h, w, c)`` shrunk by ``k`` (a power of two > 1 dividing both sides) on its device, rows
    first, each pass ``(sum + k/2) >> log2(k)``: Pillow's box filter for images no taller than wide.

    The host's :func:`reduce_box` and the tile engine's device path (a batch on the GPU) both come here,
    so the device's tiles are the host's bytes. In int16 with explicit adds: torch's strided loops beat
    numpy's twice over on 3-channel pixels, and a ``sum`` over the strided axis five times; integer sums,
    so any thread count gives the same bytes.
    """
    *lead, h, w, c = x.shape
    shift, half = k.bit_length() - 1, k // 2
    v = x.reshape(*lead, h, w // k, k, c).to(torch.int16)
    rows = v[..., 0, :] + v[..., 1, :]
    for i in range(2, k):
        rows += v[..., i, :]
    rows.add_(half).bitwise_right_shift_(shift)
    cols = rows.reshape(*lead, h // k, k, w // k, c)
    out = cols[..., 0, :, :] + cols[..., 1, :, :]
    for i in range(2, k):
        out += cols[..., i, :, :]
    return out.add_(half).bitwise_right_shift_(shift).to(torch.uint8)

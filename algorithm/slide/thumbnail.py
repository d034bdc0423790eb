"""Whole-slide thumbnails in bounded memory.

Reads one pyramid level in horizontal strips and area-averages each strip
into its rows of the output, so a single-level 50k x 50k TIFF is never held whole.
:meth:`SlideReader.get_thumbnail <algorithm.slide.base.SlideReader.get_thumbnail>`
chooses the level and reads the strips.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

STRIP_PIXELS = 16_000_000  # level pixels read per strip (~48 MB RGB)
ReadRows = Callable[[int, int], NDArray[np.uint8]]  # (first row, rows) -> those whole rows of the level


def thumbnail_size(dimensions: tuple[int, int], max_size: int | tuple[int, int]) -> tuple[int, int]:
    """The size that fits ``max_size`` keeping the aspect ratio, never enlarged and never below one pixel."""
    if isinstance(max_size, int):
        max_size = (max_size, max_size)
    w0, h0 = dimensions
    scale = min(max_size[0] / w0, max_size[1] / h0, 1.0)
    return max(1, round(w0 * scale)), max(1, round(h0 * scale))


def thumbnail_strips(read_rows: ReadRows, level_size: tuple[int, int], size: tuple[int, int]) -> NDArray[np.uint8]:
    """A level of ``level_size`` area-averaged to ``size``, its rows read by ``read_rows`` a strip at a time."""
    lw, lh = level_size
    tw, th = size
    sy = lh / th  # level rows per output row
    rows_per_strip = max(1, int(STRIP_PIXELS / max(lw, 1) / max(sy, 1.0)))
    out = np.empty((th, tw, 3), dtype=np.uint8)
    for r0 in range(0, th, rows_per_strip):
        r1 = min(th, r0 + rows_per_strip)
        y0 = int(math.floor(r0 * sy))
        y1 = min(lh, int(math.ceil(r1 * sy)))
        strip = read_rows(y0, y1 - y0)
        box = (0.0, r0 * sy - y0, float(lw), r1 * sy - y0)
        resized = Image.fromarray(strip).resize((tw, r1 - r0), Image.Resampling.BOX, box=box)
        out[r0:r1] = np.asarray(resized)
    return out

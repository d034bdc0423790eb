"""Where a QC picture's slide goes: small slides enlarged, long strips cut into rows or columns.

A slide's thumbnail is only ever shrunk by the reader, so a 16 x 16 image, a 128 px MIDOG crop or an
8000 x 250 strip would be drawn too small to read. :func:`thumbnail_side` asks for a larger thumbnail
where a strip's short side would be thin, :func:`enlarged` repeats small thumbnails' pixels (nearest
neighbour: each slide pixel a visible square, nothing invented) and :func:`wrapped` cuts a picture far
longer than it is wide into rows (or columns), in reading order, so the whole strip fits a page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

MIN_LONG_SIDE = 512  # a thumbnail smaller than this is enlarged (by a whole factor) ...
MIN_SHORT_SIDE = 128  # ... and so is one thinner than this, where the reader can give no more
MAX_LONG_SIDE = 8192  # but a strip's thumbnail is never read longer than this
MAX_ASPECT = 4.0  # a picture longer than this many times its width is cut into rows or columns ...
TARGET_ASPECT = 2.0  # ... about this much longer than wide when laid out
GAP = 8  # between the rows or columns
FRAME: tuple[int, int, int] = (170, 170, 170)  # each row's frame, where the strip is cut


def thumbnail_side(dimensions: tuple[int, int], side: int) -> int:
    """The longer side to read a slide's thumbnail at: ``side``, longer for a strip whose short side would
    otherwise be under :data:`MIN_SHORT_SIDE` (up to :data:`MAX_LONG_SIDE`)."""
    long, short = max(dimensions), max(1, min(dimensions))
    return int(min(MAX_LONG_SIDE, max(side, math.ceil(long * MIN_SHORT_SIDE / short))))


def enlargement(size: tuple[int, int], limit: int) -> int:
    """The whole factor to enlarge a ``size`` (w, h) thumbnail by: enough for :data:`MIN_LONG_SIDE` and
    :data:`MIN_SHORT_SIDE`, no more than keeps its longer side within ``limit``; 1 for none."""
    long, short = max(size), max(1, min(size))
    wanted = math.ceil(max(MIN_LONG_SIDE / long, MIN_SHORT_SIDE / short))
    return max(1, min(wanted, limit // long))


def enlarged(thumbnail: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """``thumbnail`` with each pixel repeated ``factor`` x ``factor`` times."""
    if factor <= 1:
        return thumbnail
    return np.repeat(np.repeat(thumbnail, factor, axis=0), factor, axis=1)


@dataclass(frozen=True)
class Layout:
    """The slide's picture as laid out: the image, and each piece's box on it ``(x0, y0, x1, y1)``."""

    image: Image.Image
    panels: tuple[tuple[int, int, int, int], ...]
    rows: bool  # cut into rows (a wide strip) rather than columns (a tall one); one panel: not cut

    def note(self) -> str | None:
        """The caption's line saying how the strip was cut; None where it was not."""
        n = len(self.panels)
        if n == 1:
            return None
        if self.rows:
            return f"the strip is cut into {n} rows, read left to right then top to bottom"
        return f"the strip is cut into {n} columns, read top to bottom then left to right"


def pieces(size: tuple[int, int]) -> int:
    """How many rows (or columns) a picture of ``size`` is cut into: 1 unless it is a strip."""
    long, short = max(size), max(1, min(size))
    if long / short <= MAX_ASPECT:
        return 1
    return max(1, min(math.ceil(math.sqrt(long / short / TARGET_ASPECT)), math.ceil(long / short)))


def wrapped(image: Image.Image) -> Layout:
    """``image`` as it is, or cut into :func:`pieces` equal rows (wide) or columns (tall), each framed."""
    w, h = image.size
    n = pieces((w, h))
    if n == 1:
        return Layout(image, ((0, 0, w, h),), rows=w >= h)
    rows = w >= h
    length = math.ceil((w if rows else h) / n)
    thick = h if rows else w
    across = n * thick + (n - 1) * GAP
    out = Image.new("RGB", (length, across) if rows else (across, length), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    panels = []
    for i in range(n):
        start, end = i * length, min((i + 1) * length, w if rows else h)
        piece = image.crop((start, 0, end, h) if rows else (0, start, w, end))
        at = i * (thick + GAP)
        x, y = (0, at) if rows else (at, 0)
        out.paste(piece, (x, y))
        box = (x, y, x + piece.width, y + piece.height)
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=FRAME)
        panels.append(box)
    return Layout(out, tuple(panels), rows)

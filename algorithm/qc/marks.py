"""The marks drawn on a QC picture and in its legend: a mitotic figure's ring, the major axis, a notice."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from algorithm.qc import colours
from algorithm.qc.colours import Colour

RING_BAND_PX = 2  # a ring's coloured band at least; black 1 px each side, all outside its inner radius
AXIS_WIDTH = 3  # the axis' white core; its black casing is a pixel wider each side
AXIS_TICK_PX = 6  # the end ticks' half-length
NOTICE_INSET = 6

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def ring_band(radii: tuple[float, float]) -> int:
    """The width of a ring's coloured band: :data:`RING_BAND_PX`, wider on a large ring (an enlarged crop)."""
    return max(RING_BAND_PX, round(min(radii) / 15))


def draw_ring(draw: ImageDraw.ImageDraw, x: float, y: float, radii: tuple[float, float], colour: Colour) -> None:
    """A ring round (x, y) whose inside, to ``radii`` (x, y), is left untouched: black 1 px, ``colour``
    (:func:`ring_band`), black 1 px."""
    rx, ry = radii
    band = ring_band(radii)
    w = band + 2
    draw.ellipse([x - rx - w, y - ry - w, x + rx + w, y + ry + w], outline=colours.RING_CASING, width=w)
    draw.ellipse([x - rx - w + 1, y - ry - w + 1, x + rx + w - 1, y + ry + w - 1], outline=colour, width=band)


def draw_axis(draw: ImageDraw.ImageDraw, ends: NDArray[np.float64]) -> None:
    """The major axis from ``ends[0]`` to ``ends[1]`` (picture pixels): a white line with end ticks, cased in
    black (legible on tissue and glass, and unlike every other layer in any colour vision)."""
    (x0, y0), (x1, y1) = np.asarray(ends, dtype=np.float64).reshape(2, 2)
    length = float(np.hypot(x1 - x0, y1 - y0))
    nx, ny = ((y0 - y1) / length, (x1 - x0) / length) if length > 0 else (0.0, 1.0)
    t = AXIS_TICK_PX
    segments = [((x0, y0), (x1, y1))]
    segments += [((x - t * nx, y - t * ny), (x + t * nx, y + t * ny)) for x, y in ((x0, y0), (x1, y1))]
    for colour, width in ((colours.AXIS_CASING, AXIS_WIDTH + 2), (colours.AXIS_LINE, AXIS_WIDTH)):
        for a, b in segments:
            draw.line([a, b], fill=colour, width=width)


def draw_notice(image: Image.Image, text: str, box: tuple[int, int, int, int], font: Font) -> None:
    """``text`` in a white box centred on ``box`` (x0, y0, x1, y1) of ``image``, in place: a plain statement
    on the picture itself ("no tissue found")."""
    draw = ImageDraw.Draw(image, "RGBA")
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 2 * NOTICE_INSET, bottom - top + 2 * NOTICE_INSET
    x = (box[0] + box[2] - w) // 2
    y = (box[1] + box[3] - h) // 2
    fill = (*colours.NOTICE_BOX, round(255 * colours.NOTICE_ALPHA))
    draw.rectangle([x, y, x + w - 1, y + h - 1], fill=fill, outline=colours.BLACK)
    draw.text((x + NOTICE_INSET - left, y + NOTICE_INSET - top), text, fill=colours.BLACK, font=font)

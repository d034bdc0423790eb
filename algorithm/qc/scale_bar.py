"""The QC picture's scale bar: a round length in microns, black on a white box (legible on tissue and glass)."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

from algorithm.qc import colours

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

MAX_BAR_PX = 160  # the bar's longest
MAX_BAR_SHARE = 0.4  # and no more than this share of the panel it sits in
BAR_HEIGHT = 4
MARGIN = 6  # from the panel's corner
INSET = 4  # the box round the bar and its label


def round_length_um(um_per_px: float, max_px: float) -> float:
    """The longest 1, 2 or 5 x 10^k microns that is at most ``max_px`` picture pixels long."""
    limit = max_px * um_per_px * (1 + 1e-9)  # microns (a hair over: 100 px at 1 um/px is 100 um, not 50)
    unit = 10.0 ** math.floor(math.log10(limit))  # 1 x unit always fits
    return next(base * unit for base in (5.0, 2.0, 1.0) if base * unit <= limit)


def length_text(um: float) -> str:
    """``um`` as the bar's label: "500 um", "2 mm", "0.5 um"."""
    if um >= 1000:
        return f"{um / 1000:g} mm"
    return f"{um:g} um"


def draw_scale_bar(
    image: Image.Image,
    um_per_px: float,
    panel: tuple[int, int, int, int],
    font: Font,
    note: str = "",
) -> tuple[float, int]:
    """Draw the bar in ``panel``'s bottom-left corner of ``image`` (RGB, in place); ``note`` follows the length
    ("(assumed)"). Returns its length in microns and in picture pixels."""
    x0, y0, x1, y1 = panel
    max_px = max(8.0, min(MAX_BAR_PX, MAX_BAR_SHARE * (x1 - x0)))
    um = round_length_um(um_per_px, max_px)
    px = max(1, round(um / um_per_px))
    label = " ".join(part for part in (length_text(um), note) if part)
    draw = ImageDraw.Draw(image, "RGBA")
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    box_w = max(px, right - left) + 2 * INSET
    box_h = (bottom - top) + BAR_HEIGHT + 3 * INSET
    bx, by = x0 + MARGIN, y1 - MARGIN - box_h
    fill = (*colours.NOTICE_BOX, round(255 * colours.NOTICE_ALPHA))
    draw.rectangle([bx, by, bx + box_w - 1, by + box_h - 1], fill=fill)
    draw.text((bx + INSET - left, by + INSET - top), label, fill=colours.BLACK, font=font)
    bar_y = by + box_h - INSET - BAR_HEIGHT
    draw.rectangle([bx + INSET, bar_y, bx + INSET + px - 1, bar_y + BAR_HEIGHT - 1], fill=colours.BLACK)
    return um, px

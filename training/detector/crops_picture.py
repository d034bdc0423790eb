"""The real mitotic-figure crops as a detector scored them, as one picture.

``detector-score --crops STACK.tiff --gallery crops.png`` draws every scored
crop as stored (before stain normalisation), with a circle of the matching
radius round its centre, where the figure is: green when a mitotic-figure call
at the threshold lies inside it, blue when none does; a cross on the best
candidate inside it (any score); and a caption: the page, that candidate's
score ("-": none near) and the calls elsewhere in the crop; under them a key
(circle, colours, cross, caption, crop size, scale bar). What a recall of
"0 of 16" cannot say: how far below the threshold each real figure scores, and
whether the model looks at the figure or at something beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from algorithm.qc.picture import label_font
from training.detector.crops import CropResult
from training.detector.gallery import (
    CAPTION_PX,
    CELL_PX,
    COLUMNS,
    KEY_TEXT,
    MISSED,
    Symbol,
    draw_key,
    key_height,
    scale_bar_um,
)

FOUND = (20, 150, 60)
CANDIDATE = (255, 140, 0)
CELL_BAR_UM = 5.0  # each crop's own scale bar, where the crops' scales differ


def render_crops(
    crops: Sequence[NDArray[np.uint8]],
    results: Sequence[CropResult],
    mpp: float,
    radius_um: float,
    threshold: float,
) -> Image.Image:
    """Each crop (RGB ``(h, w, 3)`` at ``mpp``) with its result, ``COLUMNS`` to a line under a title line, and the
    key under them; crops of different sizes (each is scaled to the cell) each get a scale bar of their own."""
    if len(crops) != len(results):
        raise ValueError(f"{len(crops)} crops for {len(results)} results")
    font = label_font()
    cell = CELL_PX + CAPTION_PX
    lines = max(1, -(-len(results) // COLUMNS))
    sides = {max(pixels.shape[:2]) for pixels in crops}
    px_per_um = [(CELL_PX - 4) / max(pixels.shape[:2]) / mpp for pixels in crops]
    scale = px_per_um[0] if len(sides) == 1 else None
    key = crops_key(sides, mpp, radius_um, threshold, scale, _caption(results[0]) if results else "")
    top = CAPTION_PX + lines * cell
    picture = Image.new("RGB", (COLUMNS * CELL_PX, top + key_height(key, font)), "white")
    draw = ImageDraw.Draw(picture)
    found = sum(r.found for r in results)
    title = f"real mitotic figures: {found} of {len(results)} found at threshold {threshold:g}"
    draw.text((6, 8), title, fill=FOUND if found else MISSED, font=font)
    for i, (pixels, result) in enumerate(zip(crops, results, strict=True)):
        x0, y0 = (i % COLUMNS) * CELL_PX, CAPTION_PX + (i // COLUMNS) * cell
        h, w = pixels.shape[:2]
        scale = (CELL_PX - 4) / max(h, w)  # picture pixels per crop pixel
        shown = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
        picture.paste(shown.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS), (x0 + 2, y0 + 2))
        colour = FOUND if result.found else MISSED
        cx, cy, r = x0 + 2 + w * scale / 2, y0 + 2 + h * scale / 2, radius_um / mpp * scale
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=2)
        if result.best_point is not None:
            px, py = x0 + 2 + result.best_point[0] * scale, y0 + 2 + result.best_point[1] * scale
            draw.line((px - 5, py - 5, px + 5, py + 5), fill=CANDIDATE, width=2)
            draw.line((px - 5, py + 5, px + 5, py - 5), fill=CANDIDATE, width=2)
        if len(sides) > 1:
            _cell_scale_bar(draw, x0 + 2, y0 + 2 + round(h * scale), px_per_um[i])
        draw.text((x0 + 4, y0 + CELL_PX + 4), _caption(result), fill=colour, font=font)
    draw_key(draw, top, key, font)
    return picture


def _caption(result: CropResult) -> str:
    """A crop's caption: its page, its best candidate's score, the calls elsewhere in it."""
    score = "-" if result.best_score is None else f"{result.best_score:.2f}"
    others = result.calls - int(result.found)
    return f"p{result.page} {score}" + (f" +{others} call{'s' if others > 1 else ''}" if others > 0 else "")


def crops_key(
    sides: set[int], mpp: float, radius_um: float, threshold: float, px_per_um: float | None, first: str
) -> list[tuple[Symbol, str]]:
    """The crops sheet's key; ``px_per_um``: the one scale of every crop (None: they differ, each has its bar);
    ``first``: a caption of the sheet, as an example."""
    key: list[tuple[Symbol, str]] = []
    if sides:
        size = " to ".join(f"{side * mpp:g}" for side in sorted({min(sides), max(sides)}))
        what = (
            f"Each crop as stored (before stain normalisation), {size} um wide at {mpp:g} um/px; "
            f"circle: the {radius_um:g} um matching radius round its centre, where the figure is"
        )
        if px_per_um is None:
            key.append((("none", KEY_TEXT, 0), f"{what}; the bar in each crop's corner: {CELL_BAR_UM:g} um"))
        else:
            bar = scale_bar_um(px_per_um)
            key.append((("bar", KEY_TEXT, bar * px_per_um), f"{bar:g} um. {what}"))
    return [
        *key,
        (("circle", FOUND, 9), f"found: a mitotic-figure call >= {threshold:g} inside the circle"),
        (("circle", MISSED, 9), f"missed: no mitotic-figure call >= {threshold:g} inside the circle"),
        (("cross", CANDIDATE, 5), "the best mitotic-figure candidate inside the circle, of any score"),
        (
            ("none", KEY_TEXT, 0),
            "caption: page  score (that candidate's; - for none)  +N calls (>= the threshold) elsewhere in the crop"
            + (f", as in {first}" if first else ""),
        ),
    ]


def _cell_scale_bar(draw: ImageDraw.ImageDraw, x: int, bottom: int, px_per_um: float) -> None:
    """A :data:`CELL_BAR_UM` bar in a crop's lower left corner, white on a dark edge to show on any stain."""
    length = CELL_BAR_UM * px_per_um
    draw.rectangle((x + 4, bottom - 10, x + 6 + length, bottom - 4), fill=(0, 0, 0))
    draw.rectangle((x + 5, bottom - 9, x + 5 + length, bottom - 5), fill=(255, 255, 255))

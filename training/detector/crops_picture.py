"""The real mitotic-figure crops as a detector scored them, as one picture.

``detector-score --crops STACK.tiff --gallery crops.png`` draws every scored
crop as stored (before stain normalisation), with a circle of the matching
radius round its centre, where the figure is: green when a mitotic-figure call
at the threshold lies inside it, blue when none does; a cross on the best
candidate inside it (any score); and a caption: the page, that candidate's
score ("-": none near) and the calls elsewhere in the crop. What a recall of
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
from training.detector.gallery import CAPTION_PX, CELL_PX, COLUMNS, MISSED

FOUND = (20, 150, 60)
CANDIDATE = (255, 140, 0)


def render_crops(
    crops: Sequence[NDArray[np.uint8]],
    results: Sequence[CropResult],
    mpp: float,
    radius_um: float,
    threshold: float,
) -> Image.Image:
    """Each crop (RGB ``(h, w, 3)`` at ``mpp``) with its result, ``COLUMNS`` to a line under a title line."""
    if len(crops) != len(results):
        raise ValueError(f"{len(crops)} crops for {len(results)} results")
    font = label_font()
    cell = CELL_PX + CAPTION_PX
    lines = max(1, -(-len(results) // COLUMNS))
    picture = Image.new("RGB", (COLUMNS * CELL_PX, CAPTION_PX + lines * cell), "white")
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
        score = "-" if result.best_score is None else f"{result.best_score:.2f}"
        others = result.calls - int(result.found)
        caption = f"p{result.page} {score}" + (f" +{others} call{'s' if others > 1 else ''}" if others > 0 else "")
        draw.text((x0 + 4, y0 + CELL_PX + 4), caption, fill=colour, font=font)
    return picture

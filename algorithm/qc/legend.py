"""The QC picture's legend: one entry per layer the task makes, each saying "(none)" where it is empty.

An entry is listed when its task output is one of the job's (a nuclei job's picture lists no heatmap);
its label says what was drawn: the figures' score range (the threshold to 1, since only figures at or
above it are drawn) and the threshold, the heatmap's largest value (an all-zero heatmap is drawn as
nothing, and the legend says so), and "(none)" for a layer with no content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import ImageDraw, ImageFont

from algorithm.qc import colours
from algorithm.qc.marks import draw_axis, draw_ring

if TYPE_CHECKING:
    from algorithm.qc.layers import QcInput

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Entry = tuple[str, str]  # (key, label)

LAYER_OUTPUTS = {  # a legend entry's layer -> the task output that makes it
    "heatmap": "tumour_heatmap",
    "contour": "tumour_heatmap",
    "figures": "mitotic_figures",
    "axis": "tumour_major_axis_line",
    "nuclei": "nuclei_mask",
}
SWATCH_GAP = 6  # between a swatch and its label
ENTRY_GAP = 16  # between entries


def _none(text: str, present: bool, why: str = "") -> str:
    return text if present else f"{text} (none{': ' + why if why else ''})"


def _heatmap(qc: QcInput) -> list[Entry]:
    if qc.heatmap is None or not qc.heatmap.size:
        return [("heatmap", "tumour heatmap (none)"), ("contour", "tumour >= 0.5 outline (none)")]
    top = float(np.nanmax(qc.heatmap))
    heat = "tumour heatmap (all 0: nothing to draw)" if top <= 0 else f"tumour heatmap 0-1 (max {top:.2f})"
    return [("heatmap", heat), ("contour", _none("tumour >= 0.5 outline", top >= 0.5))]


def _figures(qc: QcInput, ring_um: float | None) -> Entry:
    n = len(qc.scores)
    count = str(n) if n else "none"
    floor = qc.score_floor()
    if qc.threshold is not None:
        scores = f"score {floor:.2f}-1 (threshold {floor:.2f})" if n else f"threshold {floor:.2f}"
    else:
        scores = f"score {floor:.2f}-1 (threshold not recorded)" if n else "threshold not recorded"
    ring = f", ring radius {ring_um:.3g} um" if ring_um is not None and n else ""
    return "figures", f"mitotic figures ({count}), {scores}{ring}"


def legend_entries(qc: QcInput, ring_um: float | None = None) -> list[Entry]:
    """(key, label) per legend entry, in drawing order; the task's empty layers say so, others are left out.
    ``ring_um``: the rings' inner radius in microns, where the slide's resolution is known."""
    found = qc.tissue_found()
    tissue = _none("tissue outline", bool(found), "no tissue found" if found is False else "")
    nuclei = qc.nuclei is not None and bool(np.any(qc.nuclei.mask))
    entries = [
        ("tissue", tissue),
        *_heatmap(qc),
        _figures(qc, ring_um),
        ("axis", _none("major axis", qc.axis_line_px is not None)),
        ("nuclei", _none("nuclei mask", nuclei)),
    ]
    if qc.outputs is not None:
        entries = [(key, text) for key, text in entries if key not in LAYER_OUTPUTS or LAYER_OUTPUTS[key] in qc.outputs]
    if qc.patches is not None:  # the label task's entries only where it ran
        n, m = len(qc.patches.probabilities), len(qc.patches.dropped)
        entries.append(("patches", f"patch probability 0-1 ({n} patches)" if n else "patches analysed (none)"))
        entries.append(("dropped", f"tissue patches dropped by the filters ({m if m else 'none'})"))
    return entries


def _over_white(colour: colours.Colour, alpha: float) -> colours.Colour:
    r, g, b = (int(round(255 * (1 - alpha) + v * alpha)) for v in colour)
    return (r, g, b)


def draw_swatch(draw: ImageDraw.ImageDraw, key: str, x: int, y: int, h: int, floor: float = 0.0) -> int:
    """Draw the key's swatch at (x, y), ``h`` tall (``floor``: the figures' lowest score drawn); its width."""
    if key == "tissue":
        draw.rectangle([x, y + 2, x + 24, y + h - 2], outline=colours.TISSUE_OUTLINE, width=2)
        return 26
    if key == "heatmap":
        for i in range(40):
            fill = _over_white(colours.HEATMAP, colours.HEATMAP_MAX_ALPHA * i / 39)
            draw.line([(x + i, y + 1), (x + i, y + h - 1)], fill=fill)
        return 40
    if key == "contour":
        draw.rectangle([x, y + 2, x + 24, y + h - 2], fill=_over_white(colours.HEATMAP, colours.HEATMAP_MAX_ALPHA / 2))
        draw.rectangle([x, y + 2, x + 24, y + h - 2], outline=colours.HEATMAP_CONTOUR, width=2)
        return 26
    if key == "figures":  # the scale: the lowest score drawn, halfway, 1
        for i, score in enumerate((floor, (floor + 1) / 2, 1.0)):
            draw_ring(draw, x + 8 + 20 * i, y + h / 2, (4.0, 4.0), colours.score_colour(score, floor))
        return 56
    if key == "axis":
        draw_axis(draw, np.array([[x + 3.0, y + h - 4.0], [x + 27.0, y + 4.0]]))
        return 30
    if key == "patches":  # the scale: 0, 0.25, 0.5, 0.75, 1
        for i in range(5):
            draw.rectangle([x + 10 * i, y + 2, x + 10 * i + 9, y + h - 2], fill=colours.patch_colour(i / 4))
        return 50
    if key == "dropped":
        fill = _over_white(colours.DROPPED_PATCH, colours.DROPPED_ALPHA)
        draw.rectangle([x, y + 2, x + 24, y + h - 2], fill=fill, outline=colours.DROPPED_PATCH)
        return 26
    draw.rectangle([x, y + 2, x + 24, y + h - 2], fill=_over_white(colours.NUCLEI, colours.NUCLEI_ALPHA))
    return 26


SWATCH_WIDTH = 56  # the widest swatch's: every entry reserves it


def place_entries(
    entries: list[Entry], width: int, pad: int, measure: ImageDraw.ImageDraw, font: Font
) -> tuple[list[tuple[str, str, int, int]], int]:
    """Each entry's (key, label, x, row) in rows that fit ``width``, and how many rows."""
    placed: list[tuple[str, str, int, int]] = []
    x, row = pad, 0
    for key, text in entries:
        item = SWATCH_WIDTH + SWATCH_GAP + int(measure.textlength(text, font=font)) + ENTRY_GAP
        if x > pad and x + item > width - pad:
            x, row = pad, row + 1
        placed.append((key, text, x, row))
        x += item
    return placed, row + 1

"""A slide's QC picture: its thumbnail with the job's results drawn on it, and a legend below.

Layers, bottom to top: the tumour heatmap (red-orange, more opaque where more probable),
the nuclei mask (blue) where the job produced one, the label task's patches where it ran
(each analysed patch a square filled and outlined in its probability's colour, viridis'
dark purple 0 -> teal -> yellow 1; the tissue candidates that the blood, nuclei and context
filters dropped a faint grey), the tissue mask's outline (black), the major axis line (magenta), and a
circle round each detected mitotic figure coloured by its score (sky blue 0 -> green ->
yellow 1). The slide fills the top-left of the picture at the thumbnail's scale; the
legend and the caption lines sit below it, the label task's call first where it ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from algorithm.qc import colours
from algorithm.qc.colours import Colour

FIGURE_RADIUS_PX = 7  # circle radius in picture pixels (a figure is a few um: smaller than a pixel at this scale)
PATCH_OUTLINE_MIN_PX = 6  # patches smaller than this on the picture are only filled (outlines would hide them)
LEGEND_MIN_WIDTH = 640
FONT_SIZE = 14
PAD = 8

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class MaskLayer:
    """A boolean mask over the slide and how it maps onto level-0 pixels (level-0 pixels per mask pixel)."""

    mask: NDArray[np.bool_]
    downsample: tuple[float, float]


@dataclass(frozen=True)
class PatchLayer:
    """The label task's patches: the analysed ones with their probabilities, the dropped ones, the slide's call.

    Boxes are level-0 ``(x, y, w, h)`` rows; ``boxes[i]`` is the patch of ``probabilities[i]``.
    """

    boxes: NDArray[np.float64]  # (n, 4) the patches the patch classifier ran on
    probabilities: NDArray[np.float64]  # (n,) their probabilities, 0..1
    dropped: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 4)))  # (m, 4) tissue ones dropped
    likelihood: float | None = None  # the label model's slide likelihood
    positive: bool | None = None  # and its call

    def title(self) -> str:
        """The caption's line for the slide's call: the likelihood, the call, the patches' probabilities."""
        call = "-" if self.positive is None else "positive" if self.positive else "negative"
        likelihood = "-" if self.likelihood is None else f"{self.likelihood:.3g}"
        p = np.asarray(self.probabilities, dtype=np.float64)
        spread = f", mean {p.mean():.3f} (min {p.min():.3f}, max {p.max():.3f})" if p.size else ""
        return f"slide label: {call}, likelihood {likelihood}; {p.size} patches analysed{spread}"


@dataclass(frozen=True)
class QcInput:
    """Everything one picture shows; coordinates are level-0 pixels, sizes ``(width, height)``."""

    name: str
    dimensions: tuple[int, int]  # the slide's level-0 size
    thumbnail: NDArray[np.uint8]  # the whole slide, RGB, at the picture's scale
    tissue: MaskLayer | None = None
    figures_px: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))  # (n, 2) detected figures
    scores: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # (n,) their scores, 0..1
    heatmap: NDArray[np.float32] | None = None  # tumour probability, (H, W)
    heatmap_downsample: float = 1.0  # level-0 pixels per heatmap pixel
    axis_line_px: NDArray[np.float64] | None = None  # (2, 2) endpoints of the major axis
    nuclei: MaskLayer | None = None
    patches: PatchLayer | None = None  # the label task's, when it ran
    caption: Sequence[str] = ()  # lines under the legend (the slide's figures)
    # the task's outputs (``Task.outputs``' names): the legend lists the layers they make, "(none)" where one is
    # empty, and leaves out the others (a nuclei job's picture does not list a heatmap); None: every layer
    outputs: frozenset[str] | None = None


def picture_scale(qc: QcInput) -> tuple[float, float]:
    """Picture pixels per level-0 pixel, (x, y): the thumbnail's size over the slide's."""
    th, tw = qc.thumbnail.shape[:2]
    return tw / qc.dimensions[0], th / qc.dimensions[1]


def _centres(n: int, scale: float, downsample: float) -> NDArray[np.float64]:
    """The layer coordinates of the centres of ``n`` picture pixels along one axis."""
    return np.asarray((np.arange(n) + 0.5) / scale / downsample - 0.5, dtype=np.float64)


def _mask_on_picture(layer: MaskLayer, size: tuple[int, int], scale: tuple[float, float]) -> NDArray[np.bool_]:
    """The mask sampled at the picture's pixel centres (nearest mask pixel)."""
    h, w = layer.mask.shape
    cols = np.clip(np.round(_centres(size[0], scale[0], layer.downsample[0])), 0, w - 1).astype(int)
    rows = np.clip(np.round(_centres(size[1], scale[1], layer.downsample[1])), 0, h - 1).astype(int)
    return layer.mask[np.ix_(rows, cols)]


def _heatmap_on_picture(qc: QcInput, size: tuple[int, int], scale: tuple[float, float]) -> NDArray[np.float64]:
    """The heatmap interpolated (bilinear) at the picture's pixel centres."""
    assert qc.heatmap is not None
    rows = _centres(size[1], scale[1], qc.heatmap_downsample)
    cols = _centres(size[0], scale[0], qc.heatmap_downsample)
    grid = np.meshgrid(rows, cols, indexing="ij")
    values = ndimage.map_coordinates(qc.heatmap.astype(np.float64), grid, order=1, mode="nearest")
    return np.clip(values, 0.0, 1.0)


def _blend(rgb: NDArray[np.float64], colour: Colour, alpha: NDArray[np.float64]) -> NDArray[np.float64]:
    a = alpha[..., None]
    return rgb * (1.0 - a) + np.asarray(colour, dtype=np.float64) * a


def _boxes_on_picture(boxes: NDArray[np.float64], scale: tuple[float, float]) -> NDArray[np.int64]:
    """Level-0 ``(x, y, w, h)`` boxes as picture pixel ranges ``(x0, y0, x1, y1)``, ends exclusive, at least
    one pixel: edges rounded, so boxes that share an edge share it on the picture too (no gap, no overlap)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0 = np.round(b[:, 0] * scale[0]), np.round(b[:, 1] * scale[1])
    x1 = np.maximum(np.round((b[:, 0] + b[:, 2]) * scale[0]), x0 + 1)
    y1 = np.maximum(np.round((b[:, 1] + b[:, 3]) * scale[1]), y0 + 1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def _fill_boxes(
    rgb: NDArray[np.float64], boxes: NDArray[np.int64], colours_: NDArray[np.uint8], alpha: float
) -> NDArray[np.float64]:
    """``rgb`` with each picture box blended with its colour at ``alpha`` (boxes clipped to the picture)."""
    h, w = rgb.shape[:2]
    for (x0, y0, x1, y1), colour in zip(boxes, colours_, strict=True):
        region = rgb[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
        region *= 1.0 - alpha
        region += alpha * colour.astype(np.float64)
    return rgb


def _outline_boxes(draw: ImageDraw.ImageDraw, boxes: NDArray[np.int64], colours_: NDArray[np.uint8]) -> None:
    """A 1-pixel outline round each picture box big enough to show one (:data:`PATCH_OUTLINE_MIN_PX`)."""
    for (x0, y0, x1, y1), colour in zip(boxes, colours_, strict=True):
        if min(x1 - x0, y1 - y0) >= PATCH_OUTLINE_MIN_PX:
            draw.rectangle([int(x0), int(y0), int(x1) - 1, int(y1) - 1], outline=tuple(int(c) for c in colour))


def _patch_boxes(
    layer: PatchLayer, scale: tuple[float, float]
) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8]]:
    """The layer's analysed and dropped patches on the picture, and their colours."""
    kept = _boxes_on_picture(layer.boxes, scale)
    dropped = _boxes_on_picture(layer.dropped, scale)
    grey = np.tile(np.asarray(colours.DROPPED_PATCH, dtype=np.uint8), (len(dropped), 1))
    return kept, colours.patch_colours(layer.probabilities), dropped, grey


def label_font(size: int = FONT_SIZE) -> Font:
    """Pillow's default font at ``size`` (its fixed bitmap font where Pillow lacks FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_slide(qc: QcInput) -> Image.Image:
    """The thumbnail with every layer drawn, at the thumbnail's size (no legend)."""
    th, tw = qc.thumbnail.shape[:2]
    size, scale = (tw, th), picture_scale(qc)
    rgb = qc.thumbnail[..., :3].astype(np.float64)
    if qc.heatmap is not None and qc.heatmap.size:
        rgb = _blend(rgb, colours.HEATMAP, colours.HEATMAP_MAX_ALPHA * _heatmap_on_picture(qc, size, scale))
    if qc.nuclei is not None:
        nuclei = _mask_on_picture(qc.nuclei, size, scale).astype(np.float64)
        rgb = _blend(rgb, colours.NUCLEI, colours.NUCLEI_ALPHA * nuclei)
    patches = None if qc.patches is None else _patch_boxes(qc.patches, scale)
    if patches is not None:
        kept, kept_colours, dropped, grey = patches
        rgb = _fill_boxes(rgb, dropped, grey, colours.DROPPED_ALPHA)
        rgb = _fill_boxes(rgb, kept, kept_colours, colours.PATCH_ALPHA)
    if qc.tissue is not None:
        tissue = _mask_on_picture(qc.tissue, size, scale)
        outline = tissue & ~ndimage.binary_erosion(tissue, iterations=2, border_value=1)
        rgb[outline] = colours.TISSUE_OUTLINE
    image = Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    if patches is not None:
        kept, kept_colours, dropped, grey = patches
        _outline_boxes(draw, dropped, grey)
        _outline_boxes(draw, kept, kept_colours)
    if qc.axis_line_px is not None:
        (x0, y0), (x1, y1) = np.asarray(qc.axis_line_px, dtype=np.float64) * np.asarray(scale)
        draw.line([(x0, y0), (x1, y1)], fill=colours.AXIS_LINE, width=3)
    r = FIGURE_RADIUS_PX
    for (x, y), colour in zip(
        np.asarray(qc.figures_px, dtype=np.float64).reshape(-1, 2) * np.asarray(scale),
        colours.score_colours(qc.scores),
        strict=True,
    ):
        draw.ellipse([x - r, y - r, x + r, y + r], outline=tuple(int(c) for c in colour), width=2)
    return image


LAYER_OUTPUTS = {  # a legend entry's layer -> the task output that makes it
    "heatmap": "tumour_heatmap",
    "figures": "mitotic_figures",
    "axis": "tumour_major_axis_line",
    "nuclei": "nuclei_mask",
}


def _legend_entries(qc: QcInput) -> list[tuple[str, str]]:
    """(key, label) per legend entry, in drawing order; the task's empty layers say so, others are left out."""

    def label(text: str, present: bool) -> str:
        return text if present else f"{text} (none)"

    entries = [
        ("tissue", label("tissue outline", qc.tissue is not None)),
        ("heatmap", label("tumour heatmap 0-1", qc.heatmap is not None)),
        ("figures", f"mitotic figures ({len(qc.scores)}), score 0-1"),
        ("axis", label("major axis", qc.axis_line_px is not None)),
        ("nuclei", label("nuclei mask", qc.nuclei is not None)),
    ]
    if qc.outputs is not None:
        entries = [(key, text) for key, text in entries if key not in LAYER_OUTPUTS or LAYER_OUTPUTS[key] in qc.outputs]
    if qc.patches is not None:  # the label task's entries only where it ran
        entries.append(("patches", f"patch probability 0-1 ({len(qc.patches.probabilities)} patches)"))
        entries.append(("dropped", f"tissue patches dropped by the filters ({len(qc.patches.dropped)})"))
    return entries


def _swatch(draw: ImageDraw.ImageDraw, key: str, x: int, y: int, h: int) -> int:
    """Draw the key's swatch at (x, y), ``h`` tall; its width."""
    if key == "tissue":
        draw.rectangle([x, y + 2, x + 24, y + h - 2], outline=colours.TISSUE_OUTLINE, width=2)
        return 26
    if key == "heatmap":
        for i in range(40):
            a = colours.HEATMAP_MAX_ALPHA * i / 39
            c = tuple(int(round(255 * (1 - a) + v * a)) for v in colours.HEATMAP)
            draw.line([(x + i, y + 1), (x + i, y + h - 1)], fill=c)
        return 40
    if key == "figures":
        for i, score in enumerate((0.0, 0.5, 1.0)):
            cx, cy, r = x + 8 + 18 * i, y + h // 2, 7
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colours.score_colour(score), width=2)
        return 52
    if key == "axis":
        draw.line([(x, y + h - 3), (x + 26, y + 3)], fill=colours.AXIS_LINE, width=3)
        return 26
    if key == "patches":  # the scale: 0, 0.25, 0.5, 0.75, 1
        for i in range(5):
            draw.rectangle([x + 10 * i, y + 2, x + 10 * i + 9, y + h - 2], fill=colours.patch_colour(i / 4))
        return 50
    if key == "dropped":
        a = colours.DROPPED_ALPHA
        wash = tuple(int(round(255 * (1 - a) + v * a)) for v in colours.DROPPED_PATCH)
        draw.rectangle([x, y + 2, x + 24, y + h - 2], fill=wash, outline=colours.DROPPED_PATCH)
        return 26
    draw.rectangle([x, y + 2, x + 24, y + h - 2], fill=colours.NUCLEI)
    return 26


def _wrapped(text: str, width: float, measure: ImageDraw.ImageDraw, font: Font) -> list[str]:
    """``text`` in lines no wider than ``width``, broken after "; " or ", " where it can, else at a space."""
    lines: list[str] = []
    while measure.textlength(text, font=font) > width:
        fits = [i + 1 for i, c in enumerate(text) if c == " " and measure.textlength(text[:i], font=font) <= width]
        breaks = [i for i in fits if text[i - 2] in ";,"] or fits
        if not breaks:
            break  # one word wider than the picture: left as it is
        lines.append(text[: breaks[-1]].rstrip())
        text = text[breaks[-1] :]
    return [*lines, text]


def render_qc(qc: QcInput) -> Image.Image:
    """The QC picture: the slide with its layers (top-left, at the thumbnail's scale), legend and caption below."""
    slide = draw_slide(qc)
    font = label_font()
    line_h = FONT_SIZE + 6
    width = max(slide.width, LEGEND_MIN_WIDTH)
    # lay the legend's entries out in rows that fit the width
    entries = _legend_entries(qc)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    placed: list[tuple[str, str, int, int]] = []
    x, row = PAD, 0
    for key, text in entries:
        item = 56 + int(measure.textlength(text, font=font)) + 2 * PAD
        if x > PAD and x + item > width - PAD:
            x, row = PAD, row + 1
        placed.append((key, text, x, row))
        x += item
    lines = [qc.name, *([] if qc.patches is None else [qc.patches.title()]), *qc.caption]
    title = [part for line in lines for part in _wrapped(line, width - 2 * PAD, measure, font)]
    height = slide.height + PAD + (row + 1) * line_h + len(title) * line_h + PAD
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    picture.paste(slide, (0, 0))
    draw = ImageDraw.Draw(picture)
    top = slide.height + PAD
    for key, text, x, r in placed:
        y = top + r * line_h
        used = _swatch(draw, key, x, y, line_h - 4)
        draw.text((x + used + 6, y), text, fill=(0, 0, 0), font=font)
    y = top + (row + 1) * line_h
    for i, text in enumerate(title):
        draw.text((PAD, y + i * line_h), text, fill=(0, 0, 0), font=font)
    return picture
